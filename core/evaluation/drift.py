"""Distribution drift between a reference sample and current data, per column.

Statistics are scipy's own functions (so they agree with ``scipy.stats`` to the last bit):

* ``ks`` — two-sample Kolmogorov-Smirnov (``scipy.stats.ks_2samp``): statistic and p-value; drift when p < threshold.
* ``wasserstein`` — normed Wasserstein distance: ``scipy.stats.wasserstein_distance(ref, cur) / max(std(ref), 0.001)``
  (Evidently's ``wasserstein`` test); drift when ≥ threshold.
* ``jensenshannon`` — ``scipy.spatial.distance.jensenshannon`` (natural log) between category frequencies, or between
  the frequencies of the reference-quantile bins for numeric columns; drift when ≥ threshold.
* ``chisquare`` — ``scipy.stats.chisquare`` of current category counts against reference proportions scaled to the
  current size, over the union of categories (a category absent from the reference makes the statistic infinite
  and p = 0, as in Evidently); one category on both sides is identical (statistic 0, p = 1, where scipy has 0
  degrees of freedom and returns NaN); drift when p < threshold.
* ``z`` — two-sided two-proportion z-test for binary columns (pooled variance); drift when p < threshold.
* ``psi`` — Population Stability Index ``Σ (c − r) ln(c / r)`` over bins. Numeric bins are the reference's
  quantiles (``bins`` equal-frequency bins, default 10, edges from ``numpy.quantile``; duplicate edges merged; values
  above/below the reference range fall in the outer bins) — unless the column has no more distinct reference values
  than bins, in which case every value is its own bin, as are the categories of categorical columns. Empty bins get
  proportion ε = 0.0001 on either side so the logarithm stays finite. Drift when ≥ threshold (0.2 by default).
* ``auto`` — Evidently's documented defaults: with ≤ 1000 reference rows, KS for numeric columns with more than 5
  distinct values, chi-square for categorical ones, a z-test for binary ones, all at p < 0.05; with more reference
  rows, normed Wasserstein for numeric columns and Jensen-Shannon for categorical ones, both at 0.1.

The method and threshold actually applied to each column are returned with its result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

PSI_EPSILON = 1e-4
AUTO_SMALL_REFERENCE = 1000


@dataclass(frozen=True)
class ColumnData:
    """One column of reference and current data: numeric arrays, or category counts.

    ``current`` may be left unread (``None``) when ``current_bins`` is given: a callable that counts the current
    values in the bins of :func:`reference_cuts` where the data lives (``(cuts, masses) -> counts`` of length
    ``cuts.size + masses.size + 1``), with ``current_rows`` present values in all. :func:`statistic` and
    :func:`distribution` then only use those counts; the caller reads ``current`` whenever the chosen method needs
    the values themselves (see :func:`needs_current_values`).
    """

    name: str
    numeric: bool
    reference: np.ndarray = field(default_factory=lambda: np.empty(0))  #: numeric columns: finite values
    current: np.ndarray | None = field(default_factory=lambda: np.empty(0))
    ref_counts: dict[str, int] = field(default_factory=dict)  #: categorical columns: rows per category
    cur_counts: dict[str, int] = field(default_factory=dict)
    current_bins: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None
    current_rows: int | None = None
    #: numeric columns whose ``current`` is unread: the current rows per distinct value (counted where the data lives)
    cur_value_counts: dict[float, int] | None = None

    @property
    def ref_size(self) -> int:
        return int(self.reference.size) if self.numeric else sum(self.ref_counts.values())

    @property
    def cur_size(self) -> int:
        if not self.numeric:
            return sum(self.cur_counts.values())
        if self.current is None and self.cur_value_counts is not None:
            return sum(self.cur_value_counts.values())
        return int(self.current.size) if self.current is not None else int(self.current_rows or 0)

    @cached_property
    def sorted_reference(self) -> np.ndarray:
        return np.sort(self.reference)

    @cached_property
    def sorted_current(self) -> np.ndarray:
        """The current values, ascending: ``current`` itself, sorted in place (every statistic of it is of the
        values, not their order; a copy of 10M values costs more than the sort)."""
        values = self._current_values()
        if not values.flags.writeable:  # e.g. a view of Arrow or pandas memory
            return np.sort(values)
        values.sort()
        return values

    def _current_values(self) -> np.ndarray:
        if self.current is None:
            raise ValueError(f"the current values of {self.name} were not read")
        return self.current

    @cached_property
    def distinct(self) -> int:
        if self.numeric:
            ordered = self.sorted_reference
            return int(ordered.size and 1 + np.count_nonzero(ordered[1:] != ordered[:-1]))
        return len(self.ref_counts)


#: At most this many distinct current values of a numeric column are counted where the data lives
#: (:func:`value_counts_suffice`); a column with more is read instead.
MAX_COUNTED_VALUES = 100_000


def needs_current_values(col: ColumnData, method: str, bins: int) -> bool:
    """Whether :func:`statistic` and :func:`distribution` (``method``: a drift method or ``auto``) need a numeric
    column's current values, or only their counts per reference-quantile bin (PSI and Jensen-Shannon on a column of
    more than ``bins`` distinct reference values) and, if given, per distinct value (``cur_value_counts``, see
    :func:`value_counts_suffice`)."""
    if col.numeric and col.current is None and col.cur_value_counts is not None:
        return not value_counts_suffice(col, method)
    return method == "auto" or not (col.numeric and method in ("psi", "jensenshannon")
                                    and col.distinct > max(bins, 5))


def value_counts_suffice(col: ColumnData, method: str) -> bool:
    """Whether a numeric column's current counts per distinct value (with its counts per reference-quantile bin)
    are all ``method`` needs of its current values: every method but KS and Wasserstein, which need the values
    themselves (``auto`` picks one of them for more than 5 distinct reference values, :func:`resolve_auto`)."""
    if method == "auto":
        return col.distinct <= 5
    return method not in ("ks", "wasserstein")


def category_counts(col: ColumnData) -> tuple[dict[str, int], dict[str, int]]:
    """Reference and current counts per category (numeric columns count their distinct values)."""
    if not col.numeric:
        return col.ref_counts, col.cur_counts
    # + 0.0 turns -0.0 into 0.0: one number, one category (str(-0.0) would make it a second one)
    ref = {str(k): int(v) for k, v in zip(*np.unique(col.reference + 0.0, return_counts=True), strict=True)}
    if col.current is None and col.cur_value_counts is not None:
        return ref, {str(k + 0.0): int(v) for k, v in sorted(col.cur_value_counts.items()) if v}
    cur = {str(k): int(v) for k, v in zip(*np.unique(col._current_values() + 0.0, return_counts=True),
                                          strict=True)}
    return ref, cur


def _counts_aligned(ref: dict[str, int], cur: dict[str, int]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    keys = sorted(set(ref) | set(cur))
    return (np.array([ref.get(k, 0) for k in keys], dtype=float), np.array([cur.get(k, 0) for k in keys], dtype=float),
            keys)


def _quantiles(reference: np.ndarray, bins: int) -> np.ndarray:
    quantiles: np.ndarray = np.quantile(reference, np.linspace(0, 1, bins + 1))
    return quantiles


def quantile_edges(reference: np.ndarray, bins: int) -> np.ndarray:
    """Inner edges of ``bins`` equal-frequency bins of the reference (duplicates merged)."""
    return np.unique(_quantiles(reference, bins))[1:-1]


def point_masses(reference: np.ndarray, bins: int) -> np.ndarray:
    """Values holding so much of the reference that two or more of its ``bins + 1`` quantiles fall on them (at least
    about ``1/bins`` of the rows: capital gain's 0 in UCI Adult). Each is a bin of its own: merged into a
    neighbouring bin, a column whose reference is 92% zeros would have one bin and a PSI of 0 whatever happened."""
    values, counts = np.unique(_quantiles(reference, bins), return_counts=True)
    return values[counts >= 2]


def reference_cuts(reference: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """The reference's bin boundaries from one quantile computation: ``(cuts, masses)`` — the inner edges
    (:func:`quantile_edges`) and point masses (:func:`point_masses`) together, sorted, and the point masses alone.

    Bins are ``[a, b)`` between consecutive cuts (values outside the reference range fall in the outer bins), except
    that each point mass ``m`` is the bin ``{m}`` of its own: the bin of ``x`` is the number of cuts at or below ``x``
    plus the number of point masses strictly below ``x`` (:func:`bin_index`)."""
    values, counts = np.unique(_quantiles(reference, bins), return_counts=True)
    masses = values[counts >= 2]
    return np.union1d(values[1:-1], masses), masses


def bin_index(cuts: np.ndarray, masses: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The bin of each of ``values`` given :func:`reference_cuts`; there are ``cuts.size + masses.size + 1`` bins."""
    return np.searchsorted(cuts, values, side="right") + np.searchsorted(masses, values, side="left")


def binned(reference: np.ndarray, current: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Reference and current counts per bin of the reference's equal-frequency bins (:func:`reference_cuts`)."""
    cuts, masses = reference_cuts(reference, bins)
    k = cuts.size + masses.size + 1
    ref = np.bincount(bin_index(cuts, masses, reference), minlength=k).astype(float)
    return ref, np.bincount(bin_index(cuts, masses, current), minlength=k).astype(float)


def sorted_bin_counts(cuts: np.ndarray, masses: np.ndarray, ordered: np.ndarray) -> np.ndarray:
    """:func:`bin_index` counts of ascending ``ordered`` values, from the bins' boundaries alone (equal to
    ``np.bincount(bin_index(cuts, masses, ordered))``): the values below each boundary are counted by binary search.
    """
    # bin(x) = #cuts <= x + #masses < x: x is in a bin past boundary b when x >= b (a cut) or x > b (a mass)
    below = np.concatenate([np.searchsorted(ordered, cuts, side="left"),
                            np.searchsorted(ordered, masses, side="right")])
    below.sort()
    edges = np.concatenate([[0], below, [ordered.size]])
    return np.diff(edges).astype(float)


def column_binned(col: ColumnData, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`binned` of a numeric column: its reference and current counts per reference-quantile bin, the current
    ones counted where the data lives when the values were not read (``col.current_bins``)."""
    cuts, masses = reference_cuts(col.reference, bins)
    ref = sorted_bin_counts(cuts, masses, col.sorted_reference)
    if col.current is None and col.current_bins is not None:
        cur = np.asarray(col.current_bins(cuts, masses), dtype=float)
    else:
        cur = sorted_bin_counts(cuts, masses, col.sorted_current)
    return ref, cur


#: Values of the larger sample per block of :func:`wasserstein` (a block's arrays stay in the CPU's caches).
WASSERSTEIN_BLOCK = 1 << 15


def wasserstein(u: np.ndarray, v: np.ndarray, block: int = WASSERSTEIN_BLOCK) -> float:
    """``scipy.stats.wasserstein_distance(u, v)`` of two ascending arrays, in linear time and small blocks.

    scipy sorts both samples and their union, then finds every union value in each sample by binary search, and
    sums ``|U_k/n − V_k/m| · (x_{k+1} − x_k)`` over the union's sorted values ``x_k`` (``U_k``, ``V_k``: the values
    of each sample up to ``x_k``). Given the samples sorted, the same terms come from merging them: here the union
    is cut at every ``block``-th value of ``v`` (the u values below ``v[0]`` first), each piece merged on its own
    (a u value's place is ``i + #v < u[i]``, the counts are the piece's running counts plus the values before it),
    and each piece's terms summed by NumPy's pairwise summation; the pieces' sums are added exactly
    (:func:`math.fsum`). Tied
    values meet with a zero-width interval, whose term is 0 in either order, so the terms are scipy's — computed
    with the same floating-point operations — and only the order of the additions differs: the result equals
    scipy's to 1e-12 relative (bit for bit when one piece holds everything). Pieces keep the working arrays small:
    on 10M-value samples the fresh 10M-element arrays of one merge cost more than the arithmetic.
    """
    import math

    n, m = u.size, v.size
    if n == 0 or m == 0:
        raise ValueError("wasserstein needs values on both sides")
    v_starts = np.arange(0, m, block)
    u_starts = np.searchsorted(u, v[v_starts], side="left")  # the u values of piece j are >= its first v value
    pieces = [(0, int(u_starts[0]), 0, 0)] if u_starts[0] else []
    pieces += [(int(u_starts[j]), int(u_starts[j + 1]) if j + 1 < u_starts.size else n, int(v_starts[j]),
                min(int(v_starts[j]) + block, m)) for j in range(v_starts.size)]
    sums = []
    for i, (ua, ub, va, vb) in enumerate(pieces):
        up, vp = u[ua:ub], v[va:vb]
        size = up.size + vp.size
        places = np.searchsorted(vp, up, side="left") + np.arange(up.size)
        from_u = np.zeros(size, dtype=bool)
        from_u[places] = True
        last = i + 1 == len(pieces)
        union = np.empty(size + (0 if last else 1))
        union[:size][from_u] = up
        union[:size][~from_u] = vp
        if not last:  # the next piece begins with its first v value (its u values are not below it)
            union[size] = v[pieces[i + 1][2]]
        deltas = np.diff(union)
        terms = deltas.size
        u_cdf = np.cumsum(from_u[:terms], dtype=float)
        u_cdf += ua
        v_cdf = np.arange(1, terms + 1, dtype=float)
        v_cdf -= np.cumsum(from_u[:terms], dtype=float)
        v_cdf += va
        u_cdf /= n
        v_cdf /= m
        u_cdf -= v_cdf
        np.abs(u_cdf, out=u_cdf)
        u_cdf *= deltas
        sums.append(float(u_cdf.sum()))  # NumPy's pairwise sum (BLAS's dot would wake its threads per piece)
    if any(math.isnan(x) for x in sums):
        return math.nan
    return math.fsum(sums)


def bin_labels(reference: np.ndarray, bins: int) -> list[str]:
    """The labels of :func:`binned`'s bins, in order: ``< a``, ``[a, b)``, ``= m`` (a point mass),
    ``(m, b)``, ``≥ b`` / ``> m``."""
    cut_array, mass_array = reference_cuts(reference, bins)
    cuts, masses = cut_array.tolist(), set(mass_array.tolist())
    if not cuts:
        return ["all values"]
    labels = [f"< {_number_label(cuts[0])}"]
    for i, cut in enumerate(cuts):
        after = cuts[i + 1] if i + 1 < len(cuts) else None
        if cut in masses:
            labels.append(f"= {_number_label(cut)}")
            labels.append(f"> {_number_label(cut)}" if after is None else
                          f"({_number_label(cut)}, {_number_label(after)})")
        else:
            labels.append(f"≥ {_number_label(cut)}" if after is None else
                          f"[{_number_label(cut)}, {_number_label(after)})")
    return labels


#: Most categories a stored distribution lists; the rest are summed as one "(other categories)" bin.
MAX_DISTRIBUTION_CATEGORIES = 20


def _number_label(value: float) -> str:
    return f"{value:.4g}"


def distribution(col: ColumnData, bins: int = 10) -> dict[str, Any]:
    """The reference and current distributions of a column, for plotting them side by side (as Evidently does).

    ``{"bins": [label, …], "reference": [share, …], "current": [share, …]}``, shares in [0, 1] of each side's
    finite values. Numeric columns with more distinct reference values than ``bins`` use the reference-quantile bins
    PSI uses (:func:`bin_index`; labels ``< a``, ``[a, b)``, ``= m``, ``≥ b``); other columns list their values
    or categories, the :data:`MAX_DISTRIBUTION_CATEGORIES` most frequent in the reference first and the rest as
    "(other categories)".
    """
    if col.numeric and col.distinct > bins:
        ref, cur = column_binned(col, bins)
        labels = bin_labels(col.reference, bins)
    else:
        ref_counts, cur_counts = category_counts(col)
        keys = sorted(set(ref_counts) | set(cur_counts),
                      key=lambda k: (-ref_counts.get(k, 0), -cur_counts.get(k, 0), k))
        shown, rest = keys[:MAX_DISTRIBUTION_CATEGORIES], keys[MAX_DISTRIBUTION_CATEGORIES:]
        ref = np.array([ref_counts.get(k, 0) for k in shown] + ([sum(ref_counts.get(k, 0) for k in rest)] if rest
                                                                else []), dtype=float)
        cur = np.array([cur_counts.get(k, 0) for k in shown] + ([sum(cur_counts.get(k, 0) for k in rest)] if rest
                                                                else []), dtype=float)
        labels = [str(k) for k in shown] + (["(other categories)"] if rest else [])
    shares = [(counts / counts.sum()).round(6).tolist() if counts.sum() else [0.0] * counts.size
              for counts in (ref, cur)]
    return {"bins": labels, "reference": shares[0], "current": shares[1]}


def psi(ref_counts: np.ndarray, cur_counts: np.ndarray, epsilon: float = PSI_EPSILON) -> float:
    r = ref_counts / ref_counts.sum()
    c = cur_counts / cur_counts.sum()
    r = np.where(r == 0, epsilon, r)
    c = np.where(c == 0, epsilon, c)
    return float(np.sum((c - r) * np.log(c / r)))


def z_test(ref: dict[str, int], cur: dict[str, int]) -> tuple[float, float]:
    from scipy.stats import norm

    keys = sorted(set(ref) | set(cur))
    first = keys[0]
    n1, n2 = sum(ref.values()), sum(cur.values())
    p1, p2 = ref.get(first, 0) / n1, cur.get(first, 0) / n2
    pooled = (ref.get(first, 0) + cur.get(first, 0)) / (n1 + n2)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 0.0, 1.0
    z = (p1 - p2) / se
    return float(z), float(2 * norm.sf(abs(z)))


def resolve_auto(col: ColumnData) -> tuple[str, float]:
    """Evidently's default method and threshold for a column.

    "Binary" counts the categories of reference and current together: a two-proportion z-test on a reference
    category cannot see a category that replaced the other one, so such a column gets chi-square instead.
    """
    ref_keys, cur_keys = category_counts(col) if (not col.numeric or col.distinct <= 2) else ({}, {})
    binary = col.distinct <= 2 and len(set(ref_keys) | set(cur_keys)) <= 2
    numeric = col.numeric and col.distinct > 5
    if col.ref_size <= AUTO_SMALL_REFERENCE:
        if numeric:
            return "ks", 0.05
        return ("z", 0.05) if binary else ("chisquare", 0.05)
    return ("wasserstein", 0.1) if numeric else ("jensenshannon", 0.1)


def statistic(col: ColumnData, method: str, bins: int = 10) -> dict[str, Any]:
    """The drift statistic of one column by ``method``; p-value methods also report the statistic."""
    from scipy.spatial.distance import jensenshannon
    from scipy.stats import chisquare, ks_2samp

    if method == "ks":
        if not col.numeric:
            raise ValueError(f"ks needs a numeric column; {col.name} is categorical")
        result = ks_2samp(col.reference, col._current_values())
        return {"statistic": float(result.statistic), "p_value": float(result.pvalue)}
    if method == "wasserstein":
        if not col.numeric:
            raise ValueError(f"wasserstein needs a numeric column; {col.name} is categorical")
        norm = max(float(np.std(col.reference)), 0.001)
        return {"statistic": wasserstein(col.sorted_reference, col.sorted_current) / norm}
    if method == "psi":
        if col.numeric and col.distinct > bins:
            ref, cur = column_binned(col, bins)
        elif col.numeric:  # few distinct values: quantile bins would merge them; bin by value instead
            ref, cur, _ = _counts_aligned(*category_counts(col))
        else:
            ref, cur, _ = _counts_aligned(col.ref_counts, col.cur_counts)
        return {"statistic": psi(ref, cur), "bins": int(ref.size)}
    if method == "jensenshannon":
        if col.numeric and col.distinct > 5:
            ref, cur = column_binned(col, bins)
        elif col.numeric:
            ref, cur, _ = _counts_aligned(*category_counts(col))
        else:
            ref, cur, _ = _counts_aligned(col.ref_counts, col.cur_counts)
        return {"statistic": float(jensenshannon(ref / ref.sum(), cur / cur.sum()))}
    if method == "chisquare":
        ref, cur, _ = _counts_aligned(*category_counts(col))
        if ref.size == 1:  # one category on both sides: the distributions are identical (0 degrees of freedom)
            return {"statistic": 0.0, "p_value": 1.0}
        expected = ref / ref.sum() * cur.sum()
        with np.errstate(divide="ignore", invalid="ignore"):
            result = chisquare(cur, expected)
        statistic_value = float(result.statistic)
        p_value = float(result.pvalue) if np.isfinite(statistic_value) else 0.0
        return {"statistic": statistic_value, "p_value": p_value}
    if method == "z":
        z, p = z_test(*category_counts(col))
        return {"statistic": z, "p_value": p}
    raise ValueError(f"unknown drift method {method!r}")
