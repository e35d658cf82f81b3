"""Training code (lbcodec.training): configs, patch data, the resumable trainer, the
differentiable operations, joint ComCNN/RecCNN training and Modify-Net.

Everything runs on tiny synthetic images written into tmp folders, with tiny nets and a
handful of steps; weights are only ever published into a tmp weights directory.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
import os
from dataclasses import replace
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import noisy_image, photo_like
from PIL import Image

from lbcodec import nets, zoo
from lbcodec.codecs import CODECS, get_codec
from lbcodec.metrics import psnr
from lbcodec.resample import resize_bicubic
from lbcodec.training import data as tdata
from lbcodec.training.config import Config, DataConfig, TrainConfig, load_config
from lbcodec.training.data import (
    PatchSet,
    build_patches,
    get_patches,
    list_images,
    load_rgb,
    split,
)
from lbcodec.training.diffjpeg import (
    calibrate_rate,
    chroma_table,
    diff_jpeg,
    proxy_bpp,
    rate_proxy,
)
from lbcodec.training.diffops import resize_matrix, resize_torch
from lbcodec.training.joint import (
    JointConfig,
    NetSpec,
    _lr,
    load_joint_config,
    train_joint,
)
from lbcodec.training.modify import ModifyConfig, load_modify_config, train_modify
from lbcodec.training.trainer import (
    lr_at,
    publish_result,
    train,
    validate,
    zero_init_last,
)

REPO = Path(__file__).resolve().parents[1]
CONFIG_FILES = sorted((REPO / "configs").rglob("*.json"))  # shipped models and configs/experiments
SHIPPED_WEIGHTS = REPO / "lbcodec" / "weights"


# --------------------------------------------------------------------------- helpers


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny nets: one thread is fastest, and leaves the second core alone."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def wdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty weights registry; the package's own lbcodec/weights is never written."""
    d = tmp_path / "weights"
    d.mkdir()
    monkeypatch.setenv(zoo.ENV_VAR, str(d))
    return d


def tagged_image(side: int, tag: int, seed: int) -> np.ndarray:
    """Photo-like red/green texture; the blue plane is the constant ``tag`` (names the image)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:side, 0:side].astype(np.float64)
    ph = rng.uniform(0, 2 * np.pi, 2)
    r = 110 + 60 * np.sin(x / 5.0 + ph[0]) * np.cos(y / 7.0) + 30 * (x > side / 2)
    g = 120 + 50 * np.cos((x + 2 * y) / 9.0 + ph[1]) + 40 * ((x - side / 3) ** 2 + (y - side / 2) ** 2 < (side / 5) ** 2)
    img = np.stack([r, g, np.full_like(r, float(tag))], -1)
    img[..., :2] += rng.normal(0, 4.0, (side, side, 2))
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def write_folder(folder: Path, sides: list[int], seed: int = 0) -> list[int]:
    """Write one PNG per side (img00.png, img01.png, ...); return the blue tag of each."""
    folder.mkdir(parents=True, exist_ok=True)
    tags = [20 + 9 * i for i in range(len(sides))]
    for i, (side, tag) in enumerate(zip(sides, tags)):
        Image.fromarray(tagged_image(side, tag, seed + i)).save(folder / f"img{i:02d}.png")
    return tags


def to_t(a: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, C) or (N, H, W, C) -> float N x C x H x W in [0, 1]."""
    a = a[None] if a.ndim == 3 else a
    return torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2))).float() / 255.0


def load_any(path: Path):
    """Dispatch on "kind" exactly as ``lbcodec train`` (lbcodec/commands/train.py) does."""
    raw = json.loads(path.read_text())
    if raw.get("kind") == "joint":
        return "joint", load_joint_config(raw, str(path))
    if raw.get("kind") == "modifynet":
        return "modifynet", load_modify_config(raw, str(path))
    return "post", load_config(str(path))


# --------------------------------------------------------------------------- config.py


def test_there_are_configs_of_every_kind() -> None:
    kinds = {load_any(p)[0] for p in CONFIG_FILES}
    assert kinds == {"post", "joint", "modifynet"}


@pytest.mark.parametrize("path", CONFIG_FILES, ids=lambda p: p.stem)
def test_every_config_loads(path: Path) -> None:
    kind, cfg = load_any(path)
    assert cfg.path == str(path.resolve())
    # relative data roots resolve against the config folder's parent (the repo root)
    for root in cfg.data.roots:
        assert os.path.isabs(root) and os.path.normpath(root) == root
        assert root.startswith(str(REPO.parent / "shared" / "data"))
    assert cfg.data.holdout_every >= 2 and cfg.data.bpps and all(0 < b < 8 for b in cfg.data.bpps)
    if kind == "post":
        assert path.stem == cfg.name or path.parent.name == "experiments"  # variants share names
        assert cfg.slot["role"] == "post" and cfg.codec in CODECS
        assert cfg.method in ("none", "downsample", "comcnn") and cfg.scale in (1, 2)
        assert (cfg.method == "none") == (cfg.scale == 1)  # the resizing methods run at x1/2
        for name in cfg.compare_with:  # incumbents share the slot (a retired one: its config's slot)
            assert _slot_of(name)["method"] == cfg.method, name
        assert cfg.train.steps > 0 and cfg.train.val_every > 0 and cfg.train.lr >= cfg.train.lr_final > 0
        lo, hi = cfg.slot["bpp"]
        assert 0 < lo < hi
        nets.build(cfg.arch, **cfg.arch_config)
        specs = [(cfg.name, cfg.container_id)]
    elif kind == "joint":
        assert cfg.codec in CODECS and cfg.scale == 2
        assert (cfg.pre.arch, cfg.post.arch) == ("comcnn", "reccnn")
        assert cfg.outer >= 1 and cfg.rec_steps > 0 and cfg.com_steps > 0 and cfg.rate_weight >= 0
        com = nets.build(cfg.pre.arch, **cfg.pre.arch_config)
        nets.build(cfg.post.arch, **cfg.post.arch_config)
        assert com.scale_out == 1 / cfg.scale
        specs = [(cfg.pre.name, cfg.pre.container_id), (cfg.post.name, cfg.post.container_id)]
    else:
        assert path.stem == cfg.name or path.parent.name == "experiments"  # variants share names
        assert cfg.emulator in ("diffjpeg", "jpegnet") and cfg.crop % 16 == 0
        nets.build("modifynet", **cfg.arch_config)
        specs = [(cfg.name, cfg.container_id)]
    for name, cid in specs:
        assert zoo._NAME_RE.match(name) and 1 <= cid <= zoo.MAX_CONTAINER_ID


def _slot_of(name: str) -> dict:
    """The slot of model ``name``: from the shipped manifest, else from the post config that trains it."""
    try:
        return zoo.get_entry(name, SHIPPED_WEIGHTS)["slot"]
    except zoo.ZooError:
        for path in CONFIG_FILES:
            kind, cfg = load_any(path)
            if kind == "post" and cfg.name == name:
                return cfg.slot
    raise AssertionError(f"{name} is neither shipped nor trained by a config")


def test_config_names_and_container_ids_are_consistent() -> None:
    """Several configs may train the same model, but a name has one id and an id one name,
    and no config would collide with a model already in the shipped manifest."""
    name_to_id: dict[str, int] = {}
    id_to_name: dict[int, str] = {}
    for path in CONFIG_FILES:
        kind, cfg = load_any(path)
        specs = [(cfg.pre.name, cfg.pre.container_id), (cfg.post.name, cfg.post.container_id)] if kind == "joint" \
            else [(cfg.name, cfg.container_id)]
        for name, cid in specs:
            assert name_to_id.setdefault(name, cid) == cid, f"{path.name}: {name} has two container ids"
            assert id_to_name.setdefault(cid, name) == name, f"{path.name}: id {cid} names two models"
    for entry in zoo.list_models(SHIPPED_WEIGHTS):
        if entry["container_id"] in id_to_name:
            assert id_to_name[entry["container_id"]] == entry["name"]


def _subset(small: dict, big: dict) -> bool:
    def norm(v):
        return list(v) if isinstance(v, (list, tuple)) else v

    return all(k in big and norm(big[k]) == norm(v) for k, v in small.items())


def test_every_shipped_model_has_its_config() -> None:
    entries = zoo.list_models(SHIPPED_WEIGHTS)
    for entry in entries:
        rel = entry["provenance"].get("config")
        assert rel, f"{entry['name']}: no config in its provenance"
        path = REPO / rel
        assert path.is_file(), f"{entry['name']}: {rel} does not exist"
        kind, cfg = load_any(path)
        if kind == "joint":
            spec = {cfg.pre.name: cfg.pre, cfg.post.name: cfg.post}.get(entry["name"])
            assert spec is not None, f"{rel} names neither pre nor post {entry['name']}"
            name, cid, arch, arch_config = spec.name, spec.container_id, spec.arch, spec.arch_config
            role = "pre" if spec is cfg.pre else "post"
            slot = {"role": role, "method": "comcnn", "codec": cfg.codec, "scale": cfg.scale, "bpp": cfg.bpp_range}
        elif kind == "modifynet":
            name, cid, arch, arch_config = cfg.name, cfg.container_id, "modifynet", cfg.arch_config
            slot = {"role": "pre", "method": "modifynet", "codec": "jpeg", "scale": 1,
                    "bpp": cfg.bpp_range or [0.15, 0.5]}
        else:
            name, cid, arch, arch_config, slot = cfg.name, cfg.container_id, cfg.arch, cfg.arch_config, cfg.slot
        assert (name, cid, arch) == (entry["name"], entry["container_id"], entry["arch"]), rel
        assert entry["slot"] == slot, rel
        assert _subset(arch_config, entry["config"]), f"{rel}: {arch_config} vs {entry['config']}"


def _write_json(path: Path, raw: dict) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(raw))
    return str(path)


def test_load_config_roots_round_trip_and_bad_keys(tmp_path: Path) -> None:
    raw = json.loads((REPO / "configs" / "srcnn-jpeg-ds2.json").read_text())
    raw["data"]["roots"] = ["rel/folder", "/abs/folder"]
    cfg = load_config(_write_json(tmp_path / "configs" / "x.json", raw))
    assert cfg.data.roots == [str(tmp_path / "rel" / "folder"), "/abs/folder"]
    assert isinstance(cfg.data, DataConfig) and isinstance(cfg.train, TrainConfig)
    assert cfg.train.steps == raw["train"]["steps"] and cfg.data.patch == raw["data"]["patch"]
    d = cfg.to_dict()
    assert "path" not in d and d["name"] == raw["name"] and d["slot"] == raw["slot"]

    bad = json.loads(json.dumps(raw))
    bad["train"]["stepz"] = 10
    with pytest.raises(TypeError, match="stepz"):
        load_config(_write_json(tmp_path / "configs" / "bad1.json", bad))
    bad = json.loads(json.dumps(raw))
    del bad["slot"]
    with pytest.raises(KeyError, match="slot"):
        load_config(_write_json(tmp_path / "configs" / "bad2.json", bad))
    bad = json.loads(json.dumps(raw))
    bad["compare_with"] = "srcnn-jpeg-ds2"  # a string, not a list of names
    with pytest.raises(ValueError, match="compare_with"):
        load_config(_write_json(tmp_path / "configs" / "bad4.json", bad))
    raw["compare_with"] = ["a", "b"]
    assert load_config(_write_json(tmp_path / "configs" / "ok.json", raw)).compare_with == ["a", "b"]
    joint = json.loads((REPO / "configs" / "comcnn-reccnn-jpeg.json").read_text())
    joint["train"]["outerr"] = 1
    with pytest.raises(TypeError, match="outerr"):
        load_joint_config(joint, _write_json(tmp_path / "configs" / "bad3.json", joint))


# --------------------------------------------------------------------------- trainer.py


def test_lr_at_is_a_monotone_cosine_from_lr_to_lr_final() -> None:
    steps, lr, lr_final = 50, 1e-3, 1e-5
    values = [lr_at(s, steps, lr, lr_final) for s in range(steps + 1)]
    assert values[0] == pytest.approx(lr) and values[-1] == pytest.approx(lr_final)
    assert all(a > b for a, b in pairwise(values))
    assert values[steps // 2] == pytest.approx((lr + lr_final) / 2)
    assert lr_at(steps + 10, steps, lr, lr_final) == pytest.approx(lr_final)  # clamped past the end
    joint = [_lr(s, steps, lr, lr_final) for s in range(steps + 1)]  # joint.py: exponential decay
    assert joint[0] == pytest.approx(lr) and joint[-1] == pytest.approx(lr_final)
    assert all(a > b for a, b in pairwise(joint))


def tiny_patchset(n_images: int = 4, patch: int = 16, quality: int = 15) -> PatchSet:
    """Patches of (real JPEG at ``quality``, original) and two 32 px validation images."""
    jpeg = get_codec("jpeg")
    ins, tgs = [], []
    for i in range(n_images):
        img = photo_like(48, 48, seed=10 + i)
        dec = jpeg.decode(jpeg.encode(img, quality), channels=3)
        for y in range(0, 48, patch):
            for x in range(0, 48, patch):
                ins.append(dec[y:y + patch, x:x + patch])
                tgs.append(img[y:y + patch, x:x + patch])
    vals = [photo_like(32, 32, seed=50 + j) for j in range(2)]
    vin = [jpeg.decode(jpeg.encode(v, quality), channels=3) for v in vals]
    meta = {"train_images": n_images, "val_images": 2, "roots": ["synthetic"], "pairs": n_images}
    return PatchSet(np.stack(ins), np.stack(tgs), np.full(len(ins), quality, np.float32), vin, vals, meta)


def tiny_config(tmp_path: Path, **train_kw) -> Config:
    tc = dict(steps=6, batch=4, lr=2e-3, lr_final=1e-4, val_every=2, seed=0)
    tc.update(train_kw)
    return Config(
        name="srcnn-tiny", container_id=42, arch="srcnn",
        arch_config={"in_channels": 3, "kernels": [5, 1, 3], "widths": [8, 4], "residual": True},
        slot={"role": "post", "method": "none", "codec": "jpeg", "scale": 1, "bpp": [0.5, 2.0]},
        data=DataConfig(roots=[str(tmp_path / "nowhere")], patch=16, val_crop=32, val_bpps=[1.0]),
        train=TrainConfig(**tc),
    )  # fmt: skip


@pytest.fixture(scope="module")
def patchset() -> PatchSet:
    return tiny_patchset()


def _ckpt(run_dir: Path) -> dict:
    return torch.load(run_dir / "last.pt", weights_only=True)


def _half(state: dict) -> dict:
    return {k: (v.half() if v.dtype == torch.float32 else v) for k, v in state.items()}


def _assert_same_tensors(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k, v in a.items():
        assert torch.equal(v, b[k]), k


def test_train_reports_validation_gain(tmp_path: Path, patchset: PatchSet) -> None:
    cfg = tiny_config(tmp_path)
    seen = []
    result, best = train(cfg, patchset, str(tmp_path / "run"), device="cpu", on_progress=seen.append)
    assert [p.step for p in seen] == list(range(1, 7))
    assert [p.step for p in seen if p.val_gain is not None] == [2, 4, 6]
    assert all(p.steps == 6 and math.isfinite(p.loss) for p in seen)
    assert [h["step"] for h in result.history] == [2, 4, 6]
    gains = [h["val_gain"] for h in result.history]
    assert all(math.isfinite(g) for g in gains)
    assert result.best_gain == max(gains) and result.best_step == 2 * (gains.index(max(gains)) + 1)
    assert result.steps == 6 and result.seconds > 0
    # the returned state is the best one, and it scores what the history says
    net = nets.build(cfg.arch, **cfg.arch_config)
    net.load_state_dict(best)
    assert validate(net, patchset, torch.device("cpu")) == pytest.approx(result.best_gain, abs=1e-9)
    assert net.training  # validate puts the net back in training mode


def test_validate_of_an_identity_net_is_zero(patchset: PatchSet) -> None:
    net = nets.build("srcnn", widths=[8, 4])
    zero_init_last(net)
    assert validate(net, patchset, torch.device("cpu")) == 0.0
    net = nets.build("srcnn", widths=[8, 4])  # random last layer: not the identity
    assert validate(net, patchset, torch.device("cpu")) != 0.0


def test_train_resumed_from_a_checkpoint_equals_an_unbroken_run(tmp_path: Path, patchset: PatchSet) -> None:
    cfg = tiny_config(tmp_path)
    full_dir, broken_dir = tmp_path / "full", tmp_path / "broken"
    full, full_best = train(cfg, patchset, str(full_dir), device="cpu")

    class Stop(Exception):
        pass

    def stop_at_5(p):
        if p.step == 5:  # after step 5; the last checkpoint is that of step 4
            raise Stop

    with pytest.raises(Stop):
        train(cfg, patchset, str(broken_dir), device="cpu", on_progress=stop_at_5)
    assert _ckpt(broken_dir)["step"] == 4
    seen = []
    resumed, resumed_best = train(cfg, patchset, str(broken_dir), device="cpu", on_progress=seen.append)
    assert [p.step for p in seen] == [5, 6]  # resumed, not restarted

    a, b = _ckpt(full_dir), _ckpt(broken_dir)
    _assert_same_tensors(a["model"], b["model"])
    _assert_same_tensors(a["best_state"], b["best_state"])
    _assert_same_tensors(full_best, resumed_best)
    for k in ("exp_avg", "exp_avg_sq"):
        for i in a["opt"]["state"]:
            assert torch.equal(a["opt"]["state"][i][k], b["opt"]["state"][i][k])
    assert (resumed.best_gain, resumed.best_step) == (full.best_gain, full.best_step)
    assert [h["step"] for h in resumed.history] == [h["step"] for h in full.history]
    assert [h["val_gain"] for h in resumed.history] == pytest.approx([h["val_gain"] for h in full.history], rel=1e-6)

    # a finished run started again does nothing more and reports the same result
    again, again_best = train(cfg, patchset, str(full_dir), device="cpu", on_progress=seen.append)
    assert len(seen) == 2 and (again.best_gain, again.best_step) == (full.best_gain, full.best_step)
    _assert_same_tensors(again_best, full_best)


def test_train_starts_from_a_published_model(tmp_path: Path, patchset: PatchSet, wdir: Path) -> None:
    cfg = tiny_config(tmp_path, steps=1, val_every=1, lr=1e-12, lr_final=1e-12)
    torch.manual_seed(7)
    start = nets.build(cfg.arch, **cfg.arch_config)
    zoo.publish("srcnn-start", cfg.arch, start.state_dict(), cfg.slot, {"data": "test"}, 9, config=cfg.arch_config)
    _, best = train(replace(cfg, init_from="srcnn-start"), patchset, str(tmp_path / "run"), device="cpu")
    for k, v in start.state_dict().items():  # a 1e-12 learning rate: still (almost) the start
        torch.testing.assert_close(best[k], v, atol=1e-8, rtol=0)
    _, fresh = train(cfg, patchset, str(tmp_path / "run2"), device="cpu")
    assert not all(torch.allclose(fresh[k], v, atol=1e-6) for k, v in start.state_dict().items())


def test_train_grows_a_published_smaller_net(tmp_path: Path, patchset: PatchSet, wdir: Path) -> None:
    cfg = tiny_config(tmp_path, steps=1, val_every=1, lr=1e-12, lr_final=1e-12)
    small_cfg = {"in_channels": 3, "width": 4, "n_blocks": 1, "reduction": 2}
    torch.manual_seed(7)
    small = nets.build("attention", **small_cfg)
    for p in small.parameters():
        p.data.normal_(0, 0.2)
    zoo.publish("attention-start", "attention", small.state_dict(), cfg.slot, {"data": "test"}, 9, config=small_cfg)
    grown = replace(cfg, arch="attention", arch_config={**small_cfg, "width": 8, "n_blocks": 3},
                    init_from="attention-start", grow=True)
    # a config that leaves reduction out builds the default (8), not the small net's 2: a clear error
    no_reduction = {k: v for k, v in grown.arch_config.items() if k != "reduction"}
    with pytest.raises(ValueError, match="growing keeps reduction 2, not 8"):
        train(replace(grown, arch_config=no_reduction), patchset, str(tmp_path / "run0"), device="cpu")
    _, best = train(grown, patchset, str(tmp_path / "run"), device="cpu")
    big = nets.from_state_dict("attention", best).eval()
    x = torch.rand(1, 3, 12, 12)
    with torch.no_grad():  # a 1e-12 learning rate: still (almost) the small net's function
        torch.testing.assert_close(big(x), small.eval()(x), atol=1e-4, rtol=0)
    with pytest.raises(RuntimeError, match="size mismatch"):  # without grow the shapes must match
        train(replace(grown, grow=False), patchset, str(tmp_path / "run2"), device="cpu")


def test_config_grow_is_a_bool_and_needs_init_from(tmp_path: Path) -> None:
    raw = {**tiny_config(tmp_path).to_dict(), "init_from": "x", "grow": True}
    assert load_config(_write_json(tmp_path / "a.json", raw)).grow is True
    with pytest.raises(ValueError, match="grow must be true or false"):
        load_config(_write_json(tmp_path / "b.json", {**raw, "grow": "yes"}))
    with pytest.raises(ValueError, match="grow needs init_from"):
        load_config(_write_json(tmp_path / "c.json", {**raw, "init_from": None}))


def test_require_models_names_the_config_of_a_model_no_longer_shipped(tmp_path: Path, wdir: Path) -> None:
    from lbcodec.training.trainer import require_models

    cfg = tiny_config(tmp_path)
    torch.manual_seed(7)
    state = nets.build(cfg.arch, **cfg.arch_config).state_dict()
    zoo.publish("srcnn-start", cfg.arch, state, cfg.slot, {"data": "test"}, 9, config=cfg.arch_config)
    require_models(replace(cfg, init_from="srcnn-start", compare_with=["srcnn-start"]))  # installed: fine
    retired = tmp_path / "configs" / "experiments" / "srcnn-gone.json"
    _write_json(retired, {"name": "srcnn-gone"})
    here = str(tmp_path / "configs" / "srcnn-tiny.json")
    with pytest.raises(zoo.ZooError, match=r"init_from model 'srcnn-gone' is not installed; it is no longer "
                                           r"shipped: train .*experiments/srcnn-gone\.json"):
        require_models(replace(cfg, path=here, init_from="srcnn-gone"))
    require_models(replace(cfg, path=here, init_from="srcnn-gone"), init=False)  # --pack-to needs no start
    # a joint config's post, and a top-level config before an experiment that trains the same name
    _write_json(tmp_path / "configs" / "pair.json", {"pre": {"name": "comcnn-x"}, "post": {"name": "reccnn-x"}})
    _write_json(tmp_path / "configs" / "experiments" / "reccnn-x-variant.json", {"name": "reccnn-x"})
    with pytest.raises(zoo.ZooError, match=r"init_from model 'reccnn-x' is not installed; train .*configs/pair\.json"):
        require_models(replace(cfg, path=here, init_from="reccnn-x"))
    with pytest.raises(zoo.ZooError, match=r"^compare_with model 'srcnn-never' is not installed$"):
        require_models(replace(cfg, path=here, compare_with=["srcnn-start", "srcnn-never"]))


def test_every_init_from_and_compare_with_is_shipped_or_has_a_config() -> None:
    """A config may start from (or compare with) a model no longer shipped (retired to save room),
    but then that model's config must still be in the repo, so the chain can be retrained."""
    trained = set()
    starts = []
    for path in CONFIG_FILES:
        kind, cfg = load_any(path)
        if kind == "joint":
            trained |= {cfg.pre.name, cfg.post.name}
        else:
            trained.add(cfg.name)
        if kind == "post":
            starts += [(path.name, f, n) for f, n in [("init_from", cfg.init_from),
                                                      *(("compare_with", c) for c in cfg.compare_with)] if n]
    shipped = {e["name"] for e in zoo.list_models(SHIPPED_WEIGHTS)}
    assert starts
    for where, field_name, name in starts:
        assert name in shipped or name in trained, f"{where}: {field_name} {name} is neither shipped nor configured"


def test_train_command_reports_a_missing_start_model_in_one_line(tmp_path: Path, wdir: Path) -> None:
    from click.testing import CliRunner

    from lbcodec.cli import cli

    cfg = tiny_config(tmp_path)
    raw = {**cfg.to_dict(), "init_from": "srcnn-nowhere"}
    path = _write_json(tmp_path / "configs" / "srcnn-tiny.json", raw)
    res = CliRunner().invoke(cli, ["train", path, "--runs", str(tmp_path / "runs")])
    assert res.exit_code == 1 and "Traceback" not in res.output, res.output
    assert res.output.strip().splitlines()[-1] == "Error: init_from model 'srcnn-nowhere' is not installed"


def test_bf16_amp_trains_in_bfloat16_validates_in_float32_and_is_recorded(tmp_path: Path, patchset: PatchSet,
                                                                         wdir: Path) -> None:
    cfg = tiny_config(tmp_path, steps=4, amp="bf16")
    seen: list[tuple[bool, torch.dtype]] = []
    real_build = nets.build

    def build(*a, **kw):  # record (training?, conv output dtype) of every convolution the trainer runs
        net = real_build(*a, **kw)
        for m in net.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.register_forward_hook(lambda mod, inp, out: seen.append((mod.training, out.dtype)))
        return net

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(nets, "build", build)
        result, best = train(cfg, patchset, str(tmp_path / "run"), device="cpu")
    assert {d for t, d in seen if t} == {torch.bfloat16}  # the training steps
    assert {d for t, d in seen if not t} == {torch.float32}  # validation
    assert all(v.dtype == torch.float32 for v in best.values()) and math.isfinite(result.best_gain)
    entry = publish_result(cfg, result, best, patchset, "cpu", weights_dir=str(wdir))
    assert entry["provenance"]["amp"].startswith("bf16 autocast")
    plain = publish_result(tiny_config(tmp_path, steps=4), result, best, patchset, "cpu", weights_dir=str(wdir))
    assert "amp" not in plain["provenance"]


def test_a_run_does_not_resume_with_another_amp(tmp_path: Path, patchset: PatchSet) -> None:
    class Stop(Exception):
        pass

    def stop_at_3(p):
        if p.step == 3:  # the last checkpoint is that of step 2
            raise Stop

    run = str(tmp_path / "run")
    with pytest.raises(Stop):
        train(tiny_config(tmp_path, amp="bf16"), patchset, run, device="cpu", on_progress=stop_at_3)
    assert _ckpt(tmp_path / "run")["amp"] == "bf16"
    with pytest.raises(ValueError, match="trained with train.amp bf16 but the config says absent"):
        train(tiny_config(tmp_path), patchset, run, device="cpu")
    result, _ = train(tiny_config(tmp_path, amp="bf16"), patchset, run, device="cpu")  # the same amp resumes
    assert result.steps == 6 and _ckpt(tmp_path / "run")["step"] == 6
    # nor is a finished run published under another amp: its provenance would be wrong
    with pytest.raises(ValueError, match="trained with train.amp bf16"):
        train(tiny_config(tmp_path), patchset, run, device="cpu")


def test_amp_bf16_on_a_cpu_without_it_gets_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    from lbcodec import precision
    from lbcodec.training.trainer import amp_note

    monkeypatch.setattr(precision, "native_bf16", lambda: False)
    assert "emulated here, many times slower than float32" in amp_note("bf16", "cpu")
    assert amp_note(None, "cpu") is None and amp_note("bf16", "cuda") is None
    monkeypatch.setattr(precision, "native_bf16", lambda: True)
    assert amp_note("bf16", "cpu") is None


def test_an_unknown_amp_is_refused() -> None:
    with pytest.raises(ValueError, match='train.amp must be "bf16" or absent'):
        TrainConfig(amp="fp16")


def test_unknown_loss_is_refused(tmp_path: Path, patchset: PatchSet) -> None:
    with pytest.raises(ValueError, match="unknown loss"):
        train(tiny_config(tmp_path, loss="l3"), patchset, str(tmp_path / "run"), device="cpu")


def test_why_not_publish_needs_a_gain_and_beating_every_baseline() -> None:
    from lbcodec.training.trainer import why_not_publish

    assert why_not_publish(0.3, {}) is None
    assert "no validation gain" in why_not_publish(0.0, {})
    assert "no validation gain" in why_not_publish(-0.1, {"a": -0.5})
    assert why_not_publish(0.3, {"a": 0.1, "b": 0.29}) is None
    reason = why_not_publish(0.3, {"a": 0.1, "b": 0.3, "c": 0.5})
    assert "b (+0.300 dB)" in reason and "c (+0.500 dB)" in reason and "a (" not in reason


def test_baselines_are_validated_on_the_same_images_and_recorded(tmp_path: Path, patchset: PatchSet,
                                                                 wdir: Path) -> None:
    from lbcodec.training.trainer import baseline_gains, validate

    cfg = tiny_config(tmp_path, steps=4)
    result, best = train(cfg, patchset, str(tmp_path / "run"), device="cpu")
    other = nets.build(cfg.arch, **cfg.arch_config)  # residual, zero last layer: the identity
    torch.manual_seed(5)
    with torch.no_grad():
        for p in other.parameters():
            p.add_(0.01 * torch.randn_like(p))
    zoo.publish("srcnn-old", cfg.arch, other.state_dict(), cfg.slot, {"data": "test"}, 7,
                weights_dir=str(wdir), config=cfg.arch_config, dtype="float16")
    cfg = dataclasses.replace(cfg, compare_with=["srcnn-old"])
    gains = baseline_gains(cfg, patchset, "cpu", weights_dir=str(wdir))
    expect = validate(zoo.load_model("srcnn-old", str(wdir)), patchset, "cpu")
    assert list(gains) == ["srcnn-old"] and gains["srcnn-old"] == pytest.approx(expect, abs=1e-4)
    entry = publish_result(cfg, result, best, patchset, "cpu", weights_dir=str(wdir), baselines=gains)
    assert entry["provenance"]["validation"]["baselines"] == gains


def test_the_recorded_score_is_the_shipped_weights_score(tmp_path: Path, patchset: PatchSet, wdir: Path) -> None:
    from lbcodec.training.trainer import shipped_gain, validate

    cfg = tiny_config(tmp_path, steps=4)
    result, best = train(cfg, patchset, str(tmp_path / "run"), device="cpu")
    gain = shipped_gain(cfg, best, patchset, "cpu")
    entry = publish_result(cfg, result, best, patchset, "cpu", weights_dir=str(wdir), shipped=gain)
    v = entry["provenance"]["validation"]
    assert v["score"] == round(gain, 4) and v["score_float32"] == round(result.best_gain, 4)
    # the score is what the published file scores
    assert validate(zoo.load_model(cfg.name, str(wdir)), patchset, "cpu") == pytest.approx(gain, abs=1e-9)


def test_cache_key_follows_the_pre_filter_weights(tmp_path: Path, wdir: Path) -> None:
    cfg = tiny_config(tmp_path)
    com = dataclasses.replace(cfg, slot={**cfg.slot, "method": "comcnn", "scale": 2})
    assert tdata.pre_model(cfg) is None and tdata.pre_model(com) is None
    before = tdata.cache_key(com)
    torch.manual_seed(0)
    net = nets.build("comcnn", in_channels=3, width=8)
    slot = {"role": "pre", "method": "comcnn", "codec": "jpeg", "scale": 2}
    zoo.publish("com-a", "comcnn", net.state_dict(), slot, {"data": "test"}, 3, weights_dir=str(wdir))
    key_a = tdata.cache_key(com)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.01)
    zoo.publish("com-a", "comcnn", net.state_dict(), slot, {"data": "test"}, 3, weights_dir=str(wdir))
    assert len({before, key_a, tdata.cache_key(com)}) == 3
    assert tdata.cache_key(cfg) == tdata.cache_key(dataclasses.replace(cfg))  # no pre-filter: unchanged


def test_publish_result_writes_weights_manifest_and_provenance(tmp_path: Path, patchset: PatchSet,
                                                               wdir: Path) -> None:
    cfg = tiny_config(tmp_path, steps=4)
    result, best = train(cfg, patchset, str(tmp_path / "run"), device="cpu")
    entry = publish_result(cfg, result, best, patchset, "cpu", weights_dir=str(wdir))

    path = wdir / entry["file"]
    assert entry["file"] == "srcnn-tiny.safetensors" and path.is_file()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
    assert json.loads((wdir / "manifest.json").read_text())["models"] == [entry]
    assert (entry["name"], entry["arch"], entry["container_id"], entry["slot"]) == \
        (cfg.name, cfg.arch, cfg.container_id, cfg.slot)
    prov = entry["provenance"]
    assert prov["validation"]["metric"] == "psnr_gain_db"
    assert prov["validation"]["score"] == round(result.best_gain, 4)
    assert (prov["steps"], prov["best_step"], prov["batch"], prov["seed"]) == (4, result.best_step, 4, 0)
    assert prov["data"]["patches"] == len(patchset) and prov["data"]["train_images"] == 4
    assert prov["data"]["roots"] == ["nowhere"] and prov["config"] is None  # built in code, no file

    assert entry["storage"] == "float16"  # what training ships: the weights rounded to half precision
    loaded = zoo.load_model("srcnn-tiny", weights_dir=str(wdir))
    ref = nets.build(cfg.arch, **cfg.arch_config).eval()
    ref.load_state_dict({k: v.half().float() for k, v in best.items()})
    x = to_t(patchset.val_inputs[0])
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), ref(x), atol=1e-6, rtol=0)
    assert zoo.find_default("post", "none", "jpeg", bpp=1.0, weights_dir=str(wdir))["name"] == "srcnn-tiny"
    assert not (SHIPPED_WEIGHTS / "srcnn-tiny.safetensors").exists()


def test_publish_result_records_the_pre_filter_a_comcnn_post_follows(tmp_path: Path, patchset: PatchSet,
                                                                     wdir: Path) -> None:
    cfg = tiny_config(tmp_path, steps=2)
    result, best = train(cfg, patchset, str(tmp_path / "run"), device="cpu")
    assert "pre" not in publish_result(cfg, result, best, patchset, "cpu", weights_dir=str(wdir))["provenance"]["data"]
    slot = {"role": "pre", "method": "comcnn", "codec": "jpeg", "scale": 2}
    zoo.publish("com-a", "comcnn", nets.build("comcnn", width=8).state_dict(), slot, {"data": "test"}, 3,
                weights_dir=str(wdir), config={"width": 8})
    com = dataclasses.replace(cfg, name="rec-a", container_id=4, slot={**cfg.slot, "method": "comcnn", "scale": 2})
    entry = publish_result(com, result, best, patchset, "cpu", weights_dir=str(wdir))
    assert entry["provenance"]["data"]["pre"] == "com-a" and zoo.trained_after(entry) == "com-a"
    assert zoo.find_default("post", "comcnn", "jpeg", 2, pre="com-a", weights_dir=str(wdir))["name"] == "rec-a"
    # patches record the pre-filter they came through: that one is named, even if the default changed since
    made = dataclasses.replace(patchset, meta={**patchset.meta, "pre": {"name": "com-then", "sha256": "0" * 64}})
    entry = publish_result(dataclasses.replace(com, name="rec-b", container_id=5), result, best, made, "cpu",
                           weights_dir=str(wdir))
    assert zoo.trained_after(entry) == "com-then"


# --------------------------------------------------------------------------- data.py


def test_split_and_list_images(tmp_path: Path) -> None:
    paths = [f"p{i}" for i in range(11)]
    train_, val = split(paths, 4)
    assert val == ["p0", "p4", "p8"] and set(train_).isdisjoint(val) and sorted(train_ + val) == sorted(paths)
    write_folder(tmp_path / "a", [20, 20])
    (tmp_path / "a" / "notes.txt").write_text("not an image")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "a" / "gray.PNG")
    found = list_images([str(tmp_path / "a")])
    assert [os.path.basename(p) for p in found] == ["gray.PNG", "img00.png", "img01.png"]
    assert load_rgb(found[0]).shape == (8, 8, 3)  # grayscale comes back as RGB
    with pytest.raises(FileNotFoundError, match="does not exist"):
        list_images([str(tmp_path / "missing")])


def data_config(root: Path, **data_kw) -> Config:
    d = dict(roots=[str(root)], holdout_every=3, bpps=[1.0, 2.0], bpps_per_image=2, max_side=96, patch=32,
             patches_per_pair=3, val_bpps=[1.0, 2.0], val_crop=64)
    d.update(data_kw)
    return Config(
        name="srcnn-data", container_id=43, arch="srcnn", arch_config={},
        slot={"role": "post", "method": "downsample", "codec": "jpeg", "scale": 2, "bpp": [0.5, 2.0]},
        data=DataConfig(**d), train=TrainConfig(seed=0),
    )  # fmt: skip


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory) -> tuple[Path, list[int]]:
    root = tmp_path_factory.mktemp("train-images")
    return root, write_folder(root, [96] * 6)


def test_build_patches_shapes_and_holdout(image_folder) -> None:
    root, tags = image_folder
    ps = build_patches(data_config(root))
    val_tags, train_tags = {tags[0], tags[3]}, {tags[1], tags[2], tags[4], tags[5]}  # holdout_every=3
    n = 4 * 2 * 3  # train images x bpps per image x patches per pair
    assert ps.inputs.shape == ps.targets.shape == (n, 32, 32, 3)
    assert ps.inputs.dtype == ps.targets.dtype == np.uint8
    assert ps.qualities.shape == (n,) and ps.qualities.dtype == np.float32
    assert np.all((ps.qualities >= 0) & (ps.qualities <= 100))
    assert ps.meta == {"train_images": 4, "val_images": 2, "roots": [str(root)], "pairs": 8}
    # the blue plane names the source image: training patches only from training images
    assert set(np.unique(ps.targets[..., 2]).tolist()) == train_tags
    assert len(ps.val_inputs) == len(ps.val_targets) == 2 * 2
    for a, b in zip(ps.val_inputs, ps.val_targets):
        assert a.shape == b.shape == (64, 64, 3) and a.dtype == b.dtype == np.uint8
        assert set(np.unique(b[..., 2]).tolist()) <= val_tags
    assert {int(b[0, 0, 2]) for b in ps.val_targets} == val_tags
    # inputs are the decoded (degraded but aligned) versions of the targets
    for a, b in zip(ps.inputs, ps.targets):
        assert 22 < psnr(b, a) < 60 and not np.array_equal(a, b)


def test_build_patches_is_deterministic_and_honours_max_images(image_folder) -> None:
    root, _ = image_folder
    cfg = data_config(root, val_bpps=[1.0])
    a, b = build_patches(cfg), build_patches(cfg)
    assert np.array_equal(a.inputs, b.inputs) and np.array_equal(a.targets, b.targets)
    assert np.array_equal(a.qualities, b.qualities)
    few = build_patches(data_config(root, max_images=2, val_bpps=[1.0]))
    assert few.meta["train_images"] == 2 and len(few) == 2 * 2 * 3
    many = build_patches(data_config(root, max_images=50, val_bpps=[1.0]))  # more than there are: all
    assert many.meta["train_images"] == 4


def test_cache_keys_of_sequential_draws_are_those_made_before_per_image_rng() -> None:
    # the value the code before data.per_image_rng gave this config: old caches stay hits
    cfg = replace(data_config(Path("/nonexistent/images")), train=TrainConfig(seed=0))
    assert tdata.cache_key(cfg) == "228d105499c337e9"
    per_image = replace(cfg, data=replace(cfg.data, per_image_rng=True))
    assert tdata.cache_key(per_image) != tdata.cache_key(cfg)


@pytest.fixture(scope="module")
def twelve_images(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("train-images-12")
    write_folder(root, [96] * 12)
    return root


@pytest.mark.parametrize("per_image_rng", [False, True])
def test_patches_do_not_depend_on_the_number_of_processes(twelve_images: Path, per_image_rng: bool) -> None:
    # 8 training and 4 validation images x 2 rates: enough jobs for two spawned processes
    cfg = data_config(twelve_images, per_image_rng=per_image_rng)
    one, two = build_patches(cfg, workers=1), build_patches(cfg, workers=2)
    for field in ("inputs", "targets", "qualities"):
        assert np.array_equal(getattr(one, field), getattr(two, field))
    assert len(one.val_inputs) == len(two.val_inputs) == 4 * 2
    for a, b in zip(one.val_inputs + one.val_targets, two.val_inputs + two.val_targets):
        assert np.array_equal(a, b)
    assert one.meta == two.meta and one.meta["train_images"] == 8 and len(one) == 8 * 2 * 3
    if per_image_rng:  # each image's own generator: other crops and positions than the shared one
        seq = build_patches(replace(cfg, data=replace(cfg.data, per_image_rng=False)), workers=1)
        assert not np.array_equal(seq.inputs, one.inputs)
        assert np.array_equal(seq.val_inputs[0], one.val_inputs[0])  # validation is the same either way
        # train.seed feeds every image's generator (extra_seeds would repeat patches otherwise)
        other = build_patches(replace(cfg, train=replace(cfg.train, seed=7)), workers=1)
        assert not np.array_equal(other.inputs, one.inputs)


def _patches_as_before_per_image_rng(cfg: Config) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """build_patches as it was before per_image_rng and parallel validation (a reference copy)."""
    d = cfg.data
    rng = np.random.default_rng(cfg.train.seed)
    train, val = tdata.split(tdata.list_images(d.roots), d.holdout_every)
    if d.max_images:
        train = [train[i] for i in sorted(rng.choice(len(train), min(d.max_images, len(train)), replace=False))]
    ins, qs = [], []
    for path in train:
        img = tdata.crop(tdata.load_rgb(path), d.max_side, rng)
        for bpp in rng.choice(d.bpps, size=min(d.bpps_per_image, len(d.bpps)), replace=False):
            out = tdata.degrade(img, cfg, float(bpp))
            if out is None:
                continue
            dec, q = out
            h, w = img.shape[:2]
            for _ in range(d.patches_per_pair):
                y, x = int(rng.integers(0, h - d.patch + 1)), int(rng.integers(0, w - d.patch + 1))
                ins.append(dec[y : y + d.patch, x : x + d.patch])
                qs.append(q)
    vin = []
    vrng = np.random.default_rng(12345)
    for path in val:
        img = tdata.crop(tdata.load_rgb(path), d.val_crop, vrng)
        for bpp in d.val_bpps:
            out = tdata.degrade(img, cfg, bpp)
            if out is not None:
                vin.append(out[0])
    return np.stack(ins), np.asarray(qs, np.float32), vin


def test_sequential_draws_cut_the_patches_they_cut_before(twelve_images: Path) -> None:
    cfg = data_config(twelve_images, max_images=6, bpps=[0.5, 1.0, 2.0])
    ins, qs, vin = _patches_as_before_per_image_rng(cfg)
    new = build_patches(cfg, workers=2)  # validation over two processes
    assert np.array_equal(new.inputs, ins) and np.array_equal(new.qualities, qs)
    assert len(new.val_inputs) == len(vin) and all(np.array_equal(a, b) for a, b in zip(new.val_inputs, vin))


def test_an_error_in_the_caller_shuts_the_coding_processes_down(twelve_images: Path) -> None:
    import multiprocessing

    def stop(done: int, total: int) -> None:
        raise RuntimeError("stopped by the caller")

    with pytest.raises(RuntimeError, match="stopped by the caller") as info:
        build_patches(data_config(twelve_images, per_image_rng=True), progress=stop, workers=2)
    # shut down by build_patches itself, while the traceback (and its frames) is still alive
    assert multiprocessing.active_children() == [], info.traceback[-1]


def test_per_image_rng_must_be_a_bool() -> None:
    with pytest.raises(ValueError, match="per_image_rng"):
        DataConfig(roots=["x"], per_image_rng="false")


def test_build_patches_with_unreachable_targets(image_folder) -> None:
    root, _ = image_folder
    with pytest.raises(ValueError, match="no training pairs"):
        build_patches(data_config(root, bpps=[0.01], val_bpps=[0.01]))


def test_patch_cache_hit_is_identical_and_does_not_encode(image_folder, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    root, _ = image_folder
    cfg = data_config(root, val_bpps=[1.0])
    cache = tmp_path / "cache"
    first = get_patches(cfg, str(cache))
    files = sorted(os.listdir(cache))
    assert files == [f"jpeg-downsample2-{tdata.cache_key(cfg)}.npz"]

    def no_encoding(*a, **k):
        raise AssertionError("a cache hit must not run the codec")

    monkeypatch.setattr(tdata, "degrade", no_encoding)
    second = get_patches(cfg, str(cache))
    for field in ("inputs", "targets", "qualities"):
        assert np.array_equal(getattr(first, field), getattr(second, field))
        assert getattr(first, field).dtype == getattr(second, field).dtype
    assert len(second.val_inputs) == len(first.val_inputs)
    for a, b in zip(first.val_inputs + first.val_targets, second.val_inputs + second.val_targets):
        assert np.array_equal(a, b)
    assert second.meta == first.meta
    # the key follows the data, the degradation and the seed that cut the patches, not the schedule
    assert tdata.cache_key(replace(cfg, train=replace(cfg.train, steps=1))) == tdata.cache_key(cfg)
    assert tdata.cache_key(replace(cfg, train=replace(cfg.train, seed=cfg.train.seed + 1))) != tdata.cache_key(cfg)
    other = replace(cfg, data=replace(cfg.data, patches_per_pair=2))
    assert tdata.cache_key(other) != tdata.cache_key(cfg)
    with pytest.raises(AssertionError, match="cache hit"):
        get_patches(other, str(cache))  # a different data config is a miss: it encodes


def test_extra_seeds_join_the_patch_sets_of_other_seeds(image_folder, tmp_path: Path) -> None:
    root, _ = image_folder
    cfg = data_config(root, val_bpps=[1.0])
    cache = tmp_path / "cache"
    one = get_patches(cfg, str(cache))
    seed2 = replace(cfg, train=replace(cfg.train, seed=2))
    two = get_patches(seed2, str(cache))
    both = replace(cfg, data=replace(cfg.data, extra_seeds=[2]))
    assert tdata.cache_key(both) == tdata.cache_key(cfg)  # the seed-0 set keeps its cache entry
    joined = get_patches(both, str(cache))
    assert len(os.listdir(cache)) == 2  # no third entry: each seed's set is cached on its own
    for field in ("inputs", "targets", "qualities"):
        assert np.array_equal(getattr(joined, field),
                              np.concatenate([getattr(one, field), getattr(two, field)]))
    assert not np.array_equal(one.inputs, two.inputs)  # another seed cuts other patches
    assert len(joined.val_inputs) == len(one.val_inputs)
    for a, b in zip(joined.val_inputs, one.val_inputs):
        assert np.array_equal(a, b)
    assert joined.meta["seeds"] == [0, 2] and joined.meta["pairs"] == one.meta["pairs"] + two.meta["pairs"]
    for bad in ([-1], [True], "1", [1.5]):
        with pytest.raises(ValueError, match="extra_seeds"):
            replace(cfg.data, extra_seeds=bad)
    for dup in ([0], [2, 2]):  # train.seed is 0: a seed twice would count its patches twice
        with pytest.raises(ValueError, match="differ"):
            get_patches(replace(cfg, data=replace(cfg.data, extra_seeds=dup)), str(cache))


# --------------------------------------------------------------------------- diffops.py


@pytest.mark.parametrize("src,dst", [((37, 29), (19, 15)), ((13, 11), (27, 22)), ((40, 40), (20, 20)),
                                     ((31, 30), (64, 9)), ((16, 17), (16, 17))])
def test_resize_torch_matches_pillow_bicubic(src, dst) -> None:
    (h, w), (oh, ow) = src, dst
    img = (np.random.default_rng(h * w).random((h, w, 3)) * 255).astype(np.float32)
    ref = resize_bicubic(img, (ow, oh))
    x = torch.from_numpy(img.transpose(2, 0, 1)[None].copy()).requires_grad_(True)
    out = resize_torch(x, (ow, oh))
    assert out.shape == (1, 3, oh, ow)
    np.testing.assert_allclose(out.detach()[0].numpy().transpose(1, 2, 0), ref, atol=2e-3, rtol=0)
    out.sum().backward()
    assert x.grad is not None and torch.all(torch.isfinite(x.grad)) and x.grad.abs().sum() > 0


def test_resize_matrix_rows_sum_to_one() -> None:
    for n_in, n_out in ((37, 19), (13, 27), (8, 8), (5, 1)):
        m = resize_matrix(n_in, n_out)
        assert m.shape == (n_out, n_in) and m.dtype == np.float32
        np.testing.assert_allclose(m.sum(1), 1.0, atol=1e-5)  # a flat image stays flat
    np.testing.assert_allclose(resize_matrix(9, 9), np.eye(9), atol=1e-7)


# --------------------------------------------------------------------------- diffjpeg.py


@pytest.fixture(scope="module")
def photo64() -> np.ndarray:
    return photo_like(64, 96, seed=5)


@pytest.mark.parametrize("tune", ["psnr", "ssim"])
@pytest.mark.parametrize("quality", [10, 30, 37.5, 50, 75, 90])
def test_diff_jpeg_is_close_to_real_jpeg(photo64: np.ndarray, quality: float, tune: str) -> None:
    jpeg = get_codec("jpeg")  # libjpeg-turbo, 4:2:0, the tune's tables at this quality
    real = jpeg.decode(jpeg.encode(photo64, quality, tune=tune), channels=3)
    out, rate = diff_jpeg(to_t(photo64), quality, tune=tune)
    assert out.shape == (1, 3, 64, 96) and rate.shape == (1,)
    ours = (out[0].clamp(0, 1) * 255).round().byte().numpy().transpose(1, 2, 0)
    assert psnr(real, ours) > 38.0  # measured 44.5-51 dB
    assert psnr(photo64, ours) == pytest.approx(psnr(photo64, real), abs=0.5)


def test_diff_jpeg_passes_gradients_straight_through(photo64: np.ndarray) -> None:
    x = to_t(photo64).requires_grad_(True)
    out, _ = diff_jpeg(x, 50)
    ((out - to_t(photo64).flip(-1)) ** 2).mean().backward()
    assert x.grad is not None and torch.all(torch.isfinite(x.grad)) and x.grad.abs().sum() > 0
    x.grad = None
    diff_jpeg(x, 50)[1].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_soft_rate_proxy_pays_for_coefficients_that_round_to_zero() -> None:
    # faint texture: at quality 10 every AC coefficient rounds to 0, so the rounded proxy
    # has no gradient at all, and a filter trained against it never learns that smoothing saves bits
    rng = np.random.default_rng(3)
    faint = np.clip(128 + rng.normal(0, 2.0, (32, 32, 3)), 0, 255).astype(np.uint8)
    x = to_t(faint).requires_grad_(True)
    diff_jpeg(x, 10)[1].sum().backward()
    assert float(x.grad.abs().sum()) == 0.0
    x.grad = None
    soft = diff_jpeg(x, 10, soft=True)[1]
    soft.sum().backward()
    assert float(x.grad.abs().sum()) > 0
    # descending the soft rate smooths the image: its detail (distance from the mean) shrinks
    with torch.no_grad():
        y = (x - 0.5 * x.grad / x.grad.abs().max() * 0.01).clamp(0, 1)
        assert float(diff_jpeg(y, 10, soft=True)[1]) < float(soft)
        assert float((y - y.mean()).abs().mean()) < float((x - x.mean()).abs().mean())
    assert float(rate_proxy(to_t(faint), 10, soft=True)) > float(rate_proxy(to_t(faint), 10))
    # DC is costed as JPEG codes it, block to block: shifting a flat image's level costs
    # only the first block's DC in each plane, not every block's
    flat = [to_t(np.full((64, 64, 3), v, np.uint8)) for v in (128, 160)]
    r128, r160 = (float(rate_proxy(f, 10, soft=True)) for f in flat)
    assert r128 == pytest.approx(0.0, abs=1e-3) and 0 < r160 < 3 * 8
    # ... in raster order: rows of flat blocks (one level a row) cost a DC difference once a
    # row, columns of them at every block; the rounded proxy costs each block's DC alone
    rows = np.repeat(np.array([100, 140, 100, 140], np.uint8), 8)[:, None, None] * np.ones((1, 32, 3), np.uint8)
    h, v = to_t(rows), to_t(np.ascontiguousarray(rows.transpose(1, 0, 2)))
    assert float(rate_proxy(h, 10)) == pytest.approx(float(rate_proxy(v, 10)))
    assert float(rate_proxy(h, 10, soft=True)) < 0.5 * float(rate_proxy(v, 10, soft=True))


def test_rate_proxy_grows_with_quality_and_detail(photo64: np.ndarray) -> None:
    x = to_t(photo64)
    rates = [float(rate_proxy(x, q)) for q in (5, 20, 50, 75, 95)]
    assert all(a < b for a, b in pairwise(rates))
    real = [len(get_codec("jpeg").encode(photo64, q)) for q in (5, 20, 50, 75, 95)]
    assert all(a < b for a, b in pairwise(real))  # same order as the real sizes
    flat = torch.full((1, 3, 32, 32), 128 / 255)
    noise = to_t(noisy_image(32, 32))
    for q in (20, 50, 90):
        assert float(rate_proxy(noise, q)) > 50 * max(float(rate_proxy(flat, q)), 1.0)
    batch = rate_proxy(torch.cat([flat, noise]), 50)
    assert batch.shape == (2,) and batch[0] < batch[1]  # one rate per image of the batch


def test_chroma_table() -> None:
    assert chroma_table(50, "ssim")[0] == 17 and chroma_table(50, "ssim")[-1] == 99
    for tune in ("psnr", "ssim"):
        assert np.all(chroma_table(100, tune) == 1) and np.all(chroma_table(1, tune) == 255)
        assert np.all(chroma_table(10, tune) >= chroma_table(60, tune))
    assert np.all(chroma_table(50) == chroma_table(50)[0])  # psnr (the default): flat


# --------------------------------------------------------------------------- joint.py


@pytest.mark.parametrize("arch,config", [
    ("reccnn", dict(width=8, depth=4)),
    ("reccnn", dict(width=8, depth=3, batch_norm=False)),
    ("srcnn", dict(widths=[8, 4])),
    ("modifynet", dict(width=8, depth=3)),
])  # fmt: skip
def test_zero_init_last_makes_a_residual_net_the_identity(arch: str, config: dict) -> None:
    torch.manual_seed(0)
    x = torch.rand(2, 3, 19, 23)
    net = nets.build(arch, **config)
    assert not torch.equal(net(x), x)
    zero_init_last(net)
    assert torch.equal(net(x), x)  # in training mode (batch norm on batch statistics) ...
    assert torch.equal(net.eval()(x), x)  # ... and in eval mode


def test_proxy_bpp_pads_any_size_and_is_differentiable() -> None:
    img = to_t(photo_like(40, 54, seed=8))
    for h, w in ((40, 54), (17, 33), (32, 48), (9, 9)):
        c = img[:, :, :h, :w].clone().requires_grad_(True)
        bpp = proxy_bpp(c, 50)
        assert bpp.shape == (1,) and torch.isfinite(bpp).all() and float(bpp.detach()) > 0
        bpp.sum().backward()
        assert c.grad is not None and c.grad.abs().sum() > 0
    c = img[:, :, :32, :48]  # multiple of 16: no padding, plain bits per pixel
    assert float(proxy_bpp(c, 50)) == pytest.approx(float(rate_proxy(c, 50)) / (32 * 48))
    c = img[:, :, :17, :33]
    padded = torch.nn.functional.pad(c, (0, 15, 0, 15), mode="replicate")
    assert float(proxy_bpp(c, 50)) == pytest.approx(float(rate_proxy(padded, 50)) / (17 * 33))
    assert float(proxy_bpp(c, 80)) > float(proxy_bpp(c, 20))


def test_calibrate_rate_jpeg() -> None:
    crops = np.stack([photo_like(32, 32, seed=100 + i) for i in range(16)])
    messages: list[str] = []
    ratio = calibrate_rate(get_codec("jpeg"), crops, 2, 50.0, messages.append)
    assert math.isfinite(ratio) and 0.05 < ratio < 20
    assert len(messages) == 1 and messages[0].startswith("rate proxy:")
    few = calibrate_rate(get_codec("jpeg"), crops[:5], 2, 50.0, messages.append)  # 2 x 2 mosaics
    assert math.isfinite(few) and 0.05 < few < 20
    with pytest.raises(ValueError, match="needs training crops"):
        calibrate_rate(get_codec("jpeg"), crops[:0], 2, 50.0, messages.append)


@pytest.fixture(scope="module")
def joint_folder(tmp_path_factory) -> Path:
    """20 images of 64 px: with holdout_every=10, 2 validation and 18 training images."""
    root = tmp_path_factory.mktemp("joint-images")
    write_folder(root, [64] * 20, seed=200)
    return root


POST_CONFIG = {"in_channels": 3, "width": 8, "depth": 3, "batch_norm": False, "residual": True}


def joint_config(tmp_path: Path, root: Path, **train_kw) -> JointConfig:
    """A tiny joint config, written as JSON and loaded the way ``lbcodec train`` loads it."""
    train_ = dict(outer=1, init_steps=3, rec_steps=3, com_steps=2, batch=4, crop=32, lr=1e-3, lr_final=1e-4,
                  ste=True, seed=0, rate_weight=1e-3, val_bpp=1.0)
    train_.update(train_kw)
    raw = {
        "kind": "joint", "codec": "jpeg", "scale": 2, "bpp_range": [0.5, 2.0],
        "pre": {"name": "comcnn-tiny", "container_id": 30, "arch": "comcnn",
                "arch_config": {"in_channels": 3, "width": 8}},
        "post": {"name": "reccnn-tiny", "container_id": 31, "arch": "reccnn", "arch_config": POST_CONFIG},
        "data": {"roots": [str(root)], "holdout_every": 10, "bpps": [1.0, 2.0], "val_crop": 64},
        "train": train_,
    }  # fmt: skip
    path = _write_json(tmp_path / "configs" / "tiny-joint.json", raw)
    return load_joint_config(raw, path)


def _check_joint_result(result: dict, cfg: JointConfig, wdir: Path, run_dir: Path) -> None:
    starts = cfg.init_post is not None or cfg.pre.arch_config.get("residual", False)
    assert len(result["history"]) == cfg.outer + starts  # iteration 0: where training started
    for t, h in enumerate(result["history"], 0 if starts else 1):
        assert h["iteration"] == t and h["val_bpp"] == cfg.val_bpp
        assert math.isfinite(h["val_psnr"]) and math.isfinite(h["val_psnr_bicubic_codec"])
        assert 15 < h["val_psnr_bicubic_codec"] < 60
    gains = {h["iteration"]: h["val_psnr"] - h["val_psnr_bicubic_codec"] for h in result["history"]}
    best_t = result["best_iteration"]
    assert 1 <= best_t <= cfg.outer  # the best trained iteration, never the start
    assert result["gain"] == pytest.approx(gains[best_t]) == pytest.approx(max(g for t, g in gains.items() if t))
    ck = torch.load(run_dir / "last.pt", weights_only=True)
    assert ck["t"] == cfg.outer
    manifest = zoo.list_models(wdir)
    if result["published"]:  # published exactly when the pipeline beats bicubic + the codec
        assert result["gain"] > 0
        assert [e["name"] for e in manifest] == [cfg.pre.name, cfg.post.name]
        pre, post = manifest
        assert (pre["slot"]["role"], post["slot"]["role"]) == ("pre", "post")
        assert pre["slot"]["method"] == post["slot"]["method"] == "comcnn"
        # the RecCNN names its ComCNN, so the slot's default post follows the default pre
        assert zoo.trained_after(post) == cfg.pre.name and zoo.trained_after(pre) is None
        from lbcodec.codecs import settings_tag

        want = settings_tag(cfg.codec) if cfg.data.tune == "psnr" else None
        assert pre["provenance"]["data"].get("codec_settings") == post["provenance"]["data"].get("codec_settings") \
            == (want or None)
        assert (pre["container_id"], post["container_id"]) == (cfg.pre.container_id, cfg.post.container_id)
        for e in manifest:
            v = e["provenance"]["validation"]
            suffix = "same_codec_quality" if cfg.val_bpp is None else f"same_bpp_{cfg.val_bpp}"
            assert v["score"] == round(result["gain"], 4) and v["metric"].endswith(suffix)
            assert e["provenance"]["rate_weight"] == cfg.rate_weight
            assert e["provenance"]["init_post"] == cfg.init_post
            assert hashlib.sha256((wdir / e["file"]).read_bytes()).hexdigest() == e["sha256"]
        # shipped at half precision: the checkpoint's tensors, rounded
        assert pre["storage"] == post["storage"] == "float16"
        if best_t == cfg.outer:
            _assert_same_tensors(zoo.load_state_dict(cfg.pre.name, wdir), _half(ck["com"]))
            _assert_same_tensors(zoo.load_state_dict(cfg.post.name, wdir), _half(ck["rec"]))
        assert pre["provenance"]["steps"]["kept_iteration"] == best_t
        assert pre["provenance"]["steps"]["order"] == cfg.order
        com = zoo.load_model(cfg.pre.name, wdir)
        assert com(torch.rand(1, 3, 32, 32)).shape == (1, 3, 16, 16)
    else:
        assert manifest == []


def test_train_joint_end_to_end(tmp_path: Path, joint_folder: Path, wdir: Path) -> None:
    cfg = joint_config(tmp_path, joint_folder)
    log: list[str] = []
    run_dir = tmp_path / "run"
    result = train_joint(cfg, log.append, str(run_dir), weights_dir=str(wdir), publish=True)
    assert "18 training crops of 32px, 2 validation images" in log[0]
    assert any(m.startswith("rate proxy:") for m in log)  # rate_weight > 0: calibrated
    assert result["published"] == (result["gain"] > 0)
    assert any(m.startswith("not publishing") for m in log) == (not result["published"])
    _check_joint_result(result, cfg, wdir, run_dir)


def _fake_psnr(ours: float, base: float):
    """evaluate() calls psnr for our pipeline, then for bicubic + codec, image after image."""
    calls = []

    def fake(a, b):
        calls.append(1)
        return ours if len(calls) % 2 else base

    return fake


@pytest.mark.parametrize("gain", [2.0, -2.0])
def test_train_joint_publishes_exactly_when_the_gain_is_positive(
    gain: float, tmp_path: Path, joint_folder: Path, wdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lbcodec.metrics

    monkeypatch.setattr(lbcodec.metrics, "psnr", _fake_psnr(30.0 + gain, 30.0))
    cfg = joint_config(tmp_path, joint_folder, init_steps=1, rec_steps=1, com_steps=1, rate_weight=0.0,
                       val_bpp=None)
    run_dir = tmp_path / "run"
    result = train_joint(cfg, lambda m: None, str(run_dir), weights_dir=str(wdir), publish=True)
    assert result["gain"] == pytest.approx(gain)
    assert result["published"] is (gain > 0)
    _check_joint_result(result, cfg, wdir, run_dir)
    if gain > 0:
        assert zoo.get_entry(cfg.post.name, wdir)["provenance"]["config"] == os.path.relpath(cfg.path)


def test_train_joint_from_a_published_post_model(tmp_path: Path, joint_folder: Path, wdir: Path) -> None:
    torch.manual_seed(3)
    start = nets.build("reccnn", **POST_CONFIG)
    zoo.publish("reccnn-start", "reccnn", start.state_dict(),
                {"role": "post", "method": "downsample", "codec": "jpeg", "scale": 2}, {"data": "test"}, 50,
                config=POST_CONFIG)  # fmt: skip
    # rec_steps=0: RecCNN is only used (frozen) to train ComCNN, so it must end as it started
    cfg = joint_config(tmp_path, joint_folder, init_post="reccnn-start", rec_steps=0, com_steps=2)
    log: list[str] = []
    run_dir = tmp_path / "run"
    result = train_joint(cfg, log.append, str(run_dir), weights_dir=str(wdir), publish=False)
    assert "RecCNN starts from the published reccnn-start" in log
    assert not result["published"] and [e["name"] for e in zoo.list_models(wdir)] == ["reccnn-start"]
    assert math.isfinite(result["history"][0]["val_psnr"])
    _assert_same_tensors(torch.load(run_dir / "last.pt", weights_only=True)["rec"], start.state_dict())


def _psnr_by_evaluation(ours_per_eval: list[float], base: float, n_images: int):
    """evaluate() calls psnr twice per validation image (ours, then bicubic + codec): the
    i-th evaluation reports ``ours_per_eval[i]`` for our pipeline."""
    calls = []

    def fake(a, b):
        calls.append(1)
        k = len(calls) - 1
        return ours_per_eval[k // (2 * n_images)] if k % 2 == 0 else base

    return fake


def test_train_joint_keeps_and_publishes_the_best_iteration(tmp_path: Path, joint_folder: Path, wdir: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import lbcodec.metrics

    # a residual ComCNN starts as a pipeline (evaluation 0); then iterations 1 (best), 2, 3
    monkeypatch.setattr(lbcodec.metrics, "psnr", _psnr_by_evaluation([30.0, 31.0, 30.5, 30.2], 29.0, 2))
    cfg = joint_config(tmp_path, joint_folder, outer=3, init_steps=0, rec_steps=1, com_steps=2, rate_weight=0.0,
                       val_bpp=None, lr=1e-2)
    cfg = replace(cfg, pre=replace(cfg.pre, arch_config={**cfg.pre.arch_config, "residual": True}))
    snapshots = []
    real_save = torch.save
    monkeypatch.setattr(torch, "save", lambda obj, path: (snapshots.append(copy.deepcopy(obj)), real_save(obj, path)))
    log: list[str] = []
    run_dir = tmp_path / "run"
    result = train_joint(cfg, log.append, str(run_dir), weights_dir=str(wdir), publish=True)
    assert [h["iteration"] for h in result["history"]] == [0, 1, 2, 3]
    assert result["best_iteration"] == 1 and result["gain"] == pytest.approx(2.0) and result["published"]
    assert any("iteration 1 validated best" in m for m in log)
    first = next(o for o in snapshots if o["t"] == 1 and "gain" not in o)
    best_file = torch.load(run_dir / "best.pt", weights_only=True)  # kept on disk, published or not
    assert best_file["t"] == 1 and best_file["gain"] == pytest.approx(2.0)
    _assert_same_tensors(best_file["com"], first["com"])
    assert not all(torch.equal(first["com"][k], snapshots[-1]["com"][k]) for k in first["com"])  # it moved on
    _assert_same_tensors(zoo.load_state_dict(cfg.pre.name, wdir), _half(first["com"]))
    _assert_same_tensors(zoo.load_state_dict(cfg.post.name, wdir), _half(first["rec"]))
    _check_joint_result(result, cfg, wdir, run_dir)


@pytest.mark.parametrize("order", ["rec-com", "com-rec"])
def test_train_joint_phase_order(order: str, tmp_path: Path, joint_folder: Path, wdir: Path) -> None:
    cfg = joint_config(tmp_path, joint_folder, outer=2, init_steps=0, rec_steps=1, com_steps=1, rate_weight=0.0,
                       order=order)
    log: list[str] = []
    train_joint(cfg, log.append, str(tmp_path / "run"), weights_dir=str(wdir), publish=False)
    phases = [m.split(":")[1].split()[0] for m in log if m.startswith("iteration ") and "steps" in m]
    first = ["ComCNN", "RecCNN"] if order == "com-rec" else ["RecCNN", "ComCNN"]
    assert phases == first * 2


@pytest.mark.parametrize("bad, message", [({"order": "com-first"}, "train.order"), ({"outer": 0}, "train.outer")])
def test_joint_config_refuses_bad_order_and_outer(bad: dict, message: str, tmp_path: Path) -> None:
    joint = json.loads((REPO / "configs" / "comcnn-reccnn-jpeg.json").read_text())
    joint["train"].update(bad)
    with pytest.raises(ValueError, match=message):
        load_joint_config(joint, _write_json(tmp_path / "configs" / "bad.json", joint))
    good = load_joint_config(json.loads((REPO / "configs" / "comcnn-reccnn-jpeg.json").read_text()),
                             str(tmp_path / "configs" / "good.json"))
    with pytest.raises(ValueError, match=message):  # a config built in code is checked too
        replace(good, **bad)


def test_train_joint_codes_the_compact_images_of_the_comcnn_in_eval_mode(tmp_path: Path, joint_folder: Path,
                                                                         wdir: Path) -> None:
    """RecCNN trains on what the shipped ComCNN makes (batch-norm running statistics); making those
    images must not move the statistics either: with no ComCNN steps, ComCNN ends as it started."""
    cfg = joint_config(tmp_path, joint_folder, outer=1, init_steps=0, rec_steps=1, com_steps=0, rate_weight=0.0)
    torch.manual_seed(cfg.seed)
    start = nets.build("comcnn", **cfg.pre.arch_config).state_dict()
    run_dir = tmp_path / "run"
    train_joint(cfg, lambda m: None, str(run_dir), weights_dir=str(wdir), publish=False)
    end = torch.load(run_dir / "last.pt", weights_only=True)["com"]
    assert any("running_mean" in k for k in end)
    _assert_same_tensors(end, start)


def test_train_joint_without_init_post_starts_recc_nn_as_identity(tmp_path: Path, joint_folder: Path,
                                                                 wdir: Path) -> None:
    cfg = joint_config(tmp_path, joint_folder, rec_steps=0, com_steps=1, rate_weight=0.0)
    run_dir = tmp_path / "run"
    train_joint(cfg, lambda m: None, str(run_dir), weights_dir=str(wdir), publish=False)
    rec = nets.build("reccnn", **POST_CONFIG).eval()
    rec.load_state_dict(torch.load(run_dir / "last.pt", weights_only=True)["rec"])
    x = torch.rand(1, 3, 16, 16)
    assert torch.equal(rec(x), x)


def test_joint_config_built_in_code_can_publish(tmp_path: Path, joint_folder: Path, wdir: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A JointConfig made in code has no file (path ""): publishing must still work."""
    import lbcodec.metrics

    monkeypatch.setattr(lbcodec.metrics, "psnr", _fake_psnr(31.0, 30.0))
    loaded = joint_config(tmp_path, joint_folder, init_steps=1, rec_steps=1, com_steps=1, rate_weight=0.0)
    cfg = JointConfig(codec="jpeg", scale=2, pre=NetSpec(**vars(loaded.pre)), post=NetSpec(**vars(loaded.post)),
                      data=loaded.data, bpp_range=[0.5, 2.0], outer=1, init_steps=1, rec_steps=1, com_steps=1,
                      batch=4, crop=32)  # fmt: skip
    result = train_joint(cfg, lambda m: None, str(tmp_path / "run"), weights_dir=str(wdir))
    assert result["published"]
    assert zoo.get_entry(cfg.pre.name, wdir)["provenance"]["config"] is None


def test_joint_max_images_larger_than_the_folder_takes_all(tmp_path: Path, joint_folder: Path,
                                                          wdir: Path) -> None:
    cfg = joint_config(tmp_path, joint_folder, init_steps=1, rec_steps=1, com_steps=1, rate_weight=0.0)
    cfg = replace(cfg, data=replace(cfg.data, max_images=100))
    log: list[str] = []
    train_joint(cfg, log.append, str(tmp_path / "run"), weights_dir=str(wdir), publish=False)
    assert "18 training crops" in log[0]


# --------------------------------------------------------------------------- modify.py


@pytest.fixture(scope="module")
def modify_folder(tmp_path_factory) -> Path:
    """img00 (176 px, enough for 5-scale MS-SSIM) is held out; three 112 px training images."""
    root = tmp_path_factory.mktemp("modify-images")
    write_folder(root, [176, 112, 112, 112], seed=300)
    return root


def modify_config(tmp_path: Path, root: Path, **kw) -> ModifyConfig:
    raw = {"kind": "modifynet", "name": "modifynet-tiny", "container_id": 60,
           "arch_config": {"in_channels": 3, "width": 8, "depth": 3}, "emulator": "diffjpeg",
           "bpp_range": [0.5, 2.0],
           "data": {"roots": [str(root)], "holdout_every": 4, "bpps": [1.0, 2.0], "val_crop": 176},
           "train": {"steps": 2, "batch": 2, "crop": 112, "lr": 1e-4, "lr_final": 1e-5, "val_bpp": 1.0, "seed": 0}}
    raw["train"].update(kw)
    return load_modify_config(raw, _write_json(tmp_path / "configs" / "tiny-modify.json", raw))


@pytest.mark.parametrize("emulator", ["diffjpeg", "jpegnet"])
def test_train_modify_smoke(emulator: str, tmp_path: Path, modify_folder: Path, wdir: Path) -> None:
    extra = {"stages": 1, "jpegnet_steps": 1, "jpegnet_config": {"widths": [8, 8, 8]}} if emulator == "jpegnet" else {}
    cfg = replace(modify_config(tmp_path, modify_folder, **extra), emulator=emulator)
    log: list[str] = []
    result = train_modify(cfg, log.append, weights_dir=str(wdir), publish=True)
    assert "3 crops of 112px, 1 validation images" in log[0]
    assert len(result["history"]) == 1 and math.isfinite(result["score"])
    assert result["score"] == result["history"][-1]["val_msssim_gain"]
    assert abs(result["score"]) < 0.2
    assert result["published"] == (result["score"] > 0)
    models = zoo.list_models(wdir)
    if result["published"]:
        (entry,) = models
        assert entry["name"] == "modifynet-tiny" and entry["slot"]["role"] == "pre"
        assert entry["provenance"]["validation"]["score"] == round(result["score"], 5)
        net = zoo.load_model("modifynet-tiny", wdir)
        x = torch.rand(1, 3, 24, 24)
        assert net(x).shape == x.shape
    else:
        assert models == []


def test_train_modify_unknown_emulator(tmp_path: Path, modify_folder: Path) -> None:
    cfg = replace(modify_config(tmp_path, modify_folder), emulator="magic")
    with pytest.raises(ValueError, match="unknown emulator"):
        train_modify(cfg, lambda m: None, publish=False)


def test_modify_config_built_in_code_can_publish(tmp_path: Path, modify_folder: Path, wdir: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """No config file (path "") and max_images above the folder's count: trains on all, publishes."""
    import lbcodec.metrics

    calls = []

    def fake_ms_ssim(a, b):  # validate(): Modify-Net's JPEG first, then the plain JPEG
        calls.append(1)
        return 0.95 if len(calls) % 2 else 0.9

    monkeypatch.setattr(lbcodec.metrics, "ms_ssim", fake_ms_ssim)
    loaded = modify_config(tmp_path, modify_folder, steps=1)
    cfg = ModifyConfig(name="modifynet-tiny", container_id=60, arch_config=loaded.arch_config,
                       data=replace(loaded.data, max_images=100), steps=1, batch=2, crop=112, val_bpp=1.0)
    log: list[str] = []
    result = train_modify(cfg, log.append, weights_dir=str(wdir))
    assert "3 crops of 112px" in log[0]
    assert result["published"] and result["score"] == pytest.approx(0.05)
    entry = zoo.get_entry("modifynet-tiny", wdir)
    assert entry["provenance"]["config"] is None and entry["slot"]["method"] == "modifynet"


def test_relative_roots_start_at_the_parent_of_configs_at_any_depth(tmp_path: Path) -> None:
    from lbcodec.training.config import config_base

    assert config_base(str(tmp_path / "repo" / "configs" / "a.json")) == str(tmp_path / "repo")
    assert config_base(str(tmp_path / "repo" / "configs" / "experiments" / "a.json")) == str(tmp_path / "repo")
    assert config_base(str(tmp_path / "elsewhere" / "a.json")) == str(tmp_path)
    for f in sorted((REPO / "configs" / "experiments").glob("*.json")):
        _, cfg = load_any(f)
        assert all(r.startswith(str(REPO.parent)) and "/configs" not in r for r in cfg.data.roots), f


def test_train_joint_does_not_publish_what_does_not_beat_its_start(
    tmp_path: Path, joint_folder: Path, wdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A residual ComCNN starts as bicubic downsampling (and RecCNN may start trained): the
    pair must beat that starting pipeline, not only bicubic + the codec."""
    import lbcodec.metrics

    monkeypatch.setattr(lbcodec.metrics, "psnr", _fake_psnr(32.0, 30.0))  # +2 dB at the start and after
    cfg = joint_config(tmp_path, joint_folder, init_steps=0, rec_steps=1, com_steps=1, rate_weight=0.0,
                       val_bpp=None)
    cfg = dataclasses.replace(cfg, pre=dataclasses.replace(cfg.pre, arch_config={**cfg.pre.arch_config,
                                                                                 "residual": True}))
    log: list[str] = []
    run_dir = tmp_path / "run"
    result = train_joint(cfg, log.append, str(run_dir), weights_dir=str(wdir), publish=True)
    assert result["history"][0]["iteration"] == 0 and result["gain"] == pytest.approx(2.0)
    assert not result["published"]
    assert any("no better than where training started" in m for m in log)
    _check_joint_result(result, cfg, wdir, run_dir)


def test_train_joint_through_the_differentiable_jpeg(tmp_path: Path, joint_folder: Path, wdir: Path) -> None:
    cfg = joint_config(tmp_path, joint_folder, init_steps=0, rec_steps=1, com_steps=2, emulator="diffjpeg")
    cfg = dataclasses.replace(cfg, pre=dataclasses.replace(cfg.pre, arch_config={**cfg.pre.arch_config,
                                                                                 "residual": True}))
    result = train_joint(cfg, lambda m: None, str(tmp_path / "run"), weights_dir=str(wdir), publish=False)
    assert [h["iteration"] for h in result["history"]] == [0, 1]
    assert all(math.isfinite(h["val_psnr"]) for h in result["history"])
    # the ComCNN moved: its last layer started at zero
    com = torch.load(tmp_path / "run" / "last.pt", weights_only=True)["com"]
    assert com["body.2.0.weight"].abs().sum() > 0
    with pytest.raises(ValueError, match="emulator"):
        bad = dataclasses.replace(cfg, emulator="nope")
        train_joint(bad, lambda m: None, str(tmp_path / "run2"), weights_dir=str(wdir), publish=False)


def test_he_init_starts_a_residual_net_as_identity_with_live_features() -> None:
    from lbcodec.training.trainer import he_init

    torch.manual_seed(0)
    net = nets.build("reccnn", in_channels=3, width=16, depth=8, batch_norm=False).eval()
    he_init(net)
    x = torch.rand(1, 3, 24, 24)
    assert torch.equal(net(x), x)  # the zeroed last conv: identity at the start
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    h = x
    for m in convs[:-1]:  # He init keeps the features' scale through depth (no vanishing)
        h = torch.relu(m(h))
    assert h.std() > 0.2 * x.std()  # torch default init: about 0.1
    with pytest.raises(ValueError, match="init"):
        he_init(net, "xavier")


def test_train_modify_lagrangian_keeps_the_best_validated_state(tmp_path: Path, modify_folder: Path, wdir: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """He init makes Modify-Net the identity; with the Lagrangian rate term it trains, and what is
    published is the best validated state (here the first of two validations), not the last."""
    import lbcodec.metrics

    calls = []

    def fake_ms_ssim(a, b):  # validation 1: +0.05, validation 2: -0.05 (Modify-Net's JPEG first)
        calls.append(1)
        first = len(calls) <= 2
        return (0.95 if first else 0.85) if len(calls) % 2 else 0.9

    monkeypatch.setattr(lbcodec.metrics, "ms_ssim", fake_ms_ssim)
    cfg = modify_config(tmp_path, modify_folder, steps=2, val_every=1, init="he", rate_mode="lagrangian",
                        rate_weight=0.4)
    log: list[str] = []
    result = train_modify(cfg, log.append, weights_dir=str(wdir))
    assert any(m.startswith("rate proxy:") for m in log)
    assert [h["val_msssim_gain"] for h in result["history"]] == pytest.approx([0.05, -0.05])
    assert result["published"] and result["score"] == pytest.approx(0.05)
    entry = zoo.get_entry("modifynet-tiny", wdir)
    assert entry["provenance"]["best_step"] == 1 and entry["provenance"]["init"] == "he"
    assert "lagrangian" in entry["provenance"]["loss"] and "rounded proxy" in entry["provenance"]["loss"]
    with pytest.raises(ValueError, match="rate_mode"):
        train_modify(replace(cfg, rate_mode="nope"), lambda m: None, publish=False)
    with pytest.raises(ValueError, match="rate_proxy"):
        train_modify(replace(cfg, rate_proxy="nope"), lambda m: None, publish=False)


def test_train_modify_soft_rate_proxy(tmp_path: Path, modify_folder: Path, wdir: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import lbcodec.training.diffjpeg as dj

    flags: list[bool] = []
    real = dj.diff_jpeg

    def spy(x, quality, soft=False, tune="psnr"):
        flags.append(soft)
        return real(x, quality, soft, tune)

    monkeypatch.setattr(dj, "diff_jpeg", spy)
    cfg = modify_config(tmp_path, modify_folder, steps=2, val_every=2, init="he", rate_mode="lagrangian",
                        rate_weight=0.4, rate_proxy="soft")
    log: list[str] = []
    result = train_modify(cfg, log.append, weights_dir=str(wdir), publish=False)
    assert any(m.startswith("rate proxy (soft):") for m in log)
    assert len(result["history"]) == 1 and np.isfinite(result["history"][0]["loss"])
    # calibration and both training steps (Modify-Net's output and the original) use the soft proxy
    assert len(flags) == 1 + 2 * 2 and all(flags)


def _fake_gains(base: float, gains: list[float]):
    """validate() calls the metric for Modify-Net's JPEG, then for plain JPEG, once a validation
    (one validation image): Modify-Net scores ``base + gains[i]`` at validation i."""
    calls = []

    def fake(a, b):
        calls.append(1)
        return base + gains[(len(calls) - 1) // 2] if len(calls) % 2 else base

    return fake


def test_gaussian_blur_smooths_keeps_flat_images_and_pads_small_ones() -> None:
    from lbcodec.training.modify import gaussian_blur

    x = torch.rand(2, 3, 20, 20)
    y = gaussian_blur(0.6)(x)
    assert y.shape == x.shape and float(y.std()) < 0.8 * float(x.std())
    assert torch.allclose(gaussian_blur(0.6)(torch.full((1, 3, 20, 20), 0.3)), torch.tensor(0.3))
    small = gaussian_blur(2.0)(torch.rand(1, 3, 4, 4))  # radius 6: reflect cannot pad a 4 px image
    assert small.shape == (1, 3, 4, 4) and torch.isfinite(small).all()


def test_train_modify_blur_start_and_psnr_floor(tmp_path: Path, modify_folder: Path, wdir: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Validations: the blur start (+0.02 MS-SSIM, +0.1 dB), step 1 (+0.05, -0.5 dB), step 2
    (+0.01, +0.2 dB). MS-SSIM alone would keep step 1; the PSNR floor of 0 dB keeps the start."""
    import lbcodec.metrics

    monkeypatch.setattr(lbcodec.metrics, "ms_ssim", _fake_gains(0.9, [0.02, 0.05, 0.01]))
    monkeypatch.setattr(lbcodec.metrics, "psnr", _fake_gains(30.0, [0.1, -0.5, 0.2]))
    cfg = modify_config(tmp_path, modify_folder, steps=2, val_every=1, init="he", rate_mode="lagrangian",
                        rate_weight=0.4, rate_proxy="soft", init_blur=0.6, init_blur_steps=2, mae_weight=0.5,
                        val_min_psnr_gain=0.0)
    log: list[str] = []
    result = train_modify(cfg, log.append, weights_dir=str(wdir))
    h = result["history"]
    assert [e["step"] for e in h] == [0, 1, 2] and h[0]["init_blur"] == 0.6
    assert [e["val_psnr_gain"] for e in h] == pytest.approx([0.1, -0.5, 0.2])
    assert any(m.startswith("modifynet start: 2 steps onto a Gaussian blur") for m in log)
    assert result["published"] and result["score"] == pytest.approx(0.02)
    prov = zoo.get_entry("modifynet-tiny", wdir)["provenance"]
    assert prov["best_step"] == 0 and prov["init_blur"] == {"sigma": 0.6, "steps": 2}
    assert prov["validation"]["psnr_gain_db"] == pytest.approx(0.1)
    assert prov["validation"]["min_psnr_gain_db"] == 0.0
    assert "soft proxy" in prov["loss"] and "0.5 x MAE" in prov["loss"]

    # a floor no state reaches (here with the JPEG-Net emulator, also started as a blur):
    # nothing kept, nothing published, said once
    monkeypatch.setattr(lbcodec.metrics, "ms_ssim", _fake_gains(0.9, [0.02, 0.05]))
    monkeypatch.setattr(lbcodec.metrics, "psnr", _fake_gains(30.0, [0.1, -0.5]))
    cfg = replace(cfg, name="modifynet-floor", emulator="jpegnet", stages=1, jpegnet_steps=1,
                  jpegnet_config={"widths": [8, 8, 8]}, val_min_psnr_gain=1.0)
    log = []
    result = train_modify(cfg, log.append, weights_dir=str(wdir))
    assert len(result["history"]) == 2 and result["score"] == -math.inf and not result["published"]
    assert sum("no validated state reached" in m for m in log) == 1
    assert not any(m.startswith("not publishing") for m in log)
    assert [e["name"] for e in zoo.list_models(wdir)] == ["modifynet-tiny"]
    with pytest.raises(ValueError, match="init_blur"):
        train_modify(replace(cfg, init_blur_steps=0), lambda m: None, publish=False)


def test_modify_he_init_starts_as_identity(tmp_path: Path, modify_folder: Path) -> None:
    from lbcodec.training.trainer import he_init

    net = nets.build("modifynet", in_channels=3, width=8, depth=3)
    he_init(net)
    x = torch.rand(1, 3, 16, 16)
    assert torch.equal(net(x), x)


@pytest.mark.parametrize("side,win", [(256, 7), (97, 7), (96, 5), (65, 5), (64, 3), (48, 3)])
def test_msssim_window_fits_the_patch(side: int, win: int) -> None:
    import torch

    from lbcodec.training.trainer import _loss_fn, msssim_window

    assert msssim_window(side) == win
    a = torch.rand(2, 3, side, side, generator=torch.Generator().manual_seed(0))
    loss = _loss_fn("l1+msssim", 0.05)
    assert float(loss(a, a)) == pytest.approx(0.0, abs=1e-5)  # identical: no L1, MS-SSIM 1
    assert float(loss(a.flip(-1), a)) > 0.01


def test_msssim_window_refuses_tiny_patches() -> None:
    from lbcodec.training.trainer import msssim_window

    with pytest.raises(ValueError, match="larger than 32"):
        msssim_window(32)


def test_data_tune_replays_the_standard_tables_and_keeps_caches_apart(tmp_path: Path) -> None:
    """data.tune "ssim" codes the patches as the models trained before the PSNR tables were (the standard
    tables); it has its own cache key and records no changed codec settings."""
    cfg = tiny_config(tmp_path)
    ssim = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, tune="ssim"))
    assert tdata.cache_key(cfg) != tdata.cache_key(ssim)
    img = photo_like(64, 64)
    for c, tune in ((cfg, "psnr"), (ssim, "ssim")):
        out, q = tdata.degrade(img, c, 1.0)
        jpeg = get_codec("jpeg")
        assert np.array_equal(out, jpeg.decode(jpeg.encode(img, q, tune=tune), channels=3))
    with pytest.raises(ValueError, match="tune"):
        dataclasses.replace(cfg.data, tune="vmaf")


@pytest.mark.parametrize("config,loader", [("configs/comcnn-reccnn-jpeg.json", "joint"),
                                           ("configs/modifynet-jpeg.json", "modify")])
def test_extra_seeds_are_refused_where_no_trainer_reads_them(config, loader) -> None:
    import json

    from lbcodec.training.joint import load_joint_config
    from lbcodec.training.modify import load_modify_config

    root = Path(__file__).resolve().parent.parent
    raw = json.loads((root / config).read_text())
    load = load_joint_config if loader == "joint" else load_modify_config
    load(raw, str(root / config))  # as shipped: loads
    raw["data"]["extra_seeds"] = [1]
    with pytest.raises(ValueError, match="post-filter configs only"):
        load(raw, str(root / config))
