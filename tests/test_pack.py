"""Training on another machine: patch packs, time budgets, slim checkpoints, publishing here."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from test_training import _one_thread, tiny_config, tiny_patchset, write_folder  # noqa: F401 (autouse)

from lbcodec import nets, zoo
from lbcodec.cli import cli as main
from lbcodec.training import trainer as ttrainer
from lbcodec.training.data import PatchSet
from lbcodec.training.pack import pack_patches, read_pack, unpack_patches, write_pack
from lbcodec.training.trainer import rescore, settle_steps, train, validate, write_slim


@pytest.fixture(scope="module")
def patchset() -> PatchSet:
    return tiny_patchset(n_images=6)  # 54 patches of 16 px, two validation images


# --------------------------------------------------------------------------- pack.py


def test_a_pack_holds_the_exact_pairs_qualities_and_validation_images(patchset: PatchSet) -> None:
    ps = replace(patchset, qualities=np.arange(len(patchset), dtype=np.float32))  # name every patch
    data = pack_patches(ps, max_bytes=10**7, chunk=20)
    back = unpack_patches(data)
    assert len(back) == len(ps) and back.inputs.dtype == back.targets.dtype == np.uint8
    # lossless, still paired, each patch with its own quality, none twice
    src = {q: (a.tobytes(), b.tobytes()) for a, b, q in zip(ps.inputs, ps.targets, ps.qualities)}
    assert sorted(back.qualities.tolist()) == sorted(src)
    for a, b, q in zip(back.inputs, back.targets, back.qualities):
        assert src[float(q)] == (a.tobytes(), b.tobytes())
    assert len(back.val_inputs) == len(ps.val_inputs)
    for a, b in zip(back.val_inputs + back.val_targets, ps.val_inputs + ps.val_targets):
        assert np.array_equal(a, b)
    assert back.meta["pack"] == {"patches": len(ps), "of": len(ps), "val_images": 2, "of_val": 2}
    assert back.meta["roots"] == ps.meta["roots"]  # the source's meta travels


def test_a_pack_stops_at_its_byte_budget_with_a_random_subset(patchset: PatchSet) -> None:
    ps = replace(patchset, qualities=np.arange(len(patchset), dtype=np.float32))  # name every patch
    whole = pack_patches(ps, max_bytes=10**7, chunk=10)
    sizes = {}
    for budget in range(2 * len(whole), len(whole) // 3, -len(whole) // 10):
        try:
            data = pack_patches(ps, max_bytes=budget, chunk=10)
        except ValueError:  # too small for one mosaic
            continue
        assert len(data) <= budget
        sizes[len(unpack_patches(data))] = budget, data
    assert len(ps) in sizes and min(sizes) < len(ps)  # the budget cut some mosaics
    budget, part = sizes[min(sizes)]
    back = unpack_patches(part)
    assert len(back) % 10 == 0
    kept = back.qualities.astype(int)
    assert np.array_equal(back.inputs, ps.inputs[kept]) and np.array_equal(back.targets, ps.targets[kept])
    assert len(set(kept.tolist())) == len(kept) and kept.tolist() != list(range(len(back)))  # shuffled
    assert pack_patches(ps, max_bytes=budget, chunk=10) == part  # seeded: the same bytes
    assert pack_patches(ps, max_bytes=10**7, chunk=10, seed=1) != whole  # another order


def test_a_pack_with_a_long_meta_stays_within_its_budget(patchset: PatchSet) -> None:
    ps = replace(patchset, meta=dict(patchset.meta, roots=["/a/very/long/folder/name" * 20] * 40))
    whole = pack_patches(patchset, max_bytes=10**7, chunk=10)
    for budget in (len(whole), len(whole) * 3 // 4):
        data = pack_patches(ps, max_bytes=budget, chunk=10)
        assert len(data) <= budget and len(unpack_patches(data)) >= 10


def test_pack_errors(patchset: PatchSet, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="raise the budget"):
        pack_patches(patchset, max_bytes=5000)
    with pytest.raises(ValueError, match="no training patches"):
        pack_patches(replace(patchset, inputs=patchset.inputs[:0], targets=patchset.targets[:0]), 10**7)
    buf = io.BytesIO()
    np.savez(buf, meta=np.frombuffer(b'{"format": "other"}', np.uint8))
    with pytest.raises(ValueError, match="not an lbcodec patch pack"):
        unpack_patches(buf.getvalue())
    path = tmp_path / "p.pack"
    size = write_pack(patchset, str(path), 10**7, val_images=1)
    assert path.stat().st_size == size and not list(tmp_path.glob("*.tmp"))
    assert len(read_pack(str(path)).val_inputs) == 1


# --------------------------------------------------------------------------- trainer.py


class FakeClock:
    """``time`` for the trainer: every ``perf_counter()`` call advances 0.01 s."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        self.now += 0.01
        return self.now


def test_settle_steps() -> None:
    # 250 s left at 0.1 s a step: 2,500 more, rounded down to a validation
    assert settle_steps(250, 10**6, 1000, 0.1, 250.0) == 2000
    assert settle_steps(250, 10**6, 100, 0.1, 250.0) == 2700
    assert settle_steps(250, 1500, 100, 0.1, 250.0) == 1500  # never above the asked count
    assert settle_steps(250, 10**6, 1000, 0.1, 1.0) == 1000  # never below the next validation
    assert settle_steps(250, 600, 1000, 0.1, 1.0) == 600  # ... unless that is above the asked count
    assert settle_steps(250, 10**6, 1000, 0.1, -5.0) == 1000  # over budget already


def test_a_time_budget_settles_the_steps_and_the_checkpoint_keeps_them(tmp_path: Path, patchset: PatchSet,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ttrainer, "WARMUP_STEPS", 2)
    monkeypatch.setattr(ttrainer, "CALIBRATION_STEPS", 3)
    monkeypatch.setattr(ttrainer, "time", FakeClock())
    cfg = tiny_config(tmp_path, steps=10**6, val_every=5)
    result, _ = train(cfg, patchset, str(tmp_path / "run"), device="cpu", time_budget=1.0)
    assert 5 < result.steps < 100 and result.steps % 5 == 0  # about 0.01 s a step: 1 s holds under 100
    assert result.history[-1]["step"] == result.steps
    ck = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert ck["step"] == ck["steps"] == result.steps and ck["settled"] and not ck["stopped_early"]
    assert ck["trained_on"] == "cpu"
    seen = []  # resumed without a budget: the settled count stands, nothing more runs
    again, _ = train(cfg, patchset, str(tmp_path / "run"), device="cpu", on_progress=seen.append)
    assert seen == [] and again.steps == result.steps


def test_without_calibration_the_budget_stops_the_run(tmp_path: Path, patchset: PatchSet,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ttrainer, "WARMUP_STEPS", 10**9)  # never calibrates: only the hard stop is left
    monkeypatch.setattr(ttrainer, "time", FakeClock())
    cfg = tiny_config(tmp_path, steps=10**6, val_every=5)
    result, _ = train(cfg, patchset, str(tmp_path / "run"), device="cpu", time_budget=1.0)
    ck = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert ck["stopped_early"] and ck["steps"] == result.steps == result.history[-1]["step"] < 10**6


def test_a_steps_override_is_not_kept_by_the_checkpoint(tmp_path: Path, patchset: PatchSet) -> None:
    cfg = tiny_config(tmp_path)  # 6 steps
    short, _ = train(cfg, patchset, str(tmp_path / "run"), steps=2, device="cpu")
    assert short.steps == 2
    seen = []
    full, _ = train(cfg, patchset, str(tmp_path / "run"), device="cpu", on_progress=seen.append)
    assert full.steps == 6 and [p.step for p in seen] == [3, 4, 5, 6]


def test_a_slim_checkpoint_publishes_elsewhere_with_the_same_weights(tmp_path: Path, patchset: PatchSet) -> None:
    cfg = tiny_config(tmp_path)
    packed = unpack_patches(pack_patches(patchset, 10**7, val_images=1))
    result, best = train(cfg, packed, str(tmp_path / "gpu"), device="cpu")
    assert result.pack == packed.meta["pack"]
    write_slim(str(tmp_path / "gpu"), str(tmp_path / "slim.pt"))
    slim = torch.load(tmp_path / "slim.pt", weights_only=True)
    assert "opt" not in slim and slim["pack"] == packed.meta["pack"]
    assert (tmp_path / "slim.pt").stat().st_size < (tmp_path / "gpu" / "last.pt").stat().st_size
    (tmp_path / "here").mkdir()
    (tmp_path / "slim.pt").rename(tmp_path / "here" / "last.pt")
    seen = []
    here, here_best = train(cfg, patchset, str(tmp_path / "here"), device="cpu", on_progress=seen.append)
    assert seen == [] and (here.best_gain, here.best_step, here.steps) == (result.best_gain, result.best_step, 6)
    assert here.pack == packed.meta["pack"] and here.trained_on == "cpu"
    for k, v in best.items():
        assert torch.equal(here_best[k], v)
    # scored again on the whole validation set (two images, not the pack's one)
    scored = rescore(cfg, here, here_best, patchset, "cpu")
    net = nets.build(cfg.arch, **cfg.arch_config)
    net.load_state_dict(best)
    assert scored.best_gain == pytest.approx(validate(net, patchset, torch.device("cpu")), abs=1e-9)
    assert scored.pack["val_gain"] == round(result.best_gain, 4) and scored.best_step == result.best_step
    # a slim checkpoint can be slimmed again (export after a publishing run), not trained further
    write_slim(str(tmp_path / "here"), str(tmp_path / "again.pt"))
    with pytest.raises(ValueError, match="slim checkpoint"):
        train(cfg, patchset, str(tmp_path / "here"), steps=8, device="cpu")


# --------------------------------------------------------------------------- lbcodec train


def _tiny_config_file(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    write_folder(root, [96] * 5)
    raw = {
        "name": "srcnn-packed", "container_id": 44, "arch": "srcnn",
        "arch_config": {"in_channels": 3, "kernels": [5, 1, 3], "widths": [8, 4], "residual": True},
        "slot": {"role": "post", "method": "none", "codec": "jpeg", "scale": 1, "bpp": [0.5, 2.0]},
        "data": {"roots": [str(root)], "holdout_every": 3, "bpps": [1.0, 2.0], "bpps_per_image": 2,
                 "max_side": 96, "patch": 32, "patches_per_pair": 3, "val_bpps": [1.0], "val_crop": 64},
        "train": {"steps": 4, "batch": 4, "lr": 1e-3, "lr_final": 1e-4, "val_every": 2, "seed": 0, "init": "he"},
    }  # fmt: skip
    path = tmp_path / "srcnn-packed.json"
    path.write_text(json.dumps(raw))
    return path


def test_cli_pack_train_elsewhere_then_publish_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wdir = tmp_path / "weights"
    wdir.mkdir()
    monkeypatch.setenv(zoo.ENV_VAR, str(wdir))
    # four steps of a tiny net need not beat the plain decode; what is checked is what gets written
    monkeypatch.setattr(ttrainer, "why_not_publish", lambda *a, **k: None)
    cfg = _tiny_config_file(tmp_path)
    real_name = ttrainer._device_name
    cache, pack = tmp_path / "cache", tmp_path / "packs" / "p.pack"
    pack.parent.mkdir()
    run = CliRunner().invoke
    r = run(main, ["train", str(cfg), "--cache", str(cache), "--pack-to", str(pack), "--pack-mb", "5"])
    assert r.exit_code == 0, r.output
    assert pack.exists() and not (tmp_path / "runs").exists() and zoo.list_models() == []  # packed only
    # "elsewhere": no cache, no codec needed, a time budget, a slim checkpoint to bring back
    monkeypatch.setattr(ttrainer, "_device_name", lambda dev: "the lent machine")
    r = run(main, ["train", str(cfg), "--patches", str(pack), "--no-publish", "--runs", str(tmp_path / "gpu"),
                   "--time-budget", "30", "--export", str(tmp_path / "back.pt"), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    monkeypatch.setattr(ttrainer, "_device_name", real_name)
    here = tmp_path / "runs" / "srcnn-packed"
    here.mkdir(parents=True)
    (tmp_path / "back.pt").rename(here / "last.pt")
    r = run(main, ["train", str(cfg), "--cache", str(cache), "--runs", str(tmp_path / "runs"), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert "on a pack of" in r.output and "step 2/4" not in r.output  # published, not trained again
    (entry,) = zoo.list_models()
    prov = entry["provenance"]
    assert prov["data"]["pack"]["patches"] > 0 and "val_gain" in prov["data"]["pack"]
    assert prov["device"] == "the lent machine" and prov["steps"] == 4
    assert prov["data"]["patches"] == prov["data"]["pack"]["patches"]  # what the steps saw
    assert "the pack's" in prov["validation"]["best_step_chosen_on"]
    assert prov["validation"]["scored_on"].startswith("all ")


def test_cli_pack_option_errors(tmp_path: Path) -> None:
    joint = tmp_path / "joint.json"
    joint.write_text(json.dumps({"kind": "joint"}))
    run = CliRunner().invoke
    r = run(main, ["train", str(joint), "--pack-to", str(tmp_path / "p.pack")])
    assert r.exit_code == 2 and "post-filter configs only" in r.output
    cfg = _tiny_config_file(tmp_path)
    r = run(main, ["train", str(cfg), "--pack-to", str(tmp_path / "p.pack"), "--time-budget", "9"])
    assert r.exit_code == 2 and "only packs" in r.output
    r = run(main, ["train", str(cfg), "--pack-to", str(tmp_path / "missing" / "p.pack")])
    assert r.exit_code == 2 and "does not exist" in r.output
    r = run(main, ["train", str(cfg), "--export", str(tmp_path / "missing" / "x.pt")])
    assert r.exit_code == 2 and "does not exist" in r.output
    assert not list(tmp_path.rglob("*.pack"))
