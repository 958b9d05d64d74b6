"""Error control of the spatial grid: Richardson estimates and refinement (physics.md §9.4).

Every lattice quantity of the simulator — T(E), J(V), the self-consistent potential —
converges at second order in the spacing a (physics.md §3, §9: the finite-difference
Laplacian, the bond masses, the smooth interfaces of width δ = a/2, the Poisson stencil):

    Q_a = Q + c·a² + O(a⁴)                                               (physics.md eq. 9.11)

so a second solve on the grid of every other point (spacing 2a) estimates the error of the
fine one without knowing Q:

    |Q_a − Q| ≈ |Q_a − Q_2a| / (2² − 1)                                   (physics.md eq. 9.12)

:func:`error_controlled` wraps any solver ``solve(n_points)``: it solves on N and on
(N − 1)/2 + 1 points (N odd, so the coarse spacing is exactly 2a), estimates the error of
every output by (9.12), and, while the largest estimate exceeds ``tolerance`` times a
scale (the peak current density), doubles the grid (the old fine grid becomes the
coarse one, so each refinement costs one new solve). Nothing here knows about devices.
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

import numpy as np

#: Convergence order p of the lattice (physics.md eq. 9.11).
RICHARDSON_ORDER = 2
#: Default tolerance: the spatial error of J, max over the biases, ≤ 0.5 % of the peak.
DEFAULT_GRID_TOLERANCE = 5e-3
#: The refinement stops at this many grid points (and says the tolerance was not met).
MAX_AUTO_POINTS = 16001


class GridEstimate(NamedTuple):
    """Result of :func:`error_controlled`.

    Attributes:
      n_points: N of the returned (fine) solution.
      coarse_n_points: (N − 1)/2 + 1, the grid of the comparison solve (spacing 2a).
      values: (K,) outputs on the fine grid.
      coarse_values: (K,) outputs on the coarse grid.
      error: (K,) Richardson estimate |Q_a − Q_2a|/(2^p − 1) of each output's error (eq. 9.12).
      scale: the scale the tolerance refers to (e.g. the peak current density).
      relative_error: max(error)/scale.
      tolerance: the requested relative tolerance.
      met: relative_error ≤ tolerance.
      refinements: how many times the grid was doubled.
      payload: whatever ``solve`` returned beside the values on the fine grid.
    """

    n_points: int
    coarse_n_points: int
    values: np.ndarray
    coarse_values: np.ndarray
    error: np.ndarray
    scale: float
    relative_error: float
    tolerance: float
    met: bool
    refinements: int
    payload: Any

    def to_dict(self) -> dict:
        """The JSON-able summary (no arrays but the error per output)."""
        return {
            "n_points": self.n_points,
            "coarse_n_points": self.coarse_n_points,
            "method": f"Richardson, order {RICHARDSON_ORDER}: |Q_N - Q_coarse|/{2**RICHARDSON_ORDER - 1}",
            "relative_error": self.relative_error,
            "tolerance": self.tolerance,
            "met": self.met,
            "refinements": self.refinements,
            "error_estimate": [float(e) for e in self.error],
        }


def odd_points(length_nm: float, spacing_nm: float, minimum: int = 5) -> int:
    """The odd N ≥ ``minimum`` whose spacing L/(N − 1) is the largest one ≤ ``spacing_nm``."""
    if not (length_nm > 0 and spacing_nm > 0 and math.isfinite(length_nm / spacing_nm)):
        raise ValueError(f"length_nm and spacing_nm must be finite and > 0, got {length_nm!r}, {spacing_nm!r}")
    n = 2 * math.ceil(length_nm / (2.0 * spacing_nm)) + 1
    return max(n, minimum + 1 - minimum % 2)


def coarse_points(n_points: int) -> int:
    """⌊(N − 1)/2⌋ + 1: every other point of an odd grid (spacing exactly 2a; for even N
    the ratio of the spacings is (N − 1)/⌊(N − 1)/2⌋, slightly above 2). N ≥ 5."""
    if n_points < 5:
        raise ValueError(f"n_points must be >= 5 for a grid and its half, got {n_points}")
    return (n_points - 1) // 2 + 1


def richardson_error(fine, coarse, ratio: float = 2.0, order: int = RICHARDSON_ORDER) -> np.ndarray:
    """|Q_a − Q_ra|/(r^p − 1), the estimated error of the fine values (physics.md eq. 9.12)."""
    return np.abs(np.asarray(fine, float) - np.asarray(coarse, float)) / (ratio**order - 1.0)


def grid_estimate(fine, coarse, n_points: int, tolerance: float = DEFAULT_GRID_TOLERANCE,
                  scale: Callable[[np.ndarray], float] | None = None, refinements: int = 0,
                  payload=None) -> GridEstimate:
    """:class:`GridEstimate` of ``fine`` (on N = ``n_points``) against ``coarse`` (on
    :func:`coarse_points` (N)), by eq. 9.12; ``scale`` as in :func:`error_controlled`."""
    fine, coarse = np.asarray(fine, float), np.asarray(coarse, float)
    error = richardson_error(fine, coarse, (n_points - 1) / (coarse_points(n_points) - 1))
    s = float((scale or (lambda v: float(np.max(np.abs(v)))))(fine))
    rel = float(np.max(error) / s) if s > 0 else (0.0 if not np.any(error) else math.inf)
    return GridEstimate(int(n_points), coarse_points(n_points), fine, coarse, error, s, rel, float(tolerance),
                        rel <= tolerance, refinements, payload)


def error_controlled(
    solve: Callable[[int], tuple[np.ndarray, Any]],
    n_points: int,
    tolerance: float = DEFAULT_GRID_TOLERANCE,
    scale: Callable[[np.ndarray], float] | None = None,
    *,
    refine: bool = True,
    max_points: int = MAX_AUTO_POINTS,
    coarse=None,
) -> GridEstimate:
    """Solve on ``n_points`` and its half grid, estimate the error, refine until it is met.

    Args:
      solve: ``solve(N) -> (values, payload)``, values a 1-D array of outputs.
      n_points: starting N (≥ 5; odd keeps the coarse grid a subset of the fine one).
      tolerance: wanted max(error)/scale (> 0).
      scale: ``scale(values) -> float`` (default max|values|); the error is relative to it.
      refine: double N while the tolerance is not met (False: report only).
      max_points: never solve on more points than this (the result then says ``met=False``).
      coarse: an already computed ``solve(coarse_points(n_points))`` to reuse.
    Returns:
      :class:`GridEstimate` on the last (finest) grid.
    """
    if not tolerance > 0:
        raise ValueError(f"tolerance must be > 0, got {tolerance!r}")
    n = int(n_points)
    lower = coarse if coarse is not None else solve(coarse_points(n))
    upper = solve(n)
    refinements = 0
    while True:
        est = grid_estimate(upper[0], lower[0], n, tolerance, scale, refinements, upper[1])
        nxt = 2 * (n - 1) + 1
        if est.met or not refine or nxt > max_points:
            return est
        lower, upper, n = upper, solve(nxt), nxt
        refinements += 1
