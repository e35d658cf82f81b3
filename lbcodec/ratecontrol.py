"""Find the codec quality that fits a byte budget.

The search is a bisection over lbcodec's 0-100 quality scale. Every probe's
output is kept, so the winner is returned as encoded (no re-encode). File size is
nearly but not strictly monotone in quality for some codecs, so the result is the
largest fitting probe seen, never a probe over budget.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .errors import BudgetError

#: stop refining once a fitting probe is within this fraction of the budget
CLOSE_ENOUGH = 0.995
#: quality resolution of the search for codecs with a continuous setting
FLOAT_STEP = 0.1


@dataclass(frozen=True)
class RateResult:
    quality: float
    payload: bytes
    size: int  # total file size in bytes, as computed by ``size_of``
    probes: int


class BudgetTooSmall(BudgetError):
    """Even the lowest quality does not fit; ``smallest`` is its size in bytes."""

    def __init__(self, smallest: int, budget: int):
        super().__init__(f"budget of {budget} bytes cannot be met (smallest is {smallest} bytes)")
        self.smallest = smallest
        self.budget = budget


def fit_budget(
    encode: Callable[[float], bytes],
    size_of: Callable[[bytes], int],
    budget: int,
    integer: bool,
    lo: float = 0.0,
    hi: float = 100.0,
) -> RateResult:
    """Return the highest-quality probe whose ``size_of(payload) <= budget``.

    Args:
        encode: quality -> payload bytes.
        size_of: payload -> total bytes that count against the budget.
        budget: the byte budget.
        integer: step the quality by 1 (codecs with an integer setting) or by 0.1.
    """
    probes = 0
    best: tuple[int, float, bytes] | None = None
    sizes: dict[float, int] = {}

    def probe(q: float) -> bool:
        nonlocal probes, best
        payload = encode(q)
        probes += 1
        size = sizes[q] = size_of(payload)
        if size <= budget:
            if best is None or size > best[0] or (size == best[0] and q > best[1]):
                best = (size, q, payload)
            return True
        return False

    step = 1.0 if integer else FLOAT_STEP
    if not probe(lo):
        raise BudgetTooSmall(sizes[lo], budget)
    if not probe(hi):
        while hi - lo > step:
            mid = (lo + hi) / 2
            mid = float(int(mid)) if integer else round(mid, 2)
            if mid <= lo or mid >= hi:
                break
            if probe(mid):
                lo = mid
                if best is not None and best[0] >= CLOSE_ENOUGH * budget:
                    break
            else:
                hi = mid
    assert best is not None
    size, q, payload = best
    return RateResult(quality=q, payload=payload, size=size, probes=probes)
