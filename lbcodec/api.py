"""The whole pipeline, bytes and arrays only (no file I/O, no printing).

Encode: image -> pre-filter (the *pre slot*) -> standard encoder under rate
control -> container. Decode: container -> standard decoder -> upsampling to
the original size -> post-filter (the *post slot*).

Array contract: ``pixels`` uint8 ``(H, W, C)``, C = 1 or 3; ``alpha`` uint8
``(H, W)`` or None. Decoded images have the original size and channel count.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from . import container as ctr
from . import filters
from .codecs import get_codec
from .errors import BudgetError, CorruptContainerError, InputError
from .pipeline import AUTO_METHOD, RESIZING_METHODS, SCALED_METHODS, Pipeline, compact_size
from .ratecontrol import BudgetTooSmall, fit_budget, fit_budget_drafted

DEFAULT_METHOD = "downsample"
DEFAULT_SCALE = 2
#: rows of the image compared at a time when scoring a candidate (bounds the float copies)
_SSE_ROWS = 512


@dataclass(frozen=True)
class EncodeResult:
    data: bytes
    header: ctr.Header
    quality: float
    probes: int
    notes: list[str] = field(default_factory=list)
    #: the registry pre-filter model that ran (comcnn, modifynet), or None
    pre_model: str | None = None
    #: method ``auto`` only: RGB PSNR (dB) of each method tried, in the order tried; a method that
    #: could not meet the budget is absent
    candidates: dict[str, float] = field(default_factory=dict)

    @property
    def bpp(self) -> float:
        return len(self.data) * 8 / self.header.pixels


@dataclass(frozen=True)
class DecodeResult:
    pixels: np.ndarray
    alpha: np.ndarray | None
    header: ctr.Header
    notes: list[str] = field(default_factory=list)


def default_scale(method: str) -> int:
    return DEFAULT_SCALE if method in SCALED_METHODS else 1


def auto_methods(codec: str, scale: int = DEFAULT_SCALE) -> list[str]:
    """The methods ``method="auto"`` tries for ``codec``, in order: none, downsample, and comcnn
    when a ComCNN trained for this codec at this scale is installed (without one, comcnn would
    only repeat downsample). modifynet is for plain decoders and is never tried."""
    out = ["none", "downsample"]
    if filters.default_pre("comcnn", codec, scale) is not None:
        out.append("comcnn")
    return out


def encode_image(
    pixels: np.ndarray,
    *,
    alpha: np.ndarray | None = None,
    codec: str = "jpeg",
    method: str = DEFAULT_METHOD,
    scale: int | None = None,
    subsampling: str = "420",
    tune: str = "psnr",
    bpp: float | None = None,
    quality: float | None = None,
    size: int | None = None,
    post: str = "auto",
    pre: str | None = None,
    progress: Callable[[float], None] | None = None,
) -> EncodeResult:
    """Encode an image into a .lbc container.

    Exactly one of ``bpp`` (whole file bits per original pixel, an upper bound),
    ``size`` (whole file bytes, an upper bound) or ``quality`` (0-100) is given.
    ``post`` names the decoder's post-filter: ``auto`` (the best shipped model for
    the slot, or none), ``none``, a network name or a model name; ``auto`` and a network
    name prefer the post models trained after the pre-filter that runs, and, without resizing,
    record none when the bitstream's rate is above what the model serves
    (:func:`lbcodec.filters.check_rate`; a named model is recorded all the same, with a note). ``pre`` names the
    registry model to run as the pre-filter of method comcnn or modifynet instead of the
    slot's default (InputError if it is not a pre-filter of that method and scale; one
    trained for another codec runs, with a note). ``tune`` (``psnr``
    or ``ssim``) is the encoder's objective where the codec has one (jpeg, heif, avif); the
    decoder does not need to know it.

    ``method="auto"`` codes the image with each method of :func:`auto_methods` (``scale`` is
    the resizing methods' factor, default 2) at the same budget, decodes each file as
    :func:`decode_image` does (post-filter ``post``, no ensemble, in float32 on every CPU) and returns the one with the
    highest RGB PSNR; its header names the method that won, so any decoder reads it. It needs
    a rate target (``bpp`` or ``size``: at one quality the methods' sizes differ), takes no
    ``pre``, and costs one encode and one decode per method. ``progress(fraction)`` follows it
    (0 to 1); other methods do not call it.
    """
    if method == AUTO_METHOD:
        return _encode_auto(pixels, alpha=alpha, codec=codec, scale=scale, subsampling=subsampling, tune=tune,
                            bpp=bpp, quality=quality, size=size, post=post, pre=pre, progress=progress)
    pixels = _check_pixels(pixels)
    h, w, c = pixels.shape
    if alpha is not None and alpha.shape != (h, w):
        raise InputError(f"alpha plane shape {alpha.shape} does not match the image {h}x{w}")
    if sum(x is not None for x in (bpp, quality, size)) != 1:
        raise ValueError("give exactly one of bpp, quality or size")
    for opt, value in (("bpp", bpp), ("quality", quality)):
        if value is not None and not math.isfinite(value):
            raise ValueError(f"{opt} must be a finite number, got {value}")
    if scale is not None and method not in RESIZING_METHODS and scale != 1:
        raise ValueError(f"method {method!r} does not resize: scale must be 1, got {scale}")
    scale = default_scale(method) if scale is None else scale
    coder = get_codec(codec)
    notes: list[str] = []
    filters.check_post_name(post)  # a misspelt --post fails before the (possibly slow) pre-filter

    compact, method_used = filters.prefilter(method, pixels, scale, codec, notes, pre=pre)
    pre_model = None
    if method_used == method:  # else no trained model was installed: the classical twin ran
        pre_model = filters.pre_in_use(method, codec, scale, pre)
    method = method_used
    if method not in RESIZING_METHODS:
        scale = 1
    post_id, post_hash = filters.choose_post(post, method, codec, scale, notes, pre=pre_model)
    alpha_bytes = zlib.compress(np.ascontiguousarray(alpha).tobytes(), 9) if alpha is not None else b""

    def header_at(q: float) -> ctr.Header:
        pipe = Pipeline(method, scale, codec, q, subsampling, post_id, post_hash)
        return ctr.Header(w, h, c, pipe, alpha is not None)

    def enc(q: float) -> bytes:
        return coder.encode(compact, q, subsampling, tune)

    if quality is not None:
        payload, probes, q = enc(quality), 1, float(quality)
        if coder.integer_quality:
            q = float(round(q))
    else:
        budget = size if size is not None else int(bpp * w * h // 8)
        size_of = lambda p: ctr.container_size(header_at(0), len(p), len(alpha_bytes))  # noqa: E731
        try:
            if coder.has_draft:  # search with the fast encoder, keep the final encoder's nearest fit
                res = fit_budget_drafted(lambda q: coder.encode(compact, q, subsampling, tune, draft=True), enc,
                                         size_of, budget)
            else:
                res = fit_budget(enc, size_of, budget, coder.integer_quality)
        except BudgetTooSmall as exc:
            raise BudgetError(_budget_message(exc, w * h, codec, method, scale, bpp, len(alpha_bytes), channels=c),
                              smallest=exc.smallest) from None
        payload, probes, q = res.payload, res.probes, res.quality
    # without resizing, the post-filter stays only at the rates it serves (the codec's bitstream, over
    # the original pixels: decode and restore measure the same)
    post_id, post_hash = filters.post_for_rate((post_id, post_hash), post, method, len(payload) * 8 / (w * h),
                                               notes)
    header = header_at(q)
    data = ctr.pack(header, payload, alpha_bytes)
    return EncodeResult(data, header, q, probes, notes, pre_model)


def _encode_auto(pixels: np.ndarray, *, alpha, codec: str, scale: int | None, subsampling: str, tune: str,
                 bpp: float | None, quality: float | None, size: int | None, post: str, pre: str | None,
                 progress: Callable[[float], None] | None) -> EncodeResult:
    """``encode_image(method="auto")``: every method of :func:`auto_methods` at one budget, the
    file whose decode has the least squared error wins (the earlier method on a tie)."""
    pixels = _check_pixels(pixels)
    if quality is not None:
        raise InputError("method auto needs a rate target (bpp or size), not a quality: "
                         "at one quality the methods make files of different sizes")
    if pre is not None:
        raise InputError("method auto picks each method's default pre-filter: a named pre-filter model "
                         "needs its own method (comcnn or modifynet)")
    scale = DEFAULT_SCALE if scale is None else scale
    if scale < 2:
        raise ValueError(f"method auto: the resizing methods' scale must be 2 or more, got {scale}")
    filters.check_post_name(post)
    methods = auto_methods(codec, scale)
    best: tuple[float, EncodeResult] | None = None
    scores: dict[str, float] = {}
    failed: list[BudgetError] = []
    for i, method in enumerate(methods):
        def part(f: float, i: int = i) -> None:
            if progress is not None:
                progress((i + f) / len(methods))

        part(0.0)
        try:
            res = encode_image(pixels, alpha=alpha, codec=codec, method=method,
                               scale=scale if method in RESIZING_METHODS else None, subsampling=subsampling,
                               tune=tune, bpp=bpp, size=size, post=post)
        except BudgetError as exc:
            failed.append(exc)
            continue
        part(0.2)  # the decode (with its post-filter) is most of a candidate's time
        # float32 whatever the CPU: the file auto returns must not depend on the machine
        dec = decode_image(res.data, progress=lambda f, part=part: part(0.2 + 0.8 * f), precision="fp32")
        sse = _sse(pixels, dec.pixels)
        scores[method] = _psnr_of(sse, pixels.size)
        if best is None or sse < best[0]:
            best = (sse, res)
    if best is None:  # every method is over the budget: say what the one with the smallest files reaches
        closest = min(failed, key=lambda e: math.inf if e.smallest is None else e.smallest)
        raise BudgetError(f"method auto: no method fits the budget; {closest}", smallest=closest.smallest)
    if progress is not None:
        progress(1.0)
    res = best[1]
    won = res.header.pipeline.method
    tried = ", ".join(f"{m} {p:.2f} dB" for m, p in scores.items())
    skipped = [m for m in methods if m not in scores]
    note = f"method auto: {tried}" + (f" ({', '.join(skipped)} cannot meet the budget)" if skipped else "") \
        + f": {won}"
    return replace(res, notes=[note, *res.notes], candidates=scores)


def _sse(a: np.ndarray, b: np.ndarray) -> float:
    """Sum of squared differences of two uint8 images, a band of rows at a time."""
    total = 0.0
    for y in range(0, a.shape[0], _SSE_ROWS):
        d = a[y : y + _SSE_ROWS].astype(np.float64) - b[y : y + _SSE_ROWS]
        total += float(np.vdot(d, d))
    return total


def _psnr_of(sse: float, n: int) -> float:
    mse = sse / n
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def _budget_message(exc: BudgetTooSmall, pixels: int, codec: str, method: str, scale: int, bpp: float | None,
                    alpha_bytes: int = 0, channels: int = 3) -> str:
    """One line saying why the budget cannot be met, and what could meet it.

    A larger --scale is suggested only where one could fit: never where the .lbc header alone, or
    the header and the codec's smallest bitstream of any image with the image's ``channels`` (1 or 3:
    :meth:`Codec.smallest_size`), is over the budget (tiny images), nor where shrinking the
    bitstream's image part by (scale/4)^2 would still leave it over. There --quality, a --size the
    settings reach and the codecs whose smallest file fits are suggested instead.
    """
    from .codecs import CODECS

    if bpp is not None:
        want = f"{bpp:g} bpp"
        got = f"{exc.smallest * 8 / pixels:.3f} bpp"
    else:
        want, got = f"{exc.budget} bytes", f"{exc.smallest} bytes"
    if alpha_bytes * 2 >= exc.smallest:  # the lossless alpha plane is most of the smallest file
        share = f"{alpha_bytes * 8 / pixels:.3f} bpp" if bpp is not None else f"{alpha_bytes} bytes"
        return (f"cannot fit {want} with {codec}: the lossless alpha channel alone takes {share} of the smallest "
                f"reachable {got}; drop the alpha (e.g. flatten the image onto a background) or allow more")
    head = f"cannot fit {want} with {codec} (method {method}, scale {scale}): the smallest reachable is {got}"
    instead = f"--quality, or --size {exc.smallest} or more"
    budget = exc.budget
    # the container's bytes (header, CRC, alpha) and the codec's floor, where the bitstream is known
    payload = exc.payload
    container = exc.smallest - len(payload) if payload is not None else None
    floor = get_codec(codec).smallest_size(channels) if container is not None else None

    def either(names: list[str]) -> str:
        return " or ".join(names) if len(names) < 3 else f"{', '.join(names[:-1])} or {names[-1]}"

    def fitting_codecs(names) -> list[str]:
        """Of ``names`` (other than this codec), those whose smallest file could fit the budget."""
        if container is None:
            return [n for n in names if n != codec]
        out = []
        for n in names:
            if n != codec and n in CODECS and CODECS[n].available():
                least = get_codec(n).smallest_size(channels)
                if least is not None and container + least <= budget:
                    out.append(n)
        return out

    if container is not None and container > budget:
        return (f"{head}; on a {pixels:,}-pixel image the .lbc header alone takes {container} bytes, over the "
                f"budget of {budget} bytes: no --scale or --codec can fit; use {instead}")
    if container is not None and floor is not None and container + floor > budget:
        others = fitting_codecs(CODECS)
        alt = f"--codec {either(others)}, " if others else ""
        return (f"{head}; even the smallest {codec} file of any image takes {container + floor} bytes (the .lbc "
                f"header and a {floor}-byte bitstream), over the budget of {budget} bytes: no --scale can fit; "
                f"try {alt}{instead}")
    resizing = method in RESIZING_METHODS
    factor = scale if resizing else 1
    if factor < 4 and container is not None and floor is not None and payload is not None:
        # the bitstream's part above the codec's floor shrinks with the image: (factor/4)^2 at scale 4
        at4 = container + floor + max(0, len(payload) - floor) * (factor / 4) ** 2
        if at4 > budget:
            others = fitting_codecs(("heif", "avif", "jpegxl", "webp"))
            alt = f"--codec {either(others)}, " if others else ""
            return (f"{head}; even --scale 4 would leave about {at4:.0f} bytes, over the budget of {budget} bytes: "
                    f"try {alt}{instead}")
    if factor < 4:
        hint = "a larger --scale" if resizing else "--method downsample with --scale 2-4"
    else:
        others = fitting_codecs(("heif", "avif", "jpegxl"))
        verb = "reaches" if len(others) == 1 else "reach"
        hint = f"another --codec ({either(others)} {verb} lower rates)" if others else instead
    return f"{head}; try {hint}"


def decode_image(
    data: bytes, *, post: str | None = None, ensemble: bool = False, max_pixels: int = ctr.MAX_PIXELS,
    progress: Callable[[float], None] | None = None, precision: str | None = None,
) -> DecodeResult:
    """Decode a .lbc container.

    ``post`` overrides the header's post-filter (``none``, ``auto``, a network or model
    name); ``ensemble`` runs the post-filter as an x8 geometric self-ensemble;
    ``progress(fraction)`` is called as the post-filter's tiles finish (0 to 1). ``precision``
    (``fp32``, ``bf16``) is the post-filter's number format; None: :func:`lbcodec.precision.post_precision`.
    """
    box = ctr.unpack(data, max_pixels=max_pixels)
    hdr = box.header
    pipe = hdr.pipeline
    coder = get_codec(pipe.codec)
    notes: list[str] = []
    want = compact_size(hdr.width, hdr.height, pipe.scale) if pipe.method in RESIZING_METHODS else (hdr.width, hdr.height)
    # the inner bitstream's own header must agree with the container's before anything is decoded:
    # a small header must not hide a huge image (the container's pixel limit bounds the header only)
    inner = coder.probe_size(box.payload)
    if inner != want:
        raise CorruptContainerError(
            f"corrupt container: the {pipe.codec} bitstream declares {inner[0]}x{inner[1]}, expected {want[0]}x{want[1]}"
        )
    alpha = _inflate_alpha(box.alpha, hdr) if hdr.has_alpha else None
    compact = coder.decode(box.payload, channels=hdr.channels)
    if (compact.shape[1], compact.shape[0]) != want:
        raise CorruptContainerError(
            f"corrupt container: the {pipe.codec} image is {compact.shape[1]}x{compact.shape[0]}, expected {want[0]}x{want[1]}"
        )
    pixels = filters.reconstruct(pipe, compact, (hdr.width, hdr.height), post, notes, ensemble, progress,
                                 precision, bpp=len(box.payload) * 8 / (hdr.width * hdr.height))
    if pixels.shape != (hdr.height, hdr.width, hdr.channels):  # last line of defence: never a wrong-size image
        raise CorruptContainerError(
            f"the decoded image is {pixels.shape[1]}x{pixels.shape[0]}x{pixels.shape[2]}, but the header says "
            f"{hdr.width}x{hdr.height}x{hdr.channels} (post-filter {post or 'as recorded'})"
        )
    return DecodeResult(pixels, alpha, hdr, notes)


def _inflate_alpha(data: bytes, hdr: ctr.Header) -> np.ndarray:
    """The zlib alpha plane, inflated no further than one byte past its expected size."""
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(data, hdr.pixels + 1)
    except zlib.error:
        raise CorruptContainerError("corrupt container: alpha plane cannot be decompressed") from None
    if len(raw) != hdr.pixels or not inflater.eof or inflater.unconsumed_tail:
        raise CorruptContainerError("corrupt container: alpha plane has the wrong size")
    return np.frombuffer(raw, np.uint8).reshape(hdr.height, hdr.width)


def inner_bitstream(data: bytes) -> tuple[bytes, str]:
    """The standard codec's bitstream inside a container, and its file extension."""
    box = ctr.unpack(data)
    return box.payload, get_codec(box.header.pipeline.codec).extension


def _check_pixels(pixels: np.ndarray) -> np.ndarray:
    pixels = np.asarray(pixels)
    if pixels.ndim == 2:
        pixels = pixels.reshape(pixels.shape[0], pixels.shape[1], 1)
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] not in (1, 3):
        raise InputError(f"image must be uint8 HxWx1 or HxWx3, got {pixels.dtype} {pixels.shape}")
    if pixels.shape[0] < 1 or pixels.shape[1] < 1:
        raise InputError("image is empty")
    if pixels.shape[0] > ctr.MAX_SIDE or pixels.shape[1] > ctr.MAX_SIDE:
        raise InputError(f"image side over {ctr.MAX_SIDE} pixels")
    return pixels
