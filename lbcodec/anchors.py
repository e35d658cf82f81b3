"""Published Kodak rate-distortion curves, as data: reference curves, never measured here.

Every curve is the mean over the 24 Kodak images (RGB PSNR, RGB MS-SSIM, whole-file
bpp) as published in InterDigitalInc/CompressAI ``results/image/kodak/*.json``
(snapshot 869a9f5, 2025-06-25); the ELIC and official Balle points are the papers'
own numbers as CompressAI stores them. The numbers were copied from those files into
this module (bpp to 6 decimals, PSNR to 4, MS-SSIM to 5), so lbcodec needs no
outside file at run time. Points are sorted by bpp.

Plots and tables label every curve "published, not measured here" (:data:`CAVEAT`).
Values at a bpp between two published points are interpolated linearly in bpp
(:func:`psnr_at`); outside the published range there is no value (None).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CAVEAT = "published, not measured here"
#: the bpps at which the lbcodec issue quotes the anchors (Kodak, RGB PSNR)
KODAK_BPPS = (0.10, 0.15, 0.20, 0.25, 0.30, 0.40, 0.50)
#: the four reference curves drawn by default: the best standard codec, the BPG
#: family (HEVC intra, which lbcodec's ``heif`` codes), and two learned codecs
DEFAULT_KEYS = ("vtm", "bpg444", "bmshj2018-hyperprior", "elic2022")


@dataclass(frozen=True)
class Anchor:
    key: str
    label: str
    kind: str  # "standard" codec or "learned" codec
    source: str
    description: str  # the source file's own name/description fields
    bpp: tuple[float, ...]
    psnr_rgb: tuple[float, ...]
    ms_ssim_rgb: tuple[float, ...] | None = None
    dataset: str = "kodak"

    def psnr_at(self, bpp: float) -> float | None:
        return _interp(self.bpp, self.psnr_rgb, bpp)

    def ms_ssim_at(self, bpp: float) -> float | None:
        return None if self.ms_ssim_rgb is None else _interp(self.bpp, self.ms_ssim_rgb, bpp)


def _interp(xs: tuple[float, ...], ys: tuple[float, ...], x: float) -> float | None:
    """Linear interpolation in x; None outside [min(xs), max(xs)]."""
    if not xs or x < xs[0] - 1e-12 or x > xs[-1] + 1e-12:
        return None
    return float(np.interp(x, xs, ys))


KODAK: tuple[Anchor, ...] = (
    Anchor(
        key="vtm",
        label="VTM intra 4:4:4 (VVC)",
        kind="standard",
        source="CompressAI results/image/kodak/vtm.json (InterDigitalInc/CompressAI @ 869a9f5)",
        description="VTM: VTM",
        bpp=(0.048245, 0.112495, 0.245817, 0.490545, 0.87481, 1.43085, 2.324607, 3.632609),
        psnr_rgb=(26.1448, 28.493, 31.1999, 34.2615, 37.4198, 40.4244, 43.5058, 46.5918),
        ms_ssim_rgb=(0.86061, 0.91769, 0.95611, 0.97808, 0.98878, 0.99386, 0.99695, 0.99866),
    ),
    Anchor(
        key="bpg444",
        label="BPG 0.9.8 4:4:4 (x265)",
        kind="standard",
        source="CompressAI results/image/kodak/bpg_444_x265_ycbcr.json (InterDigitalInc/CompressAI @ 869a9f5)",
        description="BPG 8b 444 x265 ycbcr: BPG. BPG version b'0.9.8'",
        bpp=(0.067768, 0.161023, 0.351554, 0.684697, 1.199665, 1.929712, 3.057876, 4.703143),
        psnr_rgb=(26.1951, 28.6815, 31.5947, 34.8575, 38.2599, 41.4789, 44.7031, 47.6325),
        ms_ssim_rgb=(0.86859, 0.9242, 0.96114, 0.9808, 0.99047, 0.99493, 0.99755, 0.9988),
    ),
    Anchor(
        key="hm",
        label="HM intra 4:4:4 (HEVC)",
        kind="standard",
        source="CompressAI results/image/kodak/hm.json (InterDigitalInc/CompressAI @ 869a9f5)",
        description="HM: HM",
        bpp=(0.051438, 0.12087, 0.266663, 0.529528, 0.950374, 1.559601, 2.476062, 3.845565),
        psnr_rgb=(25.4111, 27.7464, 30.4466, 33.5049, 36.7825, 39.9949, 43.088, 46.1432),
        ms_ssim_rgb=(0.84562, 0.90755, 0.9499, 0.97472, 0.98731, 0.99336, 0.99659, 0.99842),
    ),
    Anchor(
        key="av1",
        label="AV1 (aomenc cpu-used=0, 4:4:4)",
        kind="standard",
        source="CompressAI results/image/kodak/av1.json (InterDigitalInc/CompressAI @ 869a9f5)",
        description="AV1: AV1",
        bpp=(
            0.055692, 0.109981, 0.169955, 0.245602, 0.352358, 0.49874, 0.682788, 0.909025, 1.167274, 1.414792,
            1.80537, 2.607515
        ),
        psnr_rgb=(
            25.5607, 27.5624, 29.0247, 30.4417, 31.9874, 33.6498, 35.3218, 36.9888, 38.5554, 39.8094, 41.4344, 43.9676
        ),
        ms_ssim_rgb=(
            0.84657, 0.90111, 0.92925, 0.94904, 0.96429, 0.97531, 0.98279, 0.98783, 0.99112, 0.99308, 0.99503, 0.99724
        ),
    ),
    Anchor(
        key="jpeg",
        label="JPEG (Pillow 7.1.2)",
        kind="standard",
        source="CompressAI results/image/kodak/jpeg.json (InterDigitalInc/CompressAI @ 869a9f5)",
        description="JPEG: JPEG. Pillow version 7.1.2",
        bpp=(
            0.221153, 0.326614, 0.423126, 0.508386, 0.587866, 0.660127, 0.728946, 0.786027, 0.849719, 0.906001,
            0.96438, 1.037212, 1.127396, 1.239846, 1.368827, 1.571807, 1.858816, 2.350199, 3.40134
        ),
        psnr_rgb=(
            23.7799, 26.5772, 28.0422, 29.0418, 29.7847, 30.3783, 30.9032, 31.3078, 31.7048, 32.0587, 32.3993,
            32.7899, 33.2347, 33.7926, 34.3943, 35.239, 36.3289, 37.9121, 40.5567
        ),
        ms_ssim_rgb=(
            0.80307, 0.88986, 0.92358, 0.94271, 0.95335, 0.96062, 0.96614, 0.96969, 0.97265, 0.97525, 0.97727,
            0.97928, 0.98136, 0.98371, 0.98575, 0.98819, 0.99055, 0.99298, 0.99564
        ),
    ),
    Anchor(
        key="jpeg2000",
        label="JPEG 2000 (ffmpeg 3.4.6)",
        kind="standard",
        source="CompressAI results/image/kodak/jpeg2000.json (InterDigitalInc/CompressAI @ 869a9f5)",
        description="JPEG2000: JPEG2000. ffmpeg version 3.4.6-0ubuntu0.18.04.1",
        bpp=(
            0.125799, 0.132456, 0.140762, 0.148884, 0.159484, 0.170674, 0.184436, 0.199174, 0.217566, 0.239409,
            0.265727, 0.298563, 0.341843, 0.398625, 0.47929, 0.598829, 0.79828, 1.19824, 2.397323
        ),
        psnr_rgb=(
            26.4404, 26.5862, 26.7574, 26.9228, 27.1183, 27.317, 27.5545, 27.7966, 28.0992, 28.4166, 28.7742, 29.1917,
            29.6961, 30.3008, 31.0746, 32.0897, 33.49, 35.6807, 39.792
        ),
        ms_ssim_rgb=(
            0.87823, 0.88183, 0.88585, 0.88987, 0.89544, 0.8997, 0.90447, 0.90937, 0.91404, 0.91912, 0.92437, 0.93041,
            0.93757, 0.94461, 0.95301, 0.96091, 0.97068, 0.98072, 0.99159
        ),
    ),
    Anchor(
        key="webp",
        label="WebP (Pillow 7.1.2)",
        kind="standard",
        source="CompressAI results/image/kodak/webp.json (InterDigitalInc/CompressAI @ 869a9f5)",
        description="WebP: WebP. Pillow version 7.1.2",
        bpp=(
            0.234419, 0.296336, 0.352865, 0.407049, 0.460802, 0.512705, 0.567407, 0.620739, 0.674676, 0.721817,
            0.770877, 0.823675, 0.874027, 0.934291, 0.998388, 1.216314, 1.520081, 2.010354, 2.928479
        ),
        psnr_rgb=(
            28.3284, 29.1512, 29.8209, 30.407, 30.9392, 31.4426, 31.936, 32.4248, 32.8835, 33.2376, 33.6067, 33.9717,
            34.3282, 34.6934, 35.1042, 36.369, 37.7783, 39.557, 41.7592
        ),
        ms_ssim_rgb=(
            0.92574, 0.93964, 0.9485, 0.95495, 0.96022, 0.96417, 0.9676, 0.97051, 0.973, 0.97506, 0.97711, 0.97869,
            0.98033, 0.98165, 0.98321, 0.9869, 0.99017, 0.99327, 0.99598
        ),
    ),
    Anchor(
        key="bmshj2018-hyperprior",
        label="Ballé 2018 hyperprior (CompressAI, MSE)",
        kind="learned",
        source=(
            "CompressAI results/image/kodak/compressai-bmshj2018-hyperprior_mse_cuda.json "
            "(InterDigitalInc/CompressAI @ 869a9f5)"
        ),
        description="bmshj2018-hyperprior: Inference (ans)",
        bpp=(0.131293, 0.208893, 0.319858, 0.478356, 0.668688, 0.938826, 1.259172, 1.660224),
        psnr_rgb=(27.5815, 29.1967, 30.9722, 32.8382, 34.5263, 36.7433, 38.5838, 40.5569),
        ms_ssim_rgb=(0.91737, 0.94206, 0.96106, 0.97487, 0.98356, 0.98925, 0.99287, 0.99549),
    ),
    Anchor(
        key="bmshj2018-hyperprior-paper",
        label="Ballé 2018 hyperprior (official points)",
        kind="learned",
        source=(
            "CompressAI results/image/kodak/paper-bmshj2018-hyperprior.json (InterDigitalInc/CompressAI @ "
            "869a9f5)"
        ),
        description="official bmshj2018-hyperprior: official results (mse)",
        bpp=(0.115239, 0.185698, 0.301804, 0.468972, 0.686378, 0.966864, 1.307441, 1.727503),
        psnr_rgb=(27.1064, 28.6791, 30.6168, 32.5549, 34.581, 36.7204, 38.808, 40.7949),
        ms_ssim_rgb=None,
    ),
    Anchor(
        key="mbt2018",
        label="Minnen 2018 joint AR + hyperprior (CompressAI, MSE)",
        kind="learned",
        source=(
            "CompressAI results/image/kodak/compressai-mbt2018_mse_cuda.json (InterDigitalInc/CompressAI @ "
            "869a9f5)"
        ),
        description="mbt2018: Inference (ans)",
        bpp=(0.110531, 0.186971, 0.287696, 0.432339, 0.638767, 0.885305, 1.200365, 1.587345),
        psnr_rgb=(28.0885, 29.6455, 31.3623, 33.0859, 35.0938, 36.9888, 38.9335, 40.6391),
        ms_ssim_rgb=(0.9207, 0.94322, 0.96276, 0.97523, 0.98356, 0.98924, 0.99286, 0.99531),
    ),
    Anchor(
        key="cheng2020-anchor",
        label="Cheng 2020 anchor (CompressAI, MSE)",
        kind="learned",
        source=(
            "CompressAI results/image/kodak/compressai-cheng2020-anchor_mse_cuda.json (InterDigitalInc/CompressAI"
            " @ 869a9f5)"
        ),
        description="cheng2020-anchor: Inference (ans)",
        bpp=(0.119595, 0.183797, 0.270952, 0.417375, 0.594469, 0.805735),
        psnr_rgb=(28.5824, 29.9693, 31.3428, 33.3903, 35.1189, 36.7041),
        ms_ssim_rgb=(0.92359, 0.94651, 0.96286, 0.97577, 0.98412, 0.9893),
    ),
    Anchor(
        key="elic2022",
        label="ELIC 2022 (official points)",
        kind="learned",
        source=(
            "CompressAI results/image/kodak/paper-elic2022_mse.json (InterDigitalInc/CompressAI @ 869a9f5); paper"
            " https://arxiv.org/abs/2203.10886"
        ),
        description="elic2022: official results",
        bpp=(0.1235, 0.1965, 0.3337, 0.4908, 0.7041, 0.8573),
        psnr_rgb=(29.113, 30.698, 32.784, 34.577, 36.488, 37.624),
        ms_ssim_rgb=None,
    ),
)

BY_KEY = {a.key: a for a in KODAK}


def get(key: str) -> Anchor:
    """The anchor called ``key`` (KeyError names the known ones)."""
    try:
        return BY_KEY[key]
    except KeyError:
        raise KeyError(f"unknown anchor {key!r}; known: {', '.join(BY_KEY)}") from None


def psnr_at(key: str, bpp: float) -> float | None:
    """RGB PSNR of anchor ``key`` at ``bpp`` (linear in bpp), None outside its range."""
    return get(key).psnr_at(bpp)


def table(keys=DEFAULT_KEYS, bpps=KODAK_BPPS) -> list[tuple[Anchor, list[float | None]]]:
    """(anchor, [RGB PSNR at each bpp]) for each of ``keys``."""
    return [(get(k), [get(k).psnr_at(b) for b in bpps]) for k in keys]


def markdown_table(keys=DEFAULT_KEYS, bpps=KODAK_BPPS) -> str:
    """The anchors at ``bpps`` as a markdown table, with their sources."""
    head = "| Kodak, RGB PSNR (dB), " + CAVEAT + " | " + " | ".join(f"{b:.2f}" for b in bpps) + " | source |"
    lines = [head, "|---|" + "---:|" * len(bpps) + "---|"]
    for a, vals in table(keys, bpps):
        cells = " | ".join("-" if v is None else f"{v:.2f}" for v in vals)
        lines.append(f"| {a.label} | {cells} | {a.source} |")
    return "\n".join(lines)
