"""The pre- and post-filter slots of a pipeline.

``prefilter`` turns the original image into the *compact* image that the standard
codec encodes (identity, bicubic downsampling, ComCNN, Modify-Net);
``reconstruct`` turns the decoded compact image back into an image of the
original size (identity or bicubic upsampling, then a restoration network).
``choose_post`` picks the post-filter that ``encode`` records in the header: for a
trained pre-filter (the slot's default, or one named with ``pre``), the post models
trained on its outputs come first.

Models come from the weights registry (:mod:`lbcodec.zoo`). While no trained
model exists for a slot, the CNN pre-filters fall back to their classical twin
(comcnn -> bicubic downsampling, modifynet -> none; the header records what was
really done) and the decoder falls back to bicubic only, each with a note.
Array contract: uint8 ``(H, W, C)`` in and out, C = 1 or 3.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from . import zoo
from .errors import InputError
from .pipeline import POST_NONE_ID, RESIZING_METHODS, Pipeline, compact_size
from .resample import resize_bicubic, resize_bicubic_u8, to_u8

#: post-filter network families a user may name with --post
POST_NETS = ("srcnn", "arcnn", "reccnn", "attention", "shufflecnn")
#: tile side (pixels) for CNN inference; memory is bounded by it
TILE = 512
#: nets with global pooling (attention) run whole up to this side, then in tiles with
#: GLOBAL_OVERLAP pixels of context (exact below it, approximate above)
GLOBAL_TILE = 1024
GLOBAL_OVERLAP = 32
_FALLBACK = {"comcnn": "downsample", "modifynet": "none"}
#: without resizing (method none, and ``restore``), a post-filter picked by ``auto`` or a network family
#: runs on bitstreams up to this multiple of the highest rate it was trained on (never below the top of
#: its slot's range), no further: there the decoded image is already close and a network trained on
#: heavier artifacts smooths real detail away. Measured in docs/results.md, "Post-filters above their
#: rates". Resizing methods keep their post-filter at every rate: it also undoes the bicubic upsampling.
RATE_SLACK = 1.2


@functools.lru_cache(maxsize=8)
def _load(name: str):
    import torch

    return zoo.load_model(name).to(memory_format=torch.channels_last)


def _run(net, img: np.ndarray, ensemble: bool = False,
         progress: Callable[[float], None] | None = None, precision: str = "fp32") -> np.ndarray:
    """Run a registered net on a uint8 image, tiled; gray images go through RGB nets as R=G=B.

    ``progress(fraction)`` is called after every tile (of every pass with ``ensemble``).
    ``precision="bf16"`` runs the net under bfloat16 autocast on the CPU (see
    :mod:`lbcodec.precision`) when its output is its input plus a correction (``residual``),
    so that the output itself stays float32; other nets, and nets on a GPU, run as they are."""
    import torch

    from .nets.tiling import _device_of, image_to_tensor, run_tiled, self_ensemble

    cin = net.config.get("in_channels", 3)
    src = np.repeat(img, 3, axis=2) if img.shape[2] == 1 and cin == 3 else img
    x = image_to_tensor(src)
    on_tile = None
    if progress is not None:  # every ensemble pass has as many tiles (a 90-degree turn swaps the two counts)
        progress(0.0)  # the net starts: a progress bar may show from here
        passes, tiles = (8 if ensemble else 1), [0]

        def on_tile(done: int, total: int) -> None:
            tiles[0] += 1
            progress(tiles[0] / (total * passes))

    if getattr(net, "receptive_radius", 0) is None:
        run = functools.partial(run_tiled, net, tile=GLOBAL_TILE, overlap=GLOBAL_OVERLAP, on_tile=on_tile)
    else:
        run = functools.partial(run_tiled, net, tile=TILE, on_tile=on_tile)
    on_cpu = _device_of(net, torch.device("cpu")).type == "cpu"
    bf16 = precision == "bf16" and getattr(net, "residual", False) and on_cpu
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        y = self_ensemble(run, x.float() / 255.0) if ensemble else run(x)
        if img.shape[2] == 1 and y.shape[1] == 3:
            y = y.mean(dim=1, keepdim=True)
        # in place: on a 6000x4000 image each float copy of the output is 288 MB
        y = y.clamp_(0, 1).mul_(255).round_().to(torch.uint8)
    return np.ascontiguousarray(y[0].permute(1, 2, 0).numpy())


def check_pre_name(pre: str) -> dict[str, Any]:
    """The entry of registry model ``pre`` if it is a pre-filter (whatever its slot); InputError
    otherwise, in one line."""
    try:
        entry = zoo.get_entry(pre)
    except zoo.ZooError:
        raise InputError(f"unknown pre-filter model {pre!r}: see `lbcodec models` for the trained models") from None
    role = entry.get("slot", {}).get("role")
    if role != "pre":
        what = "a post-filter (role post)" if role == "post" else f"of role {role!r}"
        raise InputError(f"model {pre} is {what}, not a pre-filter; see `lbcodec models`")
    return entry


def check_pre(pre: str, method: str, codec: str, scale: int, notes: list[str]) -> dict[str, Any]:
    """Check that registry model ``pre`` can be the pre-filter of this slot, and return its entry.

    InputError (one line) for an unknown name, a model that is not a pre-filter (:func:`check_pre_name`),
    or one trained for another method or scale; a model trained for another codec is allowed, with a note."""
    entry = check_pre_name(pre)
    slot = entry.get("slot", {})
    if slot.get("method") not in _FALLBACK:
        raise InputError(f"model {pre} is registered for method {slot.get('method')}, which runs no pre-filter "
                         f"network: --pre is for {' and '.join(_FALLBACK)} models")
    if slot.get("method") != method:
        raise InputError(f"model {pre} is a {slot.get('method')} pre-filter: it needs --method {slot.get('method')}, "
                         f"not {method}")
    if slot.get("scale") is not None and int(slot["scale"]) != scale:
        raise InputError(f"model {pre} was trained for scale x1/{slot['scale']}, not x1/{scale}: "
                         f"use --scale {slot['scale']}")
    if slot.get("codec") != codec:
        notes.append(f"model {pre} was trained for {slot.get('codec')}/{method}, not {codec}/{method}")
    return entry


def default_pre(method: str, codec: str, scale: int) -> dict[str, Any] | None:
    """The slot's default pre-filter entry (methods comcnn and modifynet), or None."""
    return zoo.find_default("pre", method, codec, scale) if method in _FALLBACK else None


def prefilter(method: str, pixels: np.ndarray, scale: int, codec: str, notes: list[str],
              pre: str | None = None) -> tuple[np.ndarray, str]:
    """Original uint8 HxWxC -> (compact uint8 image for the codec, the method really used).

    ``pre`` names the registry model to run instead of the slot's default (checked by
    :func:`check_pre` first: InputError if it cannot serve this slot)."""
    h, w = pixels.shape[:2]
    named = check_pre(pre, method, codec, scale, notes) if pre is not None else None
    if method in _FALLBACK:
        entry = named if named is not None else default_pre(method, codec, scale)
        if entry is None:
            method_used = _FALLBACK[method]
            others = sorted({e["slot"].get("scale", 1) for e in zoo.list_models()
                             if (e["slot"].get("role"), e["slot"].get("method"), e["slot"].get("codec"))
                             == ("pre", method, codec)})
            if others and method in RESIZING_METHODS:
                have = ", ".join(f"x1/{k}" for k in others)
                notes.append(f"no trained {method} model for {codec} at scale {scale} is installed (there is one "
                             f"for {have}): using {method_used} instead")
            else:
                notes.append(f"no trained {method} model for {codec} is installed: using {method_used} instead")
            return prefilter(method_used, pixels, scale if method_used in RESIZING_METHODS else 1, codec, notes)
        out = _run(_load(entry["name"]), pixels)
        want = compact_size(w, h, scale) if method in RESIZING_METHODS else (w, h)
        if (out.shape[1], out.shape[0]) != want:
            raise InputError(f"model {entry['name']} made a {out.shape[1]}x{out.shape[0]} image, expected {want}")
        return out, method
    if method == "none":
        return pixels, method
    if method == "downsample":
        return resize_bicubic_u8(pixels, compact_size(w, h, scale)), method
    raise InputError(f"unknown method {method!r}")


def pre_in_use(method: str, codec: str, scale: int, pre: str | None) -> str | None:
    """The pre-filter model a post-filter of this slot follows: ``pre`` if named, else the slot's
    default (None for methods without one, or when none is installed)."""
    if pre is not None:
        return pre
    entry = default_pre(method, codec, scale)
    return entry["name"] if entry is not None else None


def default_post(method: str, codec: str, scale: int, pre: str | None = None) -> dict[str, Any] | None:
    """The slot's default post-filter entry. For a method with a trained pre-filter (comcnn,
    modifynet), the post models trained on the outputs of the pre-filter that runs (``pre``,
    or the one ``encode`` picks by default) come first: each ComCNN has its own RecCNN."""
    return zoo.find_default("post", method, codec, scale, pre=pre_in_use(method, codec, scale, pre))


def check_post_name(post: str) -> dict[str, Any] | None:
    """Check that ``post`` can name a post-filter at all, whatever the slot: ``auto``, ``none``,
    a network family, or the name of a registry model whose role is ``post``. Returns that
    model's entry (None for the other forms); InputError otherwise, in one line."""
    if post in ("auto", "none") or post in POST_NETS:
        return None
    try:
        entry = zoo.get_entry(post)
    except zoo.ZooError:
        raise InputError(
            f"unknown post-filter {post!r}: use auto, none, one of {', '.join(POST_NETS)}, or a model name "
            "from `lbcodec models`"
        ) from None
    role = entry.get("slot", {}).get("role")
    if role != "post":
        what = "a pre-filter (role pre)" if role == "pre" else f"of role {role!r}"
        raise InputError(f"model {post} is {what}, not a post-filter; see `lbcodec models`")
    return entry


def resolve_post(post: str, method: str, codec: str, scale: int, notes: list[str],
                 pre: str | None = None) -> dict[str, Any] | None:
    """The registry entry that ``post`` (auto, none, a network family or a model name) names for
    this slot; None means no post-filter (a note says so when a named family has no model).
    ``auto`` and a family prefer the post models paired with ``pre`` (the pre-filter model that
    ran; default: the slot's default pre-filter).
    InputError for an unknown name or a model that is not a post-filter (:func:`check_post_name`)."""
    if post == "none":
        return None
    if post == "auto" or post in POST_NETS:
        pre_name = pre_in_use(method, codec, scale, pre)
        entry = zoo.find_default("post", method, codec, scale, pre=pre_name,
                                 arch=None if post == "auto" else post)
        if entry is None:
            after = "bicubic only" if method in RESIZING_METHODS else "the plain decode"
            if post != "auto":
                notes.append(f"no trained {post} model for {codec} with method {method}: {after}")
            elif method in RESIZING_METHODS and zoo.list_models():  # a registry, but nothing for this slot
                notes.append(f"no trained post-filter for {codec} with method {method} at scale {scale} is "
                             f"installed: {after}")
            return None
        if pre_name is not None and zoo.trained_after(entry) != pre_name:
            notes.append(f"no post-filter trained on the outputs of {pre_name} is installed: using {entry['name']}")
        return entry
    entry = check_post_name(post)
    assert entry is not None
    slot = entry.get("slot", {})
    if (slot.get("method"), slot.get("codec")) != (method, codec):
        notes.append(f"model {post} was trained for {slot.get('codec')}/{slot.get('method')}, not {codec}/{method}")
    return entry


def trained_top(entry: dict[str, Any]) -> float | None:
    """The highest bpp ``entry`` was trained on: the top of its training targets (provenance
    ``data.bpps``), else of its slot's ``bpp`` range; None when neither is recorded."""
    bpps = zoo.data_field(entry, "bpps")
    if isinstance(bpps, list) and bpps:
        return float(max(bpps))
    bounds = entry.get("slot", {}).get("bpp")
    return None if bounds is None else float(bounds[1])


def rate_ceiling(entry: dict[str, Any]) -> float | None:
    """The highest bitstream bpp at which ``auto`` runs post model ``entry`` without resizing: the top
    of its slot's range or :data:`RATE_SLACK` times the highest rate it was trained on, whichever is
    higher (None: neither is recorded, no limit)."""
    bounds = entry.get("slot", {}).get("bpp")
    tops = [float(bounds[1])] if bounds is not None else []
    trained = trained_top(entry)
    if trained is not None:
        tops.append(trained * RATE_SLACK)
    return max(tops) if tops else None


def check_rate(entry: dict[str, Any] | None, post: str, method: str, bpp: float,
               notes: list[str]) -> dict[str, Any] | None:
    """``entry`` if it should run on a pipeline of ``method`` whose codec bitstream is at ``bpp``
    (bits over the original pixels), else None with a note.

    Without resizing, above :func:`rate_ceiling` a model picked by ``post`` = ``auto`` or a network
    family is dropped (the plain decode is better there); a model named by the user still runs, with
    a note. Resizing methods are never limited."""
    if entry is None or method in RESIZING_METHODS:
        return entry
    top = rate_ceiling(entry)
    if top is None or bpp <= top:
        return entry
    if post == "auto" or post in POST_NETS:
        notes.append(f"at {bpp:.3f} bpp the image is above the rates {entry['name']} serves (up to {top:.2f} "
                     f"bpp), where it would lower the quality: no post-filter (--post {entry['name']} runs it "
                     "anyway)")
        return None
    notes.append(f"model {entry['name']} serves rates up to {top:.2f} bpp; at {bpp:.3f} bpp it may lower the "
                 "quality (--post none decodes without it)")
    return entry


def choose_post(post: str, method: str, codec: str, scale: int, notes: list[str],
                pre: str | None = None) -> tuple[int, bytes]:
    """(container id, 4-byte hash prefix) of the post-filter ``encode`` records; ``pre`` as in
    :func:`resolve_post`."""
    entry = resolve_post(post, method, codec, scale, notes, pre)
    if entry is None:
        return POST_NONE_ID, b""
    return int(entry["container_id"]), bytes.fromhex(entry["sha256"][:8])


def post_for_rate(chosen: tuple[int, bytes], post: str, method: str, bpp: float,
                  notes: list[str]) -> tuple[int, bytes]:
    """The post-filter ``encode`` records for a bitstream at ``bpp``, given the one :func:`choose_post`
    picked before the rate was known: none where :func:`check_rate` drops it."""
    if chosen[0] == POST_NONE_ID:
        return chosen
    entry = zoo.entry_by_container_id(chosen[0])
    return chosen if check_rate(entry, post, method, bpp, notes) is not None else (POST_NONE_ID, b"")


def reconstruct(
    pipe: Pipeline,
    compact: np.ndarray,
    size: tuple[int, int],
    post: str | None,
    notes: list[str],
    ensemble: bool = False,
    progress: Callable[[float], None] | None = None,
    precision: str | None = None,
    bpp: float | None = None,
) -> np.ndarray:
    """Decoded compact uint8 image -> uint8 image of ``size`` = (width, height).

    ``post`` None applies the post-filter the header records; ``none``, ``auto``,
    a network family or a model name override it (checked against the rate of the codec's
    bitstream ``bpp``, when given, as ``encode`` checks: :func:`check_rate`). ``progress(fraction)`` follows the
    post-filter's tiles (not called when there is no post-filter).
    """
    img = to_u8(resize_bicubic(compact, size), inplace=True) if pipe.method in RESIZING_METHODS else compact
    if post is None:
        if pipe.post_id == POST_NONE_ID:
            return img
        entry = zoo.entry_by_container_id(pipe.post_id)
        if entry is not None and entry.get("slot", {}).get("role") != "post":
            # the id names a pre-filter (files written before encode refused `--post PRE-MODEL`, or an
            # altered header): never run it after the decoder; the slot's default stands in, as for a
            # model that is not installed
            role = entry.get("slot", {}).get("role")
            default = default_post(pipe.method, pipe.codec, pipe.scale)
            fallback = f"using {default['name']}, the current default for {pipe.codec}/{pipe.method}" \
                if default is not None else "bicubic only"
            notes.append(f"the recorded post-filter #{pipe.post_id} ({entry['name']}) is a {role}-filter, "
                         f"not a post-filter: {fallback}")
            if default is None:
                return img
            entry = default
        elif entry is None:
            # a model that is no longer shipped (or not yet): its slot's current default stands in
            entry = default_post(pipe.method, pipe.codec, pipe.scale)
            if entry is None:
                notes.append(f"post-filter model #{pipe.post_id} is not installed: bicubic only")
                return img
            notes.append(f"post-filter model #{pipe.post_id} is not installed: using {entry['name']}, "
                         f"the current default for {pipe.codec}/{pipe.method}")
        elif pipe.post_hash.hex() not in zoo.hash_prefixes(entry, 2 * len(pipe.post_hash)):
            notes.append(f"post-filter {entry['name']}: installed weights differ from the encoder's "
                         f"({entry['sha256'][:8]} vs {pipe.post_hash.hex()}); using the installed ones")
    else:
        # an override (auto, a family) follows the pre-filter the recorded post-filter was trained
        # after: a file made with `encode --pre` keeps its pair
        recorded = zoo.entry_by_container_id(pipe.post_id) if pipe.post_id != POST_NONE_ID else None
        pre = zoo.trained_after(recorded) if recorded is not None else None
        entry = resolve_post(post, pipe.method, pipe.codec, pipe.scale, notes, pre)
        if bpp is not None:
            entry = check_rate(entry, post, pipe.method, bpp, notes)
        if entry is None:
            return img
    return apply_post(entry, img, ensemble, progress, precision)


def apply_post(entry: dict[str, Any], img: np.ndarray, ensemble: bool = False,
               progress: Callable[[float], None] | None = None, precision: str | None = None) -> np.ndarray:
    """Run the registry model ``entry`` on a uint8 HxWxC image (verified, cached load), in
    ``precision`` (``fp32`` or ``bf16``; None: what :func:`lbcodec.precision.post_precision` picks)."""
    from .precision import post_precision

    return _run(_load(entry["name"]), img, ensemble, progress, precision or post_precision())
