"""The judge's statistics, on whole counts and histograms. Pure (scipy for distributions).

Every test here is one-sided and asks the same question: are we `confidence` sure that the
new color (canary) is worse than the old one (baseline) by MORE than the policy's effect?
Noise smaller than the effect can never fail a release, however much traffic there is; a
real regression larger than the effect fails once there is enough traffic to be sure.

- `error_increase`: two proportions with a margin (the 0.1 pp threshold), Agresti-Caffo
  adjusted so that zero errors on either side still gives a sane standard error;
- `errors_above`: Clopper-Pearson lower bound of the canary's error rate (availability);
- `shift_test`: Mann-Whitney U of the canary's latency against the baseline's latency times
  (1 + effect), on histogram buckets (each request at its bucket's geometric middle; ties
  handled by the usual correction) — Kayenta's judge, with the effect as a shift;
- `tail_test`: is more than 5% of the canary slower than the baseline's p95 times
  (1 + effect)? An exact binomial test: the p95 criterion itself, with confidence.

Both latency tests take a `floor`: a latency under it counts as the floor (after the
baseline's shift), so differences that are all below it — scheduling noise between two
processes on one machine — are ties, never evidence. A canary request is "slow" only when
it is slower than both the shifted baseline and the floor.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from runbooks.core.model import Bucket

__all__ = [
    "ShiftResult",
    "TailResult",
    "error_increase",
    "errors_above",
    "quantile",
    "shift_test",
    "tail_test",
    "z_for",
]


def z_for(confidence: float) -> float:
    """The one-sided normal quantile for `confidence` (0..1): 0.95 -> 1.645."""
    from scipy.stats import norm

    return float(norm.ppf(confidence))


def error_increase(
    base_errors: float, base_total: float, new_errors: float, new_total: float, margin: float
) -> float:
    """z of "canary error rate - baseline error rate > margin" (margin as a fraction).

    Agresti-Caffo: one error and one success added to each side before estimating the
    standard error, so 0/100 vs 0/100 or 5/100 vs 0/100 still give finite, honest values.
    """
    p_new = (new_errors + 1) / (new_total + 2)
    p_base = (base_errors + 1) / (base_total + 2)
    se = math.sqrt(p_new * (1 - p_new) / (new_total + 2) + p_base * (1 - p_base) / (base_total + 2))
    observed = new_errors / new_total - base_errors / base_total
    return (observed - margin) / se


def errors_above(errors: float, total: float, rate: float, confidence: float) -> bool:
    """Whether the true error rate is above `rate`, with `confidence` (Clopper-Pearson)."""
    if errors <= 0:
        return False
    from scipy.stats import beta

    lower = float(beta.ppf(1 - confidence, errors, total - errors + 1))
    return lower > rate


def quantile(buckets: Sequence[Bucket], q: float) -> float | None:
    """The q-quantile of a histogram (non-cumulative counts), interpolated inside its bucket
    (from the previous bound, 0 for the first); the last finite bound for the +Inf bucket.
    None for an empty histogram; ValueError for q outside 0..1."""
    if not 0 <= q <= 1:
        raise ValueError(f"quantile must be within 0..1; got {q}")
    total = sum(count for _, count in buckets)
    if total <= 0:
        return None
    rank, seen, lower = q * total, 0.0, 0.0
    for upper, count in buckets:
        if count > 0 and seen + count >= rank:
            if math.isinf(upper):
                return lower
            return lower + (upper - lower) * (rank - seen) / count
        seen += count
        lower = upper if not math.isinf(upper) else lower
    return lower


@dataclass(frozen=True)
class ShiftResult:
    """Mann-Whitney of canary vs baseline x (1 + effect): z > 0 means the canary is slower."""

    z: float
    auc: float  # P(canary slower than the shifted baseline), ties counted half


def shift_test(
    baseline: Sequence[Bucket], canary: Sequence[Bucket], effect: float, floor: float = 0.0
) -> ShiftResult:
    """Mann-Whitney U on grouped data; the baseline's values are multiplied by 1 + effect,
    then every value under `floor` (seconds) counts as `floor`."""
    points = [
        (max(_middle(b, i, baseline) * (1 + effect), floor), n, 0)
        for i, (b, n) in enumerate(baseline)
    ]
    points += [(max(_middle(b, i, canary), floor), n, 1) for i, (b, n) in enumerate(canary)]
    n_base = sum(n for _, n, g in points if g == 0)
    n_new = sum(n for _, n, g in points if g == 1)
    if n_base <= 0 or n_new <= 0:
        return ShiftResult(0.0, 0.5)
    u, ties = _u_statistic(points)
    total = n_base + n_new
    variance = n_base * n_new / 12 * ((total + 1) - ties / (total * (total - 1)))
    z = (u - n_base * n_new / 2) / math.sqrt(variance) if variance > 0 else 0.0
    return ShiftResult(z, u / (n_base * n_new))


@dataclass(frozen=True)
class TailResult:
    """How much of the canary is slower than the baseline's p95 x (1 + effect)."""

    threshold_seconds: float
    slower: float  # canary requests above the threshold
    total: float
    significant: bool  # more than 5% above it, with the confidence asked


def tail_test(
    baseline: Sequence[Bucket],
    canary: Sequence[Bucket],
    effect: float,
    confidence: float,
    floor: float = 0.0,
) -> TailResult | None:
    """Binomial test of "more than 5% of the canary is above max(baseline p95 x (1 + effect),
    floor)" (`floor` in seconds)."""
    base_p95 = quantile(baseline, 0.95)
    total = sum(n for _, n in canary)
    if base_p95 is None or total <= 0:
        return None
    threshold = max(base_p95 * (1 + effect), floor)
    slower = _count_above(canary, threshold)
    from scipy.stats import binomtest

    p_value = binomtest(round(slower), round(total), 0.05, alternative="greater").pvalue
    return TailResult(threshold, slower, total, bool(p_value < 1 - confidence))


def _middle(upper: float, index: int, buckets: Sequence[Bucket]) -> float:
    lower = buckets[index - 1][0] if index > 0 else 0.0
    if math.isinf(upper):
        return lower * 1.5 if lower > 0 else 1.0
    return math.sqrt(lower * upper) if lower > 0 else upper / 2


def _u_statistic(points: list[tuple[float, float, int]]) -> tuple[float, float]:
    """U of the canary (group 1) and the tie term sum(t^3 - t) over equal values."""
    u, ties, base_below = 0.0, 0.0, 0.0
    for value in sorted({p[0] for p in points}):
        base_here = sum(n for v, n, g in points if v == value and g == 0)
        new_here = sum(n for v, n, g in points if v == value and g == 1)
        u += new_here * (base_below + base_here / 2)
        tied = base_here + new_here
        ties += tied**3 - tied
        base_below += base_here
    return u, ties


def _count_above(buckets: Sequence[Bucket], threshold: float) -> float:
    """Requests above `threshold`, interpolating inside the bucket that holds it."""
    above, lower = 0.0, 0.0
    for upper, count in buckets:
        if lower >= threshold:
            above += count
        elif upper > threshold and not math.isinf(upper):
            above += count * (upper - threshold) / (upper - lower)
        elif math.isinf(upper):
            above += count
        lower = upper if not math.isinf(upper) else lower
    return above
