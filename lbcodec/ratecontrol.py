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
    """Even the lowest quality does not fit; ``smallest`` is its size in bytes and ``payload`` (where
    known) the codec's bitstream in it: the rest of those bytes is the container's."""

    def __init__(self, smallest: int, budget: int, payload: bytes | None = None):
        super().__init__(f"budget of {budget} bytes cannot be met (smallest is {smallest} bytes)")
        self.smallest = smallest
        self.budget = budget
        self.payload = payload


def fit_budget(
    encode: Callable[[float], bytes],
    size_of: Callable[[bytes], int],
    budget: int,
    integer: bool,
    lo: float = 0.0,
    hi: float = 100.0,
    sizes: dict[float, int] | None = None,
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
        sizes: if given, filled with every probe's ``size_of`` by quality (also when
            BudgetTooSmall is raised), for a caller that refines on another encoder.
    """
    probes = 0
    best: tuple[int, float, bytes] | None = None
    sizes = {} if sizes is None else sizes

    lowest_payload = b""  # the bitstream of the first probe (the lowest quality)

    def probe(q: float) -> bool:
        nonlocal probes, best, lowest_payload
        payload = encode(q)
        probes += 1
        size = sizes[q] = size_of(payload)
        if probes == 1:
            lowest_payload = payload
        if size <= budget:
            if best is None or size > best[0] or (size == best[0] and q > best[1]):
                best = (size, q, payload)
            return True
        return False

    step = 1.0 if integer else FLOAT_STEP

    def snap(q: float) -> float:
        return float(int(q)) if integer else round(q, 2)

    if not probe(lo):
        raise BudgetTooSmall(sizes[lo], budget, payload=lowest_payload)
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


#: cap on the final encoder's probes in :func:`refine_guided` (its usual cost is 2-3)
REFINE_MAX_PROBES = 6


def _log_interp(points: dict[float, int], q: float) -> float:
    """log(size) at ``q``, linear in quality between the nearest measured points (the end segments
    extended beyond them; one point: flat)."""
    qs = sorted(points)
    logs = [math.log(max(points[x], 1)) for x in qs]
    if len(qs) == 1:
        return logs[0]
    j = 1
    while j < len(qs) - 1 and qs[j] < q:
        j += 1
    q0, q1, l0, l1 = qs[j - 1], qs[j], logs[j - 1], logs[j]
    return l0 + (l1 - l0) * (q - q0) / (q1 - q0)


def refine_guided(
    encode: Callable[[float], bytes],
    size_of: Callable[[bytes], int],
    budget: int,
    start: float,
    guide: dict[float, int],
    lo: float = 0.0,
    hi: float = 100.0,
) -> tuple[RateResult | None, int]:
    """(the highest integer quality near ``start`` whose payload fits, or None; probes spent).

    For codecs whose rate search runs on a fast draft encoder (AVIF: libaom at a higher speed) and
    whose final encoder's sizes differ from the draft's by a few percent, guided by the draft's
    sizes (``guide``: quality -> size, the draft search's probes): a draft's files can run 3-10 %
    over the final encoder's on small images, which puts the final encoder's fit several integer
    qualities (some of them giving identical files) above the draft's, out of reach of a climb one
    step at a time. Each next quality is where the draft's size curve, scaled by the final/draft
    ratio measured at the nearest final probe, meets the budget; once a fitting and a non-fitting
    quality are known, where the final sizes' log-linear interpolation does (bisecting when that
    fails to halve the bracket). It stops when the two are adjacent, a fit is within
    :data:`CLOSE_ENOUGH` of the budget, or after :data:`REFINE_MAX_PROBES` probes. Usually 2-3
    probes. None when no probe fits.
    """
    probes = 0
    sizes: dict[float, int] = {}
    best: tuple[float, bytes, int] | None = None

    def probe(q: float) -> None:
        nonlocal probes, best
        payload = encode(q)
        probes += 1
        size = sizes[q] = size_of(payload)
        if size <= budget and (best is None or size > best[2] or (size == best[2] and q > best[0])):
            best = (q, payload, size)

    def model(q: float) -> float:
        """Predicted log(final size) at q: the draft's curve times the ratio at the nearest final probe."""
        near = min(sizes, key=lambda x: (abs(x - q), -x))
        return _log_interp(guide, q) + math.log(max(sizes[near], 1)) - _log_interp(guide, near)

    log_budget = math.log(budget) if budget > 0 else -math.inf
    q = float(min(max(round(start), lo), hi))
    width = None  # the bracket's width before the last probe, once there is one
    halve = True
    while True:
        probe(q)
        fit = [x for x, n in sizes.items() if n <= budget]
        top = max(fit) if fit else None  # highest fitting quality
        over = [x for x, n in sizes.items() if n > budget and (top is None or x > top)]
        ceil = min(over) if over else None  # lowest non-fitting quality above it
        if probes >= REFINE_MAX_PROBES or (best is not None and best[2] >= CLOSE_ENOUGH * budget):
            break
        a = lo - 1 if top is None else top  # the answer lies in (a, b)
        b = hi + 1 if ceil is None else ceil
        if b - a <= 1:
            break
        if top is not None and ceil is not None:
            if width is not None and b - a > width / 2:
                halve = False
            if halve:  # log-linear between the final encoder's own sizes at the bracket's ends
                la, lb = math.log(max(sizes[a], 1)), math.log(max(sizes[b], 1))
                nxt = a + (b - a) * (log_budget - la) / (lb - la) if lb > la else (a + b) / 2
            else:
                nxt = (a + b) / 2
            halve = True
            width = b - a
            q = float(min(max(math.floor(nxt), a + 1), b - 1))
        elif top is not None:  # everything probed fits: the first quality the model puts over the budget
            q = float(next((x for x in range(int(a) + 1, int(b)) if model(x) > log_budget), b - 1))
            width = b - a
        else:  # nothing fits yet: the highest quality the model puts within the budget
            q = float(max((x for x in range(int(a) + 1, int(b)) if model(x) <= log_budget), default=a + 1))
            width = b - a
    if best is None:
        return None, probes
    bq, payload, size = best
    return RateResult(quality=bq, payload=payload, size=size, probes=probes), probes


def fit_budget_drafted(
    draft: Callable[[float], bytes],
    encode: Callable[[float], bytes],
    size_of: Callable[[bytes], int],
    budget: int,
) -> RateResult:
    """:func:`fit_budget` for an integer-quality codec with a fast ``draft`` encoder beside the final ``encode``.

    Searches on the draft, then :func:`refine_guided` on the final encoder from the draft's
    quality, guided by the draft's sizes. Falls back to a full search on the final encoder when
    the draft cannot fit the budget (the final encoder's smallest file can be the smaller one) or
    the refinement finds no fit. ``probes`` counts every encode of either encoder. BudgetTooSmall
    carries the final encoder's smallest size.
    """
    spent = 0
    guide: dict[float, int] = {}
    try:
        found = fit_budget(draft, size_of, budget, integer=True, sizes=guide)
    except BudgetTooSmall:  # raised after its one probe, at the lowest quality
        found, spent = None, 1
    if found is not None:
        res, refine_probes = refine_guided(encode, size_of, budget, found.quality, guide)
        spent = found.probes + refine_probes
        if res is not None:
            return replace(res, probes=spent)
    res = fit_budget(encode, size_of, budget, integer=True)
    return replace(res, probes=res.probes + spent)
