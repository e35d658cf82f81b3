"""The weights registry: a manifest table -> verified, rebuilt networks.

Weights live in one directory: ``lbcodec/weights/`` inside the package (shipped
as package data, found with :mod:`importlib.resources`), or the directory named
by the environment variable ``LBCODEC_WEIGHTS_DIR``. It holds ``manifest.json``::

    {"models": [
      {"name": "arcnn-jpeg-q10",            # unique id, also the file stem
       "arch": "arcnn",                     # lbcodec.nets registry name
       "config": {"in_channels": 3, ...},   # full constructor arguments
       "slot": {"role": "post",             # "pre" (before encoder) | "post"
                "method": "none",           # pipeline method it serves
                "codec": "jpeg",
                "scale": 2,                 # optional: the pipeline's scale (1 or 2)
                "quality": [5, 15],         # optional: inclusive quality range
                "bpp": [0.1, 0.3]},         # optional: inclusive bpp range
       "file": "arcnn-jpeg-q10.safetensors",
       "sha256": "<hex digest of the file>",
       "container_id": 3,                   # fixed, unique, 1..255 (0 = no model
                                            # in a .lbc header); never reused
       "provenance": {"data": ..., "steps": ..., "loss": ..., "device": ...,
                      "time_s": ..., "validation": {"metric": "psnr_gain_db",
                                                    "dataset": ..., "score": ...}},
       "storage": "float16",                # optional: tensors stored at half precision
       "sha256_float32": "<hex digest>"}    # optional: the float32 file it replaced
    ]}

Only :func:`load_state_dict`, :func:`load_model`, :func:`publish` and
:func:`store_half` import torch; reading the manifest does not. Weights are safetensors (never pickle)
and are hash-checked before every load.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
from collections.abc import Mapping
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import LbcError

if TYPE_CHECKING:
    from torch import Tensor, nn

__all__ = [
    "ENV_VAR",
    "ZooError",
    "find_default",
    "trained_after",
    "entry_by_container_id",
    "get_entry",
    "list_models",
    "load_manifest",
    "load_model",
    "load_state_dict",
    "publish",
    "store_half",
    "as_stored",
    "hash_prefixes",
    "verify",
    "default_weights_dir",
]

ENV_VAR = "LBCODEC_WEIGHTS_DIR"
STORAGE_DTYPES = ("float32", "float16")
# what ``lbcodec train`` publishes at: float16 halves the files, and changes a
# shipped net's Kodak PSNR by at most 0.0005 dB (scripts/half_check.py, docs/results.md)
SHIP_DTYPE = "float16"
MANIFEST = "manifest.json"
ROLES = ("pre", "post")
MAX_CONTAINER_ID = 255
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class ZooError(LbcError, ValueError):
    """A model is unknown, its file is missing or altered, or the manifest is invalid.

    An :class:`~lbcodec.errors.LbcError` (the CLI reports it in one line) and a
    ``ValueError``.
    """


def default_weights_dir() -> Path:
    """The weights directory: ``$LBCODEC_WEIGHTS_DIR`` if set, else ``lbcodec/weights``."""
    override = os.environ.get(ENV_VAR)
    if override:
        return Path(override)
    resource = files("lbcodec").joinpath("weights")
    if not isinstance(resource, Path):  # e.g. a zipped install
        raise ZooError(f"lbcodec/weights is not on a file system; set {ENV_VAR}")
    return resource


def _dir(weights_dir: str | os.PathLike[str] | None) -> Path:
    return Path(weights_dir) if weights_dir is not None else default_weights_dir()


def _check_unique(models: list[dict[str, Any]]) -> None:
    names: set[str] = set()
    ids: set[int] = set()
    for entry in models:
        name, cid = entry.get("name"), entry.get("container_id")
        if name in names:
            raise ZooError(f"manifest: duplicate model name {name!r}")
        if cid in ids:
            raise ZooError(f"manifest: duplicate container_id {cid} ({name!r})")
        names.add(name)
        ids.add(cid)


def load_manifest(weights_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Read and check ``manifest.json``; an absent manifest means no models.

    Raises:
        ZooError: invalid JSON, no ``models`` list, or duplicate names / ids.
    """
    path = _dir(weights_dir) / MANIFEST
    if not path.exists():
        return {"models": []}
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ZooError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("models"), list):
        raise ZooError(f"{path}: expected an object with a 'models' list")
    _check_unique(manifest["models"])
    return manifest


def list_models(weights_dir: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """All manifest entries, in manifest order."""
    return list(load_manifest(weights_dir)["models"])


def get_entry(name: str, weights_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The manifest entry called ``name``; ZooError if there is none."""
    for entry in list_models(weights_dir):
        if entry["name"] == name:
            return entry
    raise ZooError(f"unknown model {name!r} in {_dir(weights_dir) / MANIFEST}")


def entry_by_container_id(
    container_id: int, weights_dir: str | os.PathLike[str] | None = None
) -> dict[str, Any] | None:
    """The entry with this fixed ``container_id`` (what a .lbc header stores), or None."""
    for entry in list_models(weights_dir):
        if entry["container_id"] == container_id:
            return entry
    return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(name: str, weights_dir: str | os.PathLike[str] | None = None) -> Path:
    """Check that model ``name``'s file exists and matches its sha256; return its path.

    Raises:
        ZooError: unknown name, missing file, or hash mismatch (altered file).
    """
    entry = get_entry(name, weights_dir)
    path = _dir(weights_dir) / entry["file"]
    if not path.is_file():
        raise ZooError(f"model {name!r}: weights file {path} is missing")
    actual = _sha256(path)
    if actual != entry["sha256"]:
        raise ZooError(
            f"model {name!r}: {path} has sha256 {actual}, manifest says {entry['sha256']}"
            " (file altered or manifest stale)"
        )
    return path


def load_state_dict(
    name: str, weights_dir: str | os.PathLike[str] | None = None, device: str = "cpu"
) -> dict[str, Tensor]:
    """The verified tensors of model ``name`` as stored (float16 for a model with
    ``"storage": "float16"``; ``load_state_dict`` into a float32 net widens them)."""
    from safetensors.torch import load_file

    return load_file(verify(name, weights_dir), device=device)


def load_model(
    name: str, weights_dir: str | os.PathLike[str] | None = None, device: str = "cpu"
) -> nn.Module:
    """Load model ``name`` for inference: verified, rebuilt from its weights,
    batch norm folded into the convolutions, in eval mode, no gradients.

    Raises:
        ZooError: unknown name, missing or altered file, or weights that do
        not fit the manifest's arch/config.
    """
    from lbcodec import nets

    entry = get_entry(name, weights_dir)
    state_dict = load_state_dict(name, weights_dir, device)
    try:
        net = nets.from_state_dict(entry["arch"], state_dict, **entry.get("config", {}))
    except (ValueError, RuntimeError) as exc:
        raise ZooError(f"model {name!r}: weights do not fit arch {entry['arch']!r}: {exc}") from exc
    fuse = getattr(net, "fuse_bn", None)
    if callable(fuse):
        fuse()
    return net.eval().requires_grad_(False)


def _range_contains(bounds: Any, value: float | None) -> bool:
    return value is None or bounds is None or bounds[0] <= value <= bounds[1]


def find_default(
    role: str,
    method: str,
    codec: str,
    scale: float | None = None,
    quality: float | None = None,
    bpp: float | None = None,
    channels: int | None = None,
    weights_dir: str | os.PathLike[str] | None = None,
    pre: str | None = None,
    arch: str | None = None,
) -> dict[str, Any] | None:
    """The best entry for a pipeline slot, or None if no model fits.

    An entry fits when its slot has this ``role``, ``method`` and ``codec``;
    when ``scale`` is given, the slot's scale (if stated) equals it; when
    ``quality`` / ``bpp`` is given, the slot's range (if stated) contains it;
    when ``channels`` is given, ``config["in_channels"]`` (default 3) equals it.
    Among fits, the best is the most specialised (narrowest quality, then bpp
    range), then the highest ``provenance["validation"]["score"]``, then the
    smallest container_id (so the choice is deterministic). When the codec has
    ``settings_tag`` (its encoder settings changed) and some fits were trained on
    those settings (``provenance["data"]["codec_settings"]``), only they compete:
    scores measured on another encoder's decodes are not comparable. ``pre`` (the
    name of the pre-filter a post-filter will follow) comes before that: the post models
    trained on that pre-filter's outputs (provenance ``data.pre``) compete alone; without
    any, the models that name no pre-filter; only then the partners of other pre-filters
    (a RecCNN trained on one ComCNN's compact images is not another ComCNN's partner).
    ``arch`` keeps only the models of that network family.
    """

    def fits(entry: Mapping[str, Any]) -> bool:
        slot = entry.get("slot", {})
        if (slot.get("role"), slot.get("method"), slot.get("codec")) != (role, method, codec):
            return False
        if scale is not None and slot.get("scale") is not None:
            if not math.isclose(float(slot["scale"]), float(scale)):
                return False
        if channels is not None and entry.get("config", {}).get("in_channels", 3) != channels:
            return False
        if arch is not None and entry.get("arch") != arch:
            return False
        return _range_contains(slot.get("quality"), quality) and _range_contains(
            slot.get("bpp"), bpp
        )

    def rank(entry: Mapping[str, Any]) -> tuple[float, float, float, int]:
        q, b = entry["slot"].get("quality"), entry["slot"].get("bpp")
        q_width = q[1] - q[0] if q is not None else math.inf
        b_width = b[1] - b[0] if b is not None else math.inf
        score = entry.get("provenance", {}).get("validation", {}).get("score")
        return (q_width, b_width, -score if score is not None else math.inf, entry["container_id"])

    candidates = [e for e in list_models(weights_dir) if fits(e)]
    if pre is not None:  # a partner first, then a model that follows no pre-filter in particular
        candidates = ([e for e in candidates if trained_after(e) == pre]
                      or [e for e in candidates if trained_after(e) is None] or candidates)
    # validation scores are comparable only on decodes of the same encoder: once a codec's
    # tune="psnr" settings changed, the models trained on the current settings come first
    from .codecs import settings_tag

    current = settings_tag(codec)
    if current:
        same = [e for e in candidates if _trained_on(e) == current]
        candidates = same or candidates
    return min(candidates, key=rank) if candidates else None


def trained_after(entry: Mapping[str, Any]) -> str | None:
    """The pre-filter whose outputs a post model was trained on (provenance ``data.pre``), if recorded."""
    return data_field(entry, "pre")


def _trained_on(entry: Mapping[str, Any]) -> str | None:
    """The codec settings a model's training data was coded with (provenance ``data.codec_settings``), if recorded."""
    return data_field(entry, "codec_settings")


def data_field(entry: Mapping[str, Any], key: str) -> Any:
    """``provenance["data"][key]`` of a registry entry, or None (older entries lack the field, or ``data``)."""
    data = entry.get("provenance", {}).get("data")
    return data.get(key) if isinstance(data, Mapping) else None


def _check_slot(slot: Mapping[str, Any]) -> None:
    if slot.get("role") not in ROLES:
        raise ZooError(f"slot role must be one of {ROLES}, got {slot.get('role')!r}")
    for key in ("method", "codec"):
        if not isinstance(slot.get(key), str) or not slot[key]:
            raise ZooError(f"slot needs a non-empty string {key!r}")
    for key in ("quality", "bpp"):
        bounds = slot.get(key)
        if bounds is not None and not (
            isinstance(bounds, (list, tuple)) and len(bounds) == 2 and bounds[0] <= bounds[1]
        ):
            raise ZooError(f"slot {key!r} must be [low, high], got {bounds!r}")


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; shipped files must be readable by everyone
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_entry(directory: Path, manifest: dict[str, Any], entry: Mapping[str, Any], data: bytes) -> None:
    """Write a model's file, then the manifest that names it (each atomically)."""
    _write_atomic(directory / entry["file"], data)
    _write_atomic(directory / MANIFEST, (json.dumps(manifest, indent=2) + "\n").encode("utf-8"))


def publish(
    name: str,
    arch: str,
    state_dict: Mapping[str, Tensor],
    slot: Mapping[str, Any],
    provenance: Mapping[str, Any],
    container_id: int,
    weights_dir: str | os.PathLike[str] | None = None,
    config: Mapping[str, Any] | None = None,
    dtype: str = "float32",
) -> dict[str, Any]:
    """Write ``<name>.safetensors`` and its manifest entry (with sha256) together.

    The weights are first rebuilt with :func:`lbcodec.nets.from_state_dict`
    (``config`` gives the options shapes cannot tell, e.g. ``residual``), so a
    published file always loads; the entry stores the net's full config.
    Republishing a name replaces its file and entry but must keep its
    container_id; a container_id used by another name is refused.

    Returns:
        The new manifest entry.

    Raises:
        ZooError: bad name, slot or container_id; ValueError / RuntimeError from
        the rebuild when the weights do not fit ``arch``.
    """
    from safetensors.torch import save

    from lbcodec import nets

    if not _NAME_RE.match(name):
        raise ZooError(f"model name {name!r} must match {_NAME_RE.pattern}")
    if isinstance(container_id, bool) or not isinstance(container_id, int) or not (
        1 <= container_id <= MAX_CONTAINER_ID
    ):
        raise ZooError(f"container_id must be an int in 1..{MAX_CONTAINER_ID}, got {container_id!r}")
    _check_slot(slot)
    if dtype not in STORAGE_DTYPES:
        raise ZooError(f"storage dtype must be one of {', '.join(STORAGE_DTYPES)}, got {dtype!r}")
    tensors = as_stored({k: v.detach().to("cpu").contiguous() for k, v in state_dict.items()}, dtype)
    net = nets.from_state_dict(arch, tensors, **dict(config or {}))
    full_config = json.loads(json.dumps(net.config))  # tuples -> lists, checks JSON-ability

    directory = _dir(weights_dir)
    directory.mkdir(parents=True, exist_ok=True)
    manifest = load_manifest(weights_dir)
    others = [e for e in manifest["models"] if e["name"] != name]
    old = next((e for e in manifest["models"] if e["name"] == name), None)
    if old is not None and old["container_id"] != container_id:
        raise ZooError(
            f"model {name!r} has container_id {old['container_id']}; ids are fixed, got {container_id}"
        )
    clash = next((e for e in others if e["container_id"] == container_id), None)
    if clash is not None:
        raise ZooError(f"container_id {container_id} is already used by {clash['name']!r}")

    metadata = {"name": name, "arch": arch, "config": json.dumps(full_config, sort_keys=True)}
    data = save(tensors, metadata=metadata)
    entry = {
        "name": name,
        "arch": arch,
        "config": full_config,
        "slot": json.loads(json.dumps(dict(slot))),
        "file": f"{name}.safetensors",
        "sha256": hashlib.sha256(data).hexdigest(),
        "container_id": container_id,
        "provenance": json.loads(json.dumps(dict(provenance))),
    }
    if dtype != "float32":
        entry["storage"] = dtype
    models = [entry if e["name"] == name else e for e in manifest["models"]]
    if old is None:
        models.append(entry)
    manifest["models"] = models
    _write_entry(directory, manifest, entry, data)
    return entry


def as_stored(tensors: Mapping[str, Tensor], dtype: str) -> dict[str, Tensor]:
    """``tensors`` as a file of storage ``dtype`` holds them: every float32 one cast to
    ``dtype``, others untouched (``load_state_dict`` into a float32 net widens them back)."""
    import torch

    if dtype == "float32":
        return dict(tensors)
    target = getattr(torch, dtype)
    return {k: (v.to(target) if v.dtype == torch.float32 else v) for k, v in tensors.items()}


def hash_prefixes(entry: Mapping[str, Any], n: int = 8) -> set[str]:
    """The sha256 hex prefixes a ``.lbc`` header may carry for this model: its
    file's, and (for a model converted with :func:`store_half`) the float32
    file's it was converted from, so files encoded before the conversion still
    match."""
    return {h[:n] for h in (entry.get("sha256"), entry.get("sha256_float32")) if h}


def store_half(name: str, weights_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Rewrite model ``name``'s file with its float32 tensors stored as float16.

    The entry keeps everything else (container_id, provenance, validation) and
    gains ``"storage": "float16"`` and ``"sha256_float32"`` (the replaced
    file's hash). A model already stored at half precision is left alone.

    Returns:
        The (new) manifest entry.
    """
    from safetensors import safe_open
    from safetensors.torch import save

    entry = get_entry(name, weights_dir)
    if entry.get("storage") == "float16":
        return entry
    path = verify(name, weights_dir)
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata() or {}
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}
    data = save(as_stored(tensors, "float16"), metadata=metadata)
    new = {**entry, "sha256": hashlib.sha256(data).hexdigest(), "storage": "float16",
           "sha256_float32": entry["sha256"]}
    manifest = load_manifest(weights_dir)
    manifest["models"] = [new if e["name"] == name else e for e in manifest["models"]]
    _write_entry(_dir(weights_dir), manifest, new, data)
    return new
