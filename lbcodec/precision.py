"""The number format the post-filters compute in.

On a CPU with native bfloat16 arithmetic (AVX512-BF16 or AMX on x86, BF16 on Arm), oneDNN runs
the convolutions about twice as fast in bfloat16 as in float32. lbcodec then runs its
post-filters under bfloat16 autocast: the convolutions compute in bfloat16, the global
residual (input + correction) and everything after it in float32. On 6 Kodak images this
moves the RGB PSNR of a slot's default post-filter by at most 0.004 dB (of any shipped one by at
most 0.008 dB) and changes 1.6-13 % of output pixels, by one to four levels
(``scripts/half_check.py --compare compute`` -> docs/data/bf16_check.md). Elsewhere the
emulation would be slower than float32, so ``auto`` stays in float32 there.

The choice comes from the environment variable ``LBCODEC_PRECISION`` (``auto``, the default;
``fp32``; ``bf16``), which ``--precision`` of decode, restore and bench sets. Pre-filters
(ComCNN, Modify-Net) and the trial decodes of ``encode --method auto`` always compute in float32,
so an encoder's output does not depend on the CPU.
"""

from __future__ import annotations

import functools
import os

from .errors import LbcError

#: environment variable that picks the post-filters' precision
ENV = "LBCODEC_PRECISION"
#: its values: auto (bf16 where the CPU has it natively, else fp32), fp32, bf16
PRECISIONS = ("auto", "fp32", "bf16")


@functools.lru_cache(maxsize=1)
def native_bf16() -> bool:
    """True when this CPU has bfloat16 arithmetic in hardware: AVX512-BF16 or AMX on x86 (oneDNN's
    own probe says yes for any AVX-512 CPU, where it emulates bfloat16 at half float32's speed), and
    oneDNN's probe on Arm, where it checks the BF16 extension."""
    import platform

    try:
        import torch

        if platform.machine().lower() in ("x86_64", "amd64", "i386", "i686", "x86"):
            probes = [getattr(torch.cpu, n, None) for n in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
            return any(bool(p()) for p in probes if p is not None)
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch without the probes, or without oneDNN
        return False


def requested() -> str:
    """The precision ``LBCODEC_PRECISION`` asks for (``auto`` when unset or empty).

    Raises LbcError (one line, naming the variable) for any other value."""
    value = os.environ.get(ENV, "").strip().lower() or "auto"
    if value not in PRECISIONS:
        raise LbcError(f"{ENV}={os.environ[ENV]!r}: expected one of {', '.join(PRECISIONS)}")
    return value


def post_precision() -> str:
    """``bf16`` or ``fp32``: what the post-filters compute in on this machine, now."""
    value = requested()
    if value == "auto":
        return "bf16" if native_bf16() else "fp32"
    return value
