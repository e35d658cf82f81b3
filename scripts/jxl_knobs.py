"""Does any libjxl encoder setting raise RGB PSNR at a fixed bpp? (a probe, not a feature)

imagecodecs' ``jpegxl_encode`` exposes effort and distance only, so this script calls the
libjxl that imagecodecs bundles through ctypes (its default encode is byte-identical to
imagecodecs', checked below) and sets frame options the binding does not reach:

- edge-preserving filter strength (EPF 0..3; libjxl picks one by distance by default),
- the gaborish filter off,
- a higher effort (8, 9: slower searches; lbcodec encodes at 7),
- the basic info's intensity target (the nits the XYB weighting assumes; 255 by default),
- ``JXL_ENC_FRAME_SETTING_DISABLE_PERCEPTUAL_HEURISTICS`` (libjxl >= 0.11), reported when the
  bundled build refuses it.

Each variant is fitted per image to the largest file that stays within the bpp (bisection on the
Butteraugli distance), decoded with imagecodecs, and scored by RGB PSNR.

    python scripts/jxl_knobs.py ../shared/data/kodak --bpp 0.3 --every 3 > docs/data/jxl_knobs.md
"""

from __future__ import annotations

import argparse
import ctypes
import glob
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

FRAME_EPF, FRAME_GABORISH, FRAME_EFFORT, FRAME_DISABLE_PERCEPTUAL = 9, 10, 0, 39
VARIANTS = {
    "libjxl default": ({}, None),
    "epf 0": ({FRAME_EPF: 0}, None),
    "epf 1": ({FRAME_EPF: 1}, None),
    "epf 2": ({FRAME_EPF: 2}, None),
    "epf 3": ({FRAME_EPF: 3}, None),
    "gaborish off": ({FRAME_GABORISH: 0}, None),
    "intensity target 100": ({}, 100.0),
    "intensity target 500": ({}, 500.0),
    "effort 8": ({FRAME_EFFORT: 8}, None),
    "effort 9": ({FRAME_EFFORT: 9}, None),
}


class _PixelFormat(ctypes.Structure):
    _fields_ = [("num_channels", ctypes.c_uint32), ("data_type", ctypes.c_int),
                ("endianness", ctypes.c_int), ("align", ctypes.c_size_t)]


def load_libjxl():
    import imagecodecs
    import imagecodecs._jpegxl  # noqa: F401  (loads libjxl's own dependencies by soname first)

    libdir = os.path.join(os.path.dirname(os.path.dirname(imagecodecs.__file__)), "imagecodecs.libs")
    found = glob.glob(os.path.join(libdir, "libjxl-*.so*"))
    if not found:
        raise RuntimeError(f"no bundled libjxl in {libdir}")
    lib = ctypes.CDLL(found[0])
    vp = ctypes.c_void_p
    sig = {
        "JxlEncoderCreate": ([vp], vp), "JxlEncoderDestroy": ([vp], None),
        "JxlEncoderInitBasicInfo": ([vp], None), "JxlEncoderSetBasicInfo": ([vp, vp], ctypes.c_int),
        "JxlColorEncodingSetToSRGB": ([vp, ctypes.c_int], None),
        "JxlEncoderSetColorEncoding": ([vp, vp], ctypes.c_int),
        "JxlEncoderFrameSettingsCreate": ([vp, vp], vp),
        "JxlEncoderSetFrameDistance": ([vp, ctypes.c_float], ctypes.c_int),
        "JxlEncoderFrameSettingsSetOption": ([vp, ctypes.c_int, ctypes.c_int64], ctypes.c_int),
        "JxlEncoderAddImageFrame": ([vp, vp, vp, ctypes.c_size_t], ctypes.c_int),
        "JxlEncoderCloseInput": ([vp], None), "JxlEncoderGetError": ([vp], ctypes.c_int),
        "JxlEncoderProcessOutput": ([vp, ctypes.POINTER(ctypes.POINTER(ctypes.c_uint8)),
                                     ctypes.POINTER(ctypes.c_size_t)], ctypes.c_int),
    }
    for name, (args, res) in sig.items():
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = args, res
    return lib


class OptionRefused(RuntimeError):
    pass


def encode(lib, img: np.ndarray, distance: float, options: dict[int, int], intensity: float | None,
           effort: int = 7) -> bytes:
    h, w, c = img.shape
    enc = lib.JxlEncoderCreate(None)
    try:
        info = (ctypes.c_uint8 * 512)()  # JxlBasicInfo is 204 bytes in libjxl 0.11
        lib.JxlEncoderInitBasicInfo(info)
        u32 = ctypes.cast(info, ctypes.POINTER(ctypes.c_uint32))
        u32[1], u32[2], u32[3], u32[13] = w, h, 8, c  # xsize, ysize, bits_per_sample, color channels
        if intensity is not None:
            ctypes.cast(info, ctypes.POINTER(ctypes.c_float))[5] = intensity
        color = (ctypes.c_uint8 * 256)()
        lib.JxlColorEncodingSetToSRGB(color, int(c == 1))
        if lib.JxlEncoderSetBasicInfo(enc, info) or lib.JxlEncoderSetColorEncoding(enc, color):
            raise RuntimeError("libjxl refused the basic info")
        fs = lib.JxlEncoderFrameSettingsCreate(enc, None)
        lib.JxlEncoderSetFrameDistance(fs, distance)
        for key, value in {FRAME_EFFORT: effort, **options}.items():
            if lib.JxlEncoderFrameSettingsSetOption(fs, key, value):
                raise OptionRefused(f"option {key}={value}: libjxl error {lib.JxlEncoderGetError(enc)}")
        buf = np.ascontiguousarray(img, np.uint8)
        if lib.JxlEncoderAddImageFrame(fs, ctypes.byref(_PixelFormat(c, 2, 0, 0)), buf.ctypes.data, buf.nbytes):
            raise RuntimeError("libjxl refused the frame")
        lib.JxlEncoderCloseInput(enc)
        out, chunk = bytearray(), (ctypes.c_uint8 * 65536)()
        while True:
            ptr, room = ctypes.cast(chunk, ctypes.POINTER(ctypes.c_uint8)), ctypes.c_size_t(len(chunk))
            status = lib.JxlEncoderProcessOutput(enc, ctypes.byref(ptr), ctypes.byref(room))
            out += bytes(chunk[: len(chunk) - room.value])
            if status == 0:
                return bytes(out)
            if status != 2:
                raise RuntimeError(f"libjxl error {lib.JxlEncoderGetError(enc)}")
    finally:
        lib.JxlEncoderDestroy(enc)


def fit(lib, img, bpp, options, intensity) -> tuple[float, float]:
    """(bpp, RGB PSNR) of the largest file within ``bpp`` (9 bisection steps on the distance)."""
    import imagecodecs

    from lbcodec.metrics import psnr

    px = img.shape[0] * img.shape[1]
    lo, hi = 0.3, 25.0
    for _ in range(9):
        mid = (lo * hi) ** 0.5
        if len(encode(lib, img, mid, options, intensity)) * 8 / px > bpp:
            lo = mid
        else:
            hi = mid
    data = encode(lib, img, hi, options, intensity)
    return len(data) * 8 / px, psnr(img, imagecodecs.jpegxl_decode(data))


def main(argv=None) -> int:
    import imagecodecs

    from lbcodec.bench import IMAGE_EXTS
    from lbcodec.training.data import load_rgb

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder")
    ap.add_argument("--bpp", type=float, default=0.3)
    ap.add_argument("--every", type=int, default=3, help="take every N-th image (default 3: 8 of Kodak's 24)")
    ap.add_argument("--variants", default=None,
                    help="comma-separated names of the variants to score (default: all), e.g. 'libjxl default,effort 9'")
    args = ap.parse_args(argv)
    wanted = list(VARIANTS) if args.variants is None else [v.strip() for v in args.variants.split(",")]
    unknown = [v for v in wanted if v not in VARIANTS]
    if unknown:
        ap.error(f"unknown variant(s) {unknown}; choose from {list(VARIANTS)}")
    names = sorted(n for n in os.listdir(args.folder) if n.lower().endswith(IMAGE_EXTS))[:: args.every]
    imgs = [load_rgb(os.path.join(args.folder, n)) for n in names]
    lib = load_libjxl()
    same = encode(lib, imgs[0], 4.0, {}, None) == imagecodecs.jpegxl_encode(imgs[0], distance=4.0, effort=7,
                                                                            lossless=False)
    print(f"{imagecodecs.jpegxl_version()}, effort 7, {len(imgs)} images of {args.folder}, "
          f"target {args.bpp} bpp; default encode byte-identical to imagecodecs': {same}\n")
    print("| encoder setting | mean bpp | mean RGB PSNR (dB) |")
    print("|---|---:|---:|")
    for name in wanted:
        options, intensity = VARIANTS[name]
        rows = [fit(lib, im, args.bpp, options, intensity) for im in imgs]
        print(f"| {name} | {np.mean([r[0] for r in rows]):.4f} | {np.mean([r[1] for r in rows]):.3f} |", flush=True)
    try:
        encode(lib, imgs[0], 4.0, {FRAME_DISABLE_PERCEPTUAL: 1}, None)
        print("\ndisable perceptual heuristics: accepted (not scored here)")
    except OptionRefused as e:
        print(f"\ndisable perceptual heuristics: refused by this build ({e})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
