"""Weights registry: publish tiny weights into a temporary directory and load them back."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from lbcodec import nets, zoo
from lbcodec.errors import LbcError
from lbcodec.zoo import ZooError

SLOT = {"role": "post", "method": "none", "codec": "jpeg", "scale": 1, "quality": [5, 15]}
PROV = {"data": "test", "steps": 0, "loss": "mse", "device": "cpu", "time_s": 0.0}


@pytest.fixture
def wdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(zoo.ENV_VAR, str(tmp_path))
    return tmp_path


def tiny_arcnn() -> nn.Module:
    torch.manual_seed(0)
    return nets.build("arcnn", in_channels=1, widths=[4, 4, 4], residual=False).eval()


def publish_arcnn(name: str = "arcnn-tiny", container_id: int = 1, **slot) -> nn.Module:
    net = tiny_arcnn()
    zoo.publish(
        name, "arcnn", net.state_dict(), {**SLOT, **slot}, PROV, container_id,
        config={"residual": False},
    )  # fmt: skip
    return net


def test_publish_then_load(wdir: Path) -> None:
    net = publish_arcnn()
    entry = zoo.get_entry("arcnn-tiny")
    assert entry["file"] == "arcnn-tiny.safetensors" and (wdir / entry["file"]).is_file()
    assert entry["config"] == {
        "in_channels": 1, "kernels": [9, 7, 1, 5], "widths": [4, 4, 4], "residual": False,
    }  # fmt: skip
    assert json.loads((wdir / "manifest.json").read_text())["models"] == [entry]
    loaded = zoo.load_model("arcnn-tiny")
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    x = torch.rand(1, 1, 11, 9)
    with torch.no_grad():
        assert torch.equal(loaded(x), net(x))


def test_publish_at_half_precision(wdir: Path) -> None:
    net = publish_arcnn()
    torch.manual_seed(1)
    big = nets.build("reccnn", in_channels=3, width=16, depth=4, batch_norm=False)
    zoo.publish("r32", "reccnn", big.state_dict(), SLOT, PROV, 2)
    zoo.publish("r16", "reccnn", big.state_dict(), SLOT, PROV, 3, dtype="float16")
    e32, e16 = zoo.get_entry("r32"), zoo.get_entry("r16")
    assert "storage" not in e32 and e16["storage"] == "float16"
    size32, size16 = ((wdir / e["file"]).stat().st_size for e in (e32, e16))
    assert size16 < 0.55 * size32
    stored = zoo.load_state_dict("r16")
    assert all(v.dtype == torch.float16 for v in stored.values())
    assert all(torch.equal(stored[k], v.half()) for k, v in big.state_dict().items())
    loaded = zoo.load_model("r16")  # widened back: runs on float32 input
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    x = torch.rand(1, 3, 12, 10)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), big.eval()(x), atol=2e-3, rtol=0)
    with pytest.raises(ZooError, match="storage dtype"):
        zoo.publish("bad", "arcnn", net.state_dict(), SLOT, PROV, 4, dtype="bfloat16")


def test_store_half_keeps_the_entry_and_records_the_old_hash(wdir: Path) -> None:
    net = publish_arcnn(container_id=9)
    old = zoo.get_entry("arcnn-tiny")
    new = zoo.store_half("arcnn-tiny")
    assert new == zoo.get_entry("arcnn-tiny")
    assert new["sha256"] != old["sha256"] and new["sha256_float32"] == old["sha256"]
    assert new["storage"] == "float16"
    assert {k: v for k, v in new.items() if k not in ("sha256_float32", "storage")} == {**old, "sha256": new["sha256"]}
    assert zoo.hash_prefixes(new) == {old["sha256"][:8], new["sha256"][:8]}
    assert zoo.hash_prefixes(old) == {old["sha256"][:8]}
    assert all(torch.equal(zoo.load_state_dict("arcnn-tiny")[k], v.half()) for k, v in net.state_dict().items())
    data = (wdir / new["file"]).read_bytes()
    assert zoo.store_half("arcnn-tiny") == new and (wdir / new["file"]).read_bytes() == data  # idempotent
    zoo.load_model("arcnn-tiny")  # the new hash verifies


def test_shipped_weights_are_stored_at_half_precision(monkeypatch: pytest.MonkeyPatch) -> None:
    from safetensors import safe_open

    monkeypatch.delenv(zoo.ENV_VAR, raising=False)
    wdir = zoo.default_weights_dir()
    for entry in zoo.list_models(wdir):
        assert entry.get("storage") == "float16", entry["name"]
        with safe_open(str(wdir / entry["file"]), framework="pt") as f:
            dtypes = {f.get_slice(k).get_dtype() for k in f.keys()}
        assert dtypes <= {"F16", "I64"} and "F16" in dtypes, (entry["name"], dtypes)


def test_shipped_weights_stay_under_40_mb_and_every_file_is_in_the_manifest(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 4: all shipped weight files together under 40 MB; no stray file ships unlisted."""
    monkeypatch.delenv(zoo.ENV_VAR, raising=False)
    wdir = zoo.default_weights_dir()
    listed = {entry["file"] for entry in zoo.list_models(wdir)}
    on_disk = {p.name for p in wdir.glob("*.safetensors")}
    assert on_disk == listed
    assert sum((wdir / name).stat().st_size for name in on_disk) < 40_000_000


def test_load_folds_batch_norm(wdir: Path) -> None:
    torch.manual_seed(0)
    net = nets.build("reccnn", in_channels=3, width=4, depth=3)
    net(torch.rand(2, 3, 8, 8))  # train-mode pass: non-trivial running stats
    net.eval()
    zoo.publish("rec", "reccnn", net.state_dict(), {**SLOT, "role": "post"}, PROV, 7)
    assert zoo.get_entry("rec")["config"]["batch_norm"] is True
    loaded = zoo.load_model("rec")
    assert not any(isinstance(m, nn.BatchNorm2d) for m in loaded.modules())
    x = torch.rand(1, 3, 10, 9)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), net(x), atol=1e-5, rtol=0)
    assert set(zoo.load_state_dict("rec")) == set(net.state_dict())  # unfused on disk


def test_altered_missing_and_unknown(wdir: Path) -> None:
    publish_arcnn()
    path = wdir / "arcnn-tiny.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(ZooError, match="sha256"):
        zoo.load_model("arcnn-tiny")
    path.unlink()
    with pytest.raises(ZooError, match="missing"):
        zoo.load_model("arcnn-tiny")
    with pytest.raises(ZooError, match="unknown model"):
        zoo.load_model("nope")
    assert issubclass(ZooError, ValueError) and issubclass(ZooError, LbcError)


def test_weights_that_do_not_fit_the_manifest(wdir: Path) -> None:
    publish_arcnn()
    manifest = json.loads((wdir / "manifest.json").read_text())
    manifest["models"][0]["config"]["residual"] = True  # fine: not in the shapes
    manifest["models"][0]["config"]["widths"] = [8, 8, 8]
    (wdir / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ZooError, match="do not fit"):
        zoo.load_model("arcnn-tiny")


def test_container_ids_are_unique_and_fixed(wdir: Path) -> None:
    publish_arcnn("a", 1)
    with pytest.raises(ZooError, match="already used"):
        publish_arcnn("b", 1)
    with pytest.raises(ZooError, match="ids are fixed"):
        publish_arcnn("a", 2)
    for bad in (0, 256, True, "3"):
        with pytest.raises(ZooError, match="container_id"):
            publish_arcnn("c", bad)  # type: ignore[arg-type]
    publish_arcnn("a", 1, quality=[1, 9])  # republish keeps the id: replaces the entry
    assert [e["slot"]["quality"] for e in zoo.list_models()] == [[1, 9]]
    assert zoo.entry_by_container_id(1)["name"] == "a"
    assert zoo.entry_by_container_id(9) is None


def test_manifest_with_duplicate_ids_is_refused(wdir: Path) -> None:
    models = [{"name": "a", "container_id": 1}, {"name": "b", "container_id": 1}]
    (wdir / "manifest.json").write_text(json.dumps({"models": models}))
    with pytest.raises(ZooError, match="duplicate container_id"):
        zoo.list_models()


def test_bad_publish_arguments(wdir: Path) -> None:
    sd = tiny_arcnn().state_dict()
    with pytest.raises(ZooError, match="name"):
        zoo.publish("Bad Name", "arcnn", sd, SLOT, PROV, 1)
    with pytest.raises(ZooError, match="role"):
        zoo.publish("x", "arcnn", sd, {**SLOT, "role": "mid"}, PROV, 1)
    with pytest.raises(ValueError, match="contradicts"):
        zoo.publish("x", "arcnn", sd, SLOT, PROV, 1, config={"in_channels": 3})
    assert zoo.list_models() == []


def test_find_default(wdir: Path) -> None:
    publish_arcnn("wide", 1, quality=[1, 100])
    publish_arcnn("narrow", 2, quality=[5, 15])
    publish_arcnn("webp", 3, codec="webp")
    assert zoo.find_default("post", "none", "jpeg", quality=10)["name"] == "narrow"
    assert zoo.find_default("post", "none", "jpeg", quality=50)["name"] == "wide"
    assert zoo.find_default("post", "none", "jpeg", scale=1)["name"] == "narrow"
    assert zoo.find_default("post", "none", "jpeg", scale=2) is None
    assert zoo.find_default("post", "none", "jpeg", channels=3) is None
    assert zoo.find_default("pre", "none", "jpeg") is None
    assert zoo.find_default("post", "none", "webp", quality=10)["name"] == "webp"


def test_package_manifest_is_empty_and_found(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(zoo.ENV_VAR, raising=False)
    directory = zoo.default_weights_dir()
    assert directory.parts[-2:] == ("lbcodec", "weights")
    assert (directory / "manifest.json").is_file()
    assert isinstance(zoo.load_manifest()["models"], list)


def test_reading_the_manifest_does_not_import_torch() -> None:
    code = "import sys, lbcodec.zoo as z; z.list_models(); assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_find_default_prefers_models_trained_on_the_current_encoder_settings(wdir: Path) -> None:
    """Scores from decodes of another encoder are not comparable: the current settings' models compete alone."""
    from lbcodec.codecs import CODECS

    tag = CODECS["heif"].settings_tag
    assert tag
    slot = {**SLOT, "codec": "heif"}
    sd = tiny_arcnn().state_dict()

    def pub(name, cid, score, settings=None):
        data = {"roots": ["x"]} | ({"codec_settings": settings} if settings else {})
        prov = {**PROV, "data": data, "validation": {"score": score}}
        zoo.publish(name, "arcnn", sd, slot, prov, cid, config={"residual": False})

    pub("old-high", 1, 0.20)
    pub("older-settings", 2, 0.19, settings="aq-strength 0.2")
    assert zoo.find_default("post", "none", "heif")["name"] == "old-high"  # nobody on the current settings
    pub("current", 3, 0.10, settings=tag)
    assert zoo.find_default("post", "none", "heif")["name"] == "current"
    pub("current-better", 4, 0.12, settings=tag)
    assert zoo.find_default("post", "none", "heif")["name"] == "current-better"


def test_find_default_pairs_a_post_model_with_its_pre_filter(wdir: Path) -> None:
    """A RecCNN trained on one ComCNN's compact images is that ComCNN's partner, whatever the scores."""
    slot = {**SLOT, "method": "comcnn", "scale": 2, "quality": None}
    sd = tiny_arcnn().state_dict()

    def pub(name, cid, score, pre=None):
        data = {"roots": ["x"]} | ({"pre": pre} if pre else {})
        prov = {**PROV, "data": data, "validation": {"score": score}}
        zoo.publish(name, "arcnn", sd, slot, prov, cid, config={"residual": False})

    pub("old-rec", 1, 2.0, pre="old-com")
    pub("new-rec", 2, 0.5, pre="new-com")
    pub("unpaired", 3, 3.0)
    assert zoo.trained_after(zoo.get_entry("new-rec")) == "new-com"
    assert zoo.trained_after(zoo.get_entry("unpaired")) is None
    assert zoo.find_default("post", "comcnn", "jpeg")["name"] == "unpaired"  # no pre given: the score
    assert zoo.find_default("post", "comcnn", "jpeg", pre="new-com")["name"] == "new-rec"
    assert zoo.find_default("post", "comcnn", "jpeg", pre="old-com")["name"] == "old-rec"
    assert zoo.find_default("post", "comcnn", "jpeg", pre="other-com")["name"] == "unpaired"  # nobody paired
