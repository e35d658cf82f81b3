"""Find the codec quality that fits a byte budget.

The search is a bisection over lbcodec's 0-100 quality scale. Every probe's
output is kept, so the winner is returned as encoded (no re-encode). File size is
nearly but not strictly monotone in quality for some codecs, so the result is the
largest fitting probe seen, never a probe over budget.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

from .errors import BudgetError

#: stop refining once a fitting probe is within this fraction of the budget
CLOSE_ENOUGH = 0.995
#: quality resolution of the search for codecs with a continuous setting
FLOAT_STEP = 0.1
#: where the second probe goes, as a fraction of the quality range: low-rate targets sit
#: in the lower third, and high-quality probes are the slowest encodes (HEIF, AVIF)
FIRST_BRACKET = 0.3
#: hard caps on probes (bisection alone needs 9 and 12); the best fit so far is returned
MAX_PROBES_INT = 9
MAX_PROBES_FLOAT = 13


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

    The search brackets the budget between a fitting and a non-fitting quality and
    picks each next probe by interpolating log(size) linearly in quality (sizes grow
    roughly exponentially with quality), falling back to bisection whenever an
    interpolated probe fails to halve the bracket. On real codecs this takes 4-7
    probes where plain bisection takes 9-13. The top quality is probed only when quality
    30 fits: it is the slowest encode of all.

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

    def snap(q: float) -> float:
        return float(int(q)) if integer else round(q, 2)

    if not probe(lo):
        raise BudgetTooSmall(sizes[lo], budget)
    mid = snap(lo + FIRST_BRACKET * (hi - lo))
    if probe(mid):
        lo = mid
        if probe(hi):
            lo = hi
    else:
        hi = mid
    # Illinois (modified regula falsi) on f(q) = log(size(q)) - log(target)
    target = math.log(CLOSE_ENOUGH * budget + (1 - CLOSE_ENOUGH) * budget / 2)
    f = {q: math.log(max(n, 1)) - target for q, n in sizes.items()}
    f_lo, f_hi = f[lo], f.get(hi, math.log(max(sizes.get(hi, budget * 2), 1)) - target)
    kept = 0  # +1: hi was kept last time, -1: lo was kept
    bisect = False  # after a probe that did not halve the bracket, bisect once
    limit = MAX_PROBES_INT if integer else MAX_PROBES_FLOAT
    while hi - lo > step and probes < limit and not (best is not None and best[0] >= CLOSE_ENOUGH * budget):
        width = hi - lo
        if bisect or f_hi <= f_lo:
            q = (lo + hi) / 2
        else:
            q = (lo * f_hi - hi * f_lo) / (f_hi - f_lo)
        q = snap(min(max(q, lo + step), hi - step))
        if q <= lo or q >= hi:
            q = snap((lo + hi) / 2)
            if q <= lo or q >= hi:
                break
        if probe(q):
            lo, f_lo = q, math.log(max(sizes[q], 1)) - target
            if kept == +1:
                f_hi /= 2
            kept = +1
        else:
            hi, f_hi = q, math.log(max(sizes[q], 1)) - target
            if kept == -1:
                f_lo /= 2
            kept = -1
        bisect = not bisect and (hi - lo) > width / 2
    assert best is not None
    size, q, payload = best
    return RateResult(quality=q, payload=payload, size=size, probes=probes)


#: how far below the draft's quality :func:`refine_integer` steps before it gives up
REFINE_MAX_DOWN = 4
#: how far above it :func:`refine_integer` climbs (each step is a slow encode)
REFINE_MAX_UP = 3


def refine_integer(
    encode: Callable[[float], bytes],
    size_of: Callable[[bytes], int],
    budget: int,
    start: float,
    lo: float = 0.0,
    hi: float = 100.0,
) -> tuple[RateResult | None, int]:
    """(the highest integer quality near ``start`` whose payload fits, or None; probes spent).

    For codecs whose rate search runs on a fast draft encoder (AVIF: libaom at a
    higher speed) and whose final encoder's sizes differ by a few percent: probe
    ``start``; step up while it fits (at most :data:`REFINE_MAX_UP` steps), or
    down (at most :data:`REFINE_MAX_DOWN` steps) until it fits. None when nothing
    fits within those steps (the caller then runs :func:`fit_budget` on the final
    encoder); the probe count covers the misses too. Usually 2 probes.
    """
    probes = 0
    found: tuple[float, bytes, int] | None = None

    def fits(q: float) -> tuple[bytes, int] | None:
        nonlocal probes
        payload = encode(q)
        probes += 1
        size = size_of(payload)
        return (payload, size) if size <= budget else None

    q = float(min(max(round(start), lo), hi))
    r = fits(q)
    if r is not None:
        found = (q, *r)
        for _ in range(REFINE_MAX_UP):
            if q + 1 > hi:
                break
            r = fits(q + 1)
            if r is None:
                break
            q += 1
            found = (q, *r)
    else:
        for _ in range(REFINE_MAX_DOWN):
            q -= 1
            if q < lo:
                break
            r = fits(q)
            if r is not None:
                found = (q, *r)
                break
    if found is None:
        return None, probes
    q, payload, size = found
    return RateResult(quality=q, payload=payload, size=size, probes=probes), probes


def fit_budget_drafted(
    draft: Callable[[float], bytes],
    encode: Callable[[float], bytes],
    size_of: Callable[[bytes], int],
    budget: int,
) -> RateResult:
    """:func:`fit_budget` for an integer-quality codec with a fast ``draft`` encoder beside the final ``encode``.

    Searches on the draft, then :func:`refine_integer` on the final encoder near the draft's
    quality. Falls back to a full search on the final encoder when the draft cannot fit the
    budget (the final encoder's smallest file can be the smaller one) or the refinement finds
    no fit nearby. ``probes`` counts every encode of either encoder. BudgetTooSmall carries the
    final encoder's smallest size.
    """
    spent = 0
    try:
        found = fit_budget(draft, size_of, budget, integer=True)
    except BudgetTooSmall:  # raised after its one probe, at the lowest quality
        found, spent = None, 1
    if found is not None:
        res, refine_probes = refine_integer(encode, size_of, budget, found.quality)
        spent = found.probes + refine_probes
        if res is not None:
            return replace(res, probes=spent)
    res = fit_budget(encode, size_of, budget, integer=True)
    return replace(res, probes=res.probes + spent)
