"""Finite-element QTBM: high-order transmission with abrupt interfaces (physics.md §14).

The continuum scattering problem of physics.md §2 and §9 (BenDaniel–Duke, each lead with
its own mass) is discretised by Lagrange finite elements of degree p on a mesh of
[0, L] whose element ends include every interface (breakpoint):

* weak form (14.1): ∫[(C₀/m)ψ′φ′ + (U − E)ψφ]dx − [(C₀/m)ψ′φ]₀ᴸ = 0, with Gauss–Legendre
  quadrature of p + 2 points per element;
* exact continuum lead conditions (14.2)–(14.3): ψ′(0) + ik_Lψ(0) = 2ik_L,
  ψ′(L) = ik_Rψ(L), k_s = √(m_s(E − U_s))/√C₀, which enter the system as the
  self-energies Σ_s = −i·C₀k_s/m_s and the source b₀ = −2i·C₀k_L/m_L;
* static condensation (14.5): each element's p − 1 interior unknowns are eliminated
  (batched over elements and energies), leaving a symmetric tridiagonal system in the
  element-end values whose coefficients depend on E. Its corner Green's function comes
  from the same O(N) recurrence and recomputing custom VJP as the finite-difference
  solver (:func:`.qtbm.corner_green`, energy-resolved coefficients);
* T = 4(C₀k_L/m_L)(C₀k_R/m_R)|G_{N,0}|² (14.4), the Fisher–Lee form of
  T = (k_R/m_R)/(k_L/m_L)|ψ(L)|², zero when either lead is evanescent.

The mesh (physics.md §14.4): element ends are b_s + f·(b_{s+1} − b_s) for fixed fractions
f inside each segment [b_s, b_{s+1}] between consecutive breakpoints, so the node
positions — and T — are differentiable functions of the breakpoints and of L (exact
d/d thickness, no smoothing). By default the fractions and counts are graded by the
local resolution wavenumber (14.7) and chosen so that T is converged to ``tol``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .. import validation as val
from .constants import DEFAULT_M_EFF, HBAR2_OVER_2M0_EV_NM2
from .qtbm import corner_green, solve_tridiagonal

#: Element degrees p the solver supports.
SUPPORTED_ORDERS = (1, 2, 3, 4, 5, 6)

#: Default convergence target of the graded mesh: |ΔT| per energy (physics.md §14.4).
DEFAULT_TOL = 1e-8

#: Element length × local resolution wavenumber per element at tolerance 1, for each p:
#: θ_p(tol) = THETA_AT_UNIT_TOL[p]·tol^{1/(2p)} (physics.md eq. 14.8; calibrated on the
#: Pöschl–Teller barrier and an abrupt double barrier with mass steps, physics.md §14.4).
THETA_AT_UNIT_TOL = {1: 0.64, 2: 2.6, 3: 4.8, 4: 5.9, 5: 6.4, 6: 6.6}

#: Largest element length × local wavenumber accepted (physics.md §14.3): below π the
#: condensed interior blocks are positive definite, so the condensation cannot break down.
MAX_KH = 0.95 * math.pi

#: Refuse systems whose element matrices for all energies would exceed this many numbers.
MAX_WORK = 50_000_000

_SAMPLES_PER_SEGMENT = 257


# --------------------------------------------------------------------------------------
# Reference element: Gauss–Lobatto–Legendre nodes, Lagrange basis, Gauss quadrature
# --------------------------------------------------------------------------------------
class ReferenceElement(NamedTuple):
    """Degree-p Lagrange element on ξ ∈ [−1, 1] (physics.md §14.2).

    Attributes:
      nodes: (p+1,) Gauss–Lobatto–Legendre nodes (−1 and 1 first and last).
      weights: (q,) Gauss–Legendre weights, q = p + 2.
      points: (q,) Gauss–Legendre points mapped to [0, 1] (the fraction of the element).
      basis: (q, p+1) Lagrange basis functions at the quadrature points.
      dbasis: (q, p+1) their ξ-derivatives.
    """

    nodes: np.ndarray
    weights: np.ndarray
    points: np.ndarray
    basis: np.ndarray
    dbasis: np.ndarray


@functools.lru_cache(maxsize=None)
def reference_element(order: int) -> ReferenceElement:
    """The degree-``order`` reference element (physics.md §14.2); NumPy constants, cached."""
    p = int(order)
    interior = np.polynomial.legendre.Legendre.basis(p).deriv().roots() if p >= 2 else np.zeros(0)
    nodes = np.concatenate([[-1.0], np.sort(np.real(interior)), [1.0]])
    xi, weights = np.polynomial.legendre.leggauss(p + 2)
    basis, dbasis = lagrange_basis(nodes, xi)
    return ReferenceElement(nodes, weights, 0.5 * (xi + 1.0), basis, dbasis)


def lagrange_basis(nodes, xi):
    """(basis, dbasis) of shape (len(xi), len(nodes)): the Lagrange polynomials of ``nodes`` and their
    derivatives at the reference points ``xi`` (NumPy). Also used to evaluate ψ inside elements
    (:mod:`.fem_density`)."""
    nodes, xi = np.asarray(nodes, float), np.asarray(xi, float)
    basis = np.empty((xi.size, nodes.size))
    dbasis = np.empty((xi.size, nodes.size))
    for i in range(nodes.size):
        others = np.delete(nodes, i)
        poly = np.polynomial.Polynomial.fromroots(others) / np.prod(nodes[i] - others)
        basis[:, i] = poly(xi)
        dbasis[:, i] = poly.deriv()(xi)
    return basis, dbasis


# --------------------------------------------------------------------------------------
# Mesh: element ends as fixed fractions of the segments between breakpoints
# --------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class FemMesh:
    """Topology of a finite-element mesh of [0, L] (physics.md §14.4).

    Element end j lies at x_j = (1 − f_j)·b_{s_j} + f_j·b_{s_j+1}, where b = (0,
    breakpoints…, L) and (s_j, f_j) = (``segment[j]``, ``fraction[j]``). The mesh is
    static (NumPy) data; the positions follow the breakpoints and L, which may be traced.

    Attributes:
      segment: (n_elements + 1,) int, the segment of each element end.
      fraction: (n_elements + 1,) float in [0, 1], its position inside the segment.
    """

    segment: np.ndarray
    fraction: np.ndarray

    @property
    def n_elements(self) -> int:
        return int(self.segment.size - 1)

    @property
    def n_segments(self) -> int:
        return int(self.segment[-1] + 1)

    def unknowns(self, order: int) -> int:
        """Degrees of freedom before condensation, n_elements·p + 1."""
        return self.n_elements * int(order) + 1

    def refined(self) -> "FemMesh":
        """Every element split in two at its midpoint (for the error estimate, eq. 14.9)."""
        seg_a, f_a = self.segment[:-1], self.fraction[:-1]
        # an element whose right end is a breakpoint ends at fraction 1 of its own segment
        f_b = np.where(self.segment[1:] == seg_a, self.fraction[1:], 1.0)
        seg = np.empty(2 * self.segment.size - 1, int)
        frac = np.empty(seg.size)
        seg[0::2], frac[0::2] = self.segment, self.fraction
        seg[1::2], frac[1::2] = seg_a, 0.5 * (f_a + f_b)
        return FemMesh(seg, frac)


def _segments_mesh(fractions_per_segment) -> FemMesh:
    """Join per-segment node fractions (each starting at 0, without the end 1) into a mesh."""
    seg = np.concatenate([np.full(len(f), s) for s, f in enumerate(fractions_per_segment)] + [[len(fractions_per_segment) - 1]])
    frac = np.concatenate([np.asarray(f, float) for f in fractions_per_segment] + [[1.0]])
    return FemMesh(seg.astype(int), frac)


def mesh_nodes(mesh: FemMesh, length_nm, breakpoints_nm=(), xp=jnp):
    """Element-end positions x_j (nm) of ``mesh`` for the given L and breakpoints; traceable with ``xp=jnp``."""
    bounds = xp.concatenate([xp.zeros(1), xp.reshape(xp.asarray(breakpoints_nm, float), (-1,)), xp.reshape(xp.asarray(length_nm, float), (1,))])
    f = mesh.fraction
    return (1.0 - f) * bounds[mesh.segment] + f * bounds[mesh.segment + 1]


def uniform_mesh(n_elements: int, length_nm, breakpoints_nm=()) -> FemMesh:
    """``n_elements`` elements shared among the segments in proportion to their lengths (each ≥ 1), uniform inside each."""
    bounds = np.concatenate([[0.0], np.asarray(breakpoints_nm, float).reshape(-1), [float(length_nm)]])
    widths = np.diff(bounds)
    counts = _allocate(n_elements, widths)
    return _segments_mesh([np.arange(c) / c for c in counts])


def _allocate(total: int, weights) -> np.ndarray:
    """Split ``total`` into len(weights) integers ≥ 1 roughly proportional to ``weights`` (largest remainder)."""
    k = len(weights)
    share = np.asarray(weights, float) / np.sum(weights) * (total - k)
    counts = 1 + np.floor(share).astype(int)
    rest = total - counts.sum()
    counts[np.argsort(-(share - np.floor(share)))[:rest]] += 1
    return counts


# --------------------------------------------------------------------------------------
# Graded mesh from the local resolution wavenumber (physics.md eq. 14.7–14.8)
# --------------------------------------------------------------------------------------
def resolution_wavenumber(u, m, x, energies):
    """k_res(x) = max(k_E, k_slope, k_curv) in 1/nm on the sample points ``x`` of one segment (eq. 14.7).

    k_E = max_E √(m|E − U|/C₀) (wavelength or decay length), k_slope = (m|U′|/C₀)^{1/3}
    (the Airy scale of a linear potential), k_curv = (m|U″|/C₀)^{1/4} (the oscillator
    scale of a curved one). U′, U″ by finite differences on the samples. NumPy.
    """
    e_lo, e_hi = float(np.min(energies)), float(np.max(energies))
    scale = m / HBAR2_OVER_2M0_EV_NM2
    k_e = np.sqrt(scale * np.maximum(np.abs(e_hi - u), np.abs(e_lo - u)))
    k = k_e
    if x.size >= 3:
        du = np.gradient(u, x)
        d2u = np.gradient(du, x)
        k = np.maximum(k, np.cbrt(scale * np.abs(du)))
        k = np.maximum(k, (scale * np.abs(d2u)) ** 0.25)
    return k


def theta(order: int, tol: float) -> float:
    """Element length × resolution wavenumber for tolerance ``tol`` (eq. 14.8), capped below π."""
    return min(THETA_AT_UNIT_TOL[int(order)] * float(tol) ** (1.0 / (2 * int(order))), MAX_KH)


def graded_mesh(potential, m_eff, energies, length_nm, breakpoints_nm=(), order=3, tol=DEFAULT_TOL, n_elements=None) -> FemMesh:
    """The graded mesh of physics.md eq. 14.8 (all inputs concrete).

    Inside each segment between breakpoints the element ends equidistribute ∫k_res dx
    (eq. 14.7): each element spans θ_p(tol)/k_res locally. The count per segment is
    ⌈∫k_res dx/θ⌉ (at least 1); with ``n_elements`` given, that total is shared among the
    segments in proportion to ∫k_res dx instead.
    """
    bounds = np.concatenate([[0.0], np.asarray(breakpoints_nm, float).reshape(-1), [float(length_nm)]])
    th = theta(order, tol)
    n = _SAMPLES_PER_SEGMENT
    offsets = (np.arange(n) + 0.5) / n
    x_all = (bounds[:-1, None] + np.diff(bounds)[:, None] * offsets).reshape(-1)  # one call per field
    u_all, m_all = _field("potential", potential, x_all), _field("m_eff", m_eff, x_all)
    if not val.is_concrete((u_all, m_all)):
        raise ValueError(
            "the default graded mesh needs a concrete potential and m_eff (these close over traced values); "
            "under jit/grad pass n_elements=… or mesh=fem_mesh(...)"
        )
    u_all, m_all = np.reshape(u_all, (-1, n)), np.reshape(m_all, (-1, n))
    cums, totals = [], []
    for a, b, x, u, m in zip(bounds[:-1], bounds[1:], x_all.reshape(-1, n), u_all, m_all):
        k = resolution_wavenumber(u, m, x, np.asarray(energies))
        cum = np.concatenate([[0.0], np.cumsum(k) * (b - a) / n])
        cums.append(cum)
        totals.append(cum[-1])
    if n_elements is None:
        counts = [max(1, math.ceil(t / th)) for t in totals]
    else:
        counts = _allocate(int(n_elements), np.maximum(totals, 1e-300))
    fractions = []
    for cum, c in zip(cums, counts):
        grid = np.linspace(0.0, 1.0, cum.size)
        targets = cum[-1] * np.arange(c) / c
        fractions.append(np.interp(targets, cum, grid) if cum[-1] > 0 else np.arange(c) / c)
    return _segments_mesh(fractions)


# --------------------------------------------------------------------------------------
# Assembly and condensation (physics.md eqs. 14.1, 14.5)
# --------------------------------------------------------------------------------------
def quadrature_points(nodes, order: int, xp=jnp):
    """(n_el, q) quadrature abscissae (nm) of the elements with ends ``nodes``; traceable with ``xp=jnp``."""
    t = reference_element(order).points
    return nodes[:-1, None] * (1.0 - t) + nodes[1:, None] * t


def element_matrices(nodes, u_q, c_q, order: int):
    """Energy-independent element matrices K = S + V and the mass matrix M (eq. 14.1).

    S_ij = (2/h)Σ_q w_q c(x_q) L′_i L′_j (stiffness, c = C₀/m), V_ij = (h/2)Σ_q w_q U(x_q) L_i L_j,
    M_ij = (h/2)Σ_q w_q L_i L_j. Returns (K, M) of shapes (n_el, p+1, p+1).
    """
    ref = reference_element(order)
    h = nodes[1:] - nodes[:-1]
    dd = np.einsum("qi,qj->qij", ref.dbasis, ref.dbasis)
    bb = np.einsum("qi,qj->qij", ref.basis, ref.basis)
    w = jnp.asarray(ref.weights)
    stiff = jnp.einsum("eq,qij->eij", c_q * w, dd) * (2.0 / h)[:, None, None]
    pot = jnp.einsum("eq,qij->eij", u_q * w, bb) * (0.5 * h)[:, None, None]
    mass = jnp.asarray(np.einsum("q,qij->ij", ref.weights, bb)) * (0.5 * h)[:, None, None]
    return stiff + pot, mass


def interior_modes(k_el, nodes, order: int):
    """Energy-independent part of the condensation (eq. 14.5): the interior Dirichlet modes of each element.

    Solves K_ii v = μ M_ii v with Vᵀ M_ii V = 1. M_ii = (h/2)·M̂_ii is the reference interior
    mass block for every element, so with M̂_ii = L̂L̂ᵀ (a NumPy constant) this is the
    ordinary symmetric eigenproblem of C = (2/h)·L̂⁻¹K_iiL̂⁻ᵀ, V = √(2/h)·L̂⁻ᵀW.
    Returns (μ (n_el, p−1), V (n_el, p−1, p−1)); empty for p = 1.
    """
    p = int(order)
    ref = reference_element(p)
    mass_ref = np.einsum("q,qi,qj->ij", ref.weights, ref.basis, ref.basis)[1:p, 1:p]
    n_el = k_el.shape[0]
    if p == 1:
        return jnp.zeros((n_el, 0)), jnp.zeros((n_el, 0, 0))
    linv = np.linalg.inv(np.linalg.cholesky(mass_ref))
    scale = 2.0 / (nodes[1:] - nodes[:-1])
    c = jnp.einsum("ij,ejk,lk->eil", linv, k_el[:, 1:p, 1:p], linv) * scale[:, None, None]
    mu, w = jnp.linalg.eigh(0.5 * (c + jnp.swapaxes(c, 1, 2)))
    v = jnp.einsum("ji,ejk->eik", linv, w) * jnp.sqrt(scale)[:, None, None]
    return mu, v


class _Couplings(NamedTuple):
    """Per-element data of the condensation (eq. 14.5): the interior modes (μ (n_el, p−1), V (n_el, p−1, p−1)),
    P = K_bi V and Q = M_bi V (n_el, 2, p−1; b ∈ {first, last node}), and M_bb (n_el, 2, 2)."""

    mu: jax.Array
    v: jax.Array
    pk: jax.Array
    qk: jax.Array
    m_bb: jax.Array


def _couplings(k_el, m_el, nodes) -> _Couplings:
    p = k_el.shape[-1] - 1
    mu, v = interior_modes(k_el, nodes, p)
    ends = np.array([0, p])
    pk = jnp.einsum("ebi,eik->ebk", k_el[:, ends][:, :, 1:p], v)
    qk = jnp.einsum("ebi,eik->ebk", m_el[:, ends][:, :, 1:p], v)
    return _Couplings(mu, v, pk, qk, m_el[:, ends][:, :, ends])


def _responses(cp: _Couplings, energies):
    """a_bk(E) = P_bk − E·Q_bk and c_bk(E) = a_bk(E)/(μ_k − E) as nested lists [b][k] of (..., M) arrays.

    −Σ_k v_k c_bk(E) is the interior response A_ii(E)⁻¹A_ib(E) to a unit value at end b and
    zero at the other, so c is all that the condensation and its derivatives need per energy.
    Works for all elements at once (n_el leading) or for one element inside a scan.
    """
    n_modes = cp.mu.shape[-1]
    a = [[cp.pk[..., b, k, None] - cp.qk[..., b, k, None] * energies for k in range(n_modes)] for b in range(2)]
    c = [[a[b][k] / (cp.mu[..., k, None] - energies) for k in range(n_modes)] for b in range(2)]
    return a, c


def _assemble(first, last, off):
    """(diag (N, M), off (N−1, M)) from the per-element entries A♭_00, A♭_pp, A♭_0p (n_el, M)."""
    zero = jnp.zeros_like(first[:1])
    return jnp.concatenate([first, zero]) + jnp.concatenate([zero, last]), off


def condensed_rational(k_el, m_el, nodes, energies):
    """:func:`condensed` without its custom derivative rule (autodiff differentiates the
    eigendecomposition of :func:`interior_modes`): the same values; the reference that the
    derivative rules are tested against."""
    p = k_el.shape[-1] - 1
    a, c = _responses(_couplings(k_el, m_el, nodes), energies)

    def entry(i, j):  # A♭_ij of eq. 14.5, i, j ∈ {0, 1}: the first and last node
        out = k_el[:, i * p, j * p][:, None] - m_el[:, i * p, j * p][:, None] * energies
        for k in range(p - 1):
            out = out - a[i][k] * c[j][k]
        return out

    return _assemble(entry(0, 0), entry(1, 1), entry(0, 1))


@jax.custom_jvp
def condensed(k_el, m_el, nodes, energies):
    """Static condensation (eq. 14.5): (diag (N, M), off (N−1, M)) of the end-value system.

    With the interior modes (μ_k, v_k) of :func:`interior_modes`,
    A_ii(E)⁻¹ = Σ_k v_k v_kᵀ/(μ_k − E), so the Schur complement in the two end values is

        A♭_ab(E) = K_ab − E·M_ab − Σ_k (P_ak − E·Q_ak)(P_bk − E·Q_bk)/(μ_k − E),
        P = K_bi V,  Q = M_bi V,   a, b ∈ {first, last node},

    an explicit rational function of E: per element and energy 3(p − 1) terms, no
    (p+1)² matrix per energy. μ_k > E on every element by eq. 14.6, so no term is singular.
    Element e contributes A♭_00 to diag_e, A♭_pp to diag_{e+1} and A♭_0p to off_e.
    ``energies`` may be complex (A♭ is holomorphic in E).

    Derivatives (physics.md §14.3; a custom JVP, which JAX transposes for reverse mode):
    dA♭_ab(E) = y_aᵀ(dK − E·dM − dE·M)y_b, y_a(E) the element solution for a unit value at
    end a and zero at the other (interior part −Σ_k v_k c_ak(E)). No derivative of the
    eigendecomposition is needed: dK and dM are projected once per element on (ends,
    interior modes), and per energy only elementwise products of the c_ak(E) remain.
    ``nodes`` enter the values only through M_ii = (h/2)·M̂_ii, so their derivative is
    carried by ``m_el`` (consistent with :func:`element_matrices`) and the tangent of
    ``nodes`` is not used. :func:`transmission_on_mesh` has its own recomputing reverse pass
    (:func:`_condensed_corner_green`).
    """
    return condensed_rational(k_el, m_el, nodes, energies)


def _to_modes(x, v, p):
    """Tᵀ x T: x (n_el, p+1, p+1) in the basis (first end, last end, interior modes) (energy-independent)."""
    idx = np.array([0, p])
    xi = jnp.einsum("eij,ejk->eik", x[:, :, 1:p], v)  # columns on the modes
    top = jnp.concatenate([x[:, :, idx], xi], axis=2)  # rows still nodal
    return jnp.concatenate([top[:, idx], jnp.einsum("eik,eij->ekj", v, top[:, 1:p])], axis=1)


def _from_modes(x, v, p):
    """T x Tᵀ, the transpose of :func:`_to_modes`: from (ends, modes) back to the element's nodal basis."""
    idx = np.array([0, p])
    out = jnp.zeros(x.shape, x.dtype).at[:, idx[:, None], idx[None, :]].set(x[:, :2, :2])
    out = out.at[:, idx, 1:p].set(jnp.einsum("eak,eik->eai", x[:, :2, 2:], v))
    out = out.at[:, 1:p, idx].set(jnp.einsum("eka,eik->eia", x[:, 2:, :2], v))
    return out.at[:, 1:p, 1:p].set(jnp.einsum("eik,ekl,ejl->eij", v, x[:, 2:, 2:], v))


@condensed.defjvp
def _condensed_jvp(primals, tangents):
    k_el, m_el, nodes, energies = primals
    dk, dm, _, de = tangents
    p = k_el.shape[-1] - 1
    e = energies
    cp = _couplings(k_el, m_el, nodes)
    _, c = _responses(cp, e)
    dk_t, dm_t = _to_modes(dk, cp.v, p), _to_modes(dm, cp.v, p)
    # y_a(E) in the (ends, modes) basis: 1 at end a, 0 (None) at the other end, −c_ak at mode k
    y = [[1.0, None] + [-ck for ck in c[0]], [None, 1.0] + [-ck for ck in c[1]]]

    def form(x, ya, yb):  # y_aᵀ x y_b over the non-zero entries, (n_el, M)
        total = 0.0
        for i, yi in enumerate(ya):
            for j, yj in enumerate(yb):
                if yi is not None and yj is not None:
                    total = total + (x[:, i, j][:, None] * yi) * yj
        return total

    def tangent(i, j):
        # dA♭_ij/dE = −M_ij + Σ_k (Q_ik c_jk + c_ik Q_jk − c_ik c_jk)
        slope = -cp.m_bb[:, i, j][:, None]
        for k in range(p - 1):
            slope = slope + cp.qk[:, i, k][:, None] * c[j][k] + c[i][k] * cp.qk[:, j, k][:, None] - c[i][k] * c[j][k]
        return form(dk_t, y[i], y[j]) - e * form(dm_t, y[i], y[j]) + slope * de

    return condensed_rational(k_el, m_el, nodes, e), _assemble(tangent(0, 0), tangent(1, 1), tangent(0, 1))


@jax.custom_vjp
def _condensed_corner_green(k_el, m_el, nodes, energies, sigma_l, sigma_r):
    """G_{N,0}(E) (M,) of the condensed end-value system (eqs. 14.4–14.5); real ``energies``.

    :func:`.qtbm.corner_green` on the coefficients of :func:`condensed`. Its custom VJP
    (physics.md §14.3) stores only the inputs. The reverse pass recomputes the
    condensation, takes the cotangents Ā♭(E) of every element entry from
    :func:`.qtbm.corner_green`'s own recomputing VJP, and then runs one scan over the
    elements that regenerates each element's c(E) and reduces over the energies as it goes:
    K̄ = Σ_E Σ_ab Ā♭_ab y_a y_bᵀ and M̄ = −Σ_E E·(same) in the (ends, modes) basis, and
    Ē(E) = Σ_el Ā♭(E) : dA♭/dE. Nothing of size elements × energies is formed besides the
    recurrence's own coefficients and cotangents.
    """
    diag, off = condensed_rational(k_el, m_el, nodes, energies)
    return corner_green(diag, -off, jnp.zeros_like(energies), sigma_l, sigma_r)


def _condensed_corner_green_fwd(k_el, m_el, nodes, energies, sigma_l, sigma_r):
    args = (k_el, m_el, nodes, energies, sigma_l, sigma_r)
    return _condensed_corner_green(*args), args


def _condensed_corner_green_bwd(args, g_bar):
    k_el, m_el, nodes, energies, sigma_l, sigma_r = args
    p = k_el.shape[-1] - 1
    e = energies
    diag, off = condensed_rational(k_el, m_el, nodes, e)
    zero = jnp.zeros_like(e)
    _, pull = jax.vjp(lambda d, h, sl, sr: corner_green(d, h, zero, sl, sr), diag, -off, sigma_l, sigma_r)
    d_bar, h_bar, sigma_l_bar, sigma_r_bar = pull(g_bar)
    cp = _couplings(k_el, m_el, nodes)
    pairs = [(k, l) for k in range(p - 1) for l in range(k, p - 1)]

    def element(e_bar, x):
        cp_e, s00, s11, h = x
        s01 = -0.5 * h  # Ā♭ symmetric: the off-diagonal cotangent is shared by A♭_0p and A♭_p0
        _, (c0, c1) = _responses(cp_e, e)
        r0 = [s00 * c0[k] + s01 * c1[k] for k in range(p - 1)]  # (Ā♭c)_0k
        r1 = [s01 * c0[k] + s11 * c1[k] for k in range(p - 1)]  # (Ā♭c)_1k
        # Σ_ab Ā♭_ab y_a y_bᵀ: ends × ends (Ā♭), ends × modes (−Ā♭c), modes × modes (cᵀĀ♭c)
        terms = [s00, s01, s11] + r0 + r1 + [r0[k] * c0[l] + r1[k] * c1[l] for k, l in pairs]
        sums = jnp.stack([jnp.sum(t) for t in terms] + [-jnp.sum(e * t) for t in terms])
        # dA♭_ab/dE = −M_ab + Σ_k (Q_ak c_bk + c_ak Q_bk − c_ak c_bk)
        m_bb = cp_e.m_bb
        slope = -(s00 * m_bb[0, 0] + 2.0 * s01 * m_bb[0, 1] + s11 * m_bb[1, 1])
        for k in range(p - 1):
            slope = slope + (2.0 * cp_e.qk[0, k] - c0[k]) * r0[k] + (2.0 * cp_e.qk[1, k] - c1[k]) * r1[k]
        return e_bar + slope, sums

    e_bar, sums = lax.scan(element, jnp.zeros_like(e), (cp, d_bar[:-1], d_bar[1:], h_bar))
    n = sums.shape[-1] // 2

    def nodal(w):  # the per-element sums w (n_el, n) as a matrix in the (ends, modes) basis, then nodal
        ends = jnp.stack([jnp.stack([w[:, 0], w[:, 1]], -1), jnp.stack([w[:, 1], w[:, 2]], -1)], -2)
        cross = -jnp.reshape(w[:, 3:3 + 2 * (p - 1)], (w.shape[0], 2, p - 1))
        modes = jnp.zeros((w.shape[0], p - 1, p - 1), w.dtype)
        for i, (k, l) in enumerate(pairs):
            modes = modes.at[:, k, l].set(w[:, 3 + 2 * (p - 1) + i]).at[:, l, k].set(w[:, 3 + 2 * (p - 1) + i])
        x = jnp.concatenate([jnp.concatenate([ends, cross], -1), jnp.concatenate([jnp.swapaxes(cross, 1, 2), modes], -1)], -2)
        return _from_modes(x, cp.v, p)

    return nodal(sums[:, :n]), nodal(sums[:, n:]), jnp.zeros_like(nodes), e_bar, sigma_l_bar, sigma_r_bar


_condensed_corner_green.defvjp(_condensed_corner_green_fwd, _condensed_corner_green_bwd)


def lead_flux(energies, u_lead, m_lead):
    """C₀k_s/m_s (eV·nm) and whether the lead propagates, k_s = √(m_s(E − U_s))/√C₀ (eq. 14.3).

    Guarded square root: finite value and gradient on both sides of the band edge.
    """
    arg = m_lead * (energies - u_lead) / HBAR2_OVER_2M0_EV_NM2
    open_ = arg > 0.0
    k = jnp.where(open_, jnp.sqrt(jnp.where(open_, arg, 1.0)), 0.0)
    return HBAR2_OVER_2M0_EV_NM2 * k / m_lead, open_


def _self_energies(energies, nodes, leads):
    """(Σ_L, Σ_R, flux_L, flux_R, both open): Σ_s = −i·C₀k_s/m_s, absorbing −i·C₀/(m_s h) if a lead is closed."""
    u_l, u_r, m_l, m_r = leads
    flux_l, open_l = lead_flux(energies, u_l, m_l)
    flux_r, open_r = lead_flux(energies, u_r, m_r)
    both = open_l & open_r
    absorb_l = HBAR2_OVER_2M0_EV_NM2 / (m_l * (nodes[1] - nodes[0]))
    absorb_r = HBAR2_OVER_2M0_EV_NM2 / (m_r * (nodes[-1] - nodes[-2]))
    sigma_l = -1j * jnp.where(both, flux_l, absorb_l)
    sigma_r = -1j * jnp.where(both, flux_r, absorb_r)
    return sigma_l, sigma_r, flux_l, flux_r, both


def transmission_on_mesh(nodes, u_q, c_q, leads, energies, order: int):
    """T(E) (M,) on element ends ``nodes`` with U and C₀/m at the quadrature points; no validation.

    ``leads`` = (U_L, U_R, m_L, m_R). jit/vmap/grad-safe in every array argument
    (physics.md eqs. 14.4–14.5); the corner Green's function comes from
    :func:`.qtbm.corner_green` with energy-resolved coefficients.
    """
    k_el, m_el = element_matrices(nodes, u_q, c_q, order)
    sigma_l, sigma_r, flux_l, flux_r, both = _self_energies(energies, nodes, leads)
    g = _condensed_corner_green(k_el, m_el, nodes, energies, sigma_l, sigma_r)
    return jnp.where(both, 4.0 * flux_l * flux_r * jnp.abs(g) ** 2, 0.0)


def end_values_on_mesh(nodes, u_q, c_q, leads, energies, order: int):
    """ψ at the element ends (M, N) from a Thomas solve of the condensed system (eq. 14.5)."""
    k_el, m_el = element_matrices(nodes, u_q, c_q, order)
    diag, off = condensed(k_el, m_el, nodes, energies)
    sigma_l, sigma_r, flux_l, _, _ = _self_energies(energies, nodes, leads)
    # here only the left lead need propagate (physics.md §3.8): keep −i·C₀k_R/m_R on the right
    u_l, u_r, m_l, m_r = leads
    flux_r_true, open_r = lead_flux(energies, u_r, m_r)
    sigma_r = jnp.where(open_r, -1j * flux_r_true, sigma_r)

    def one(d, o, sl, sr, fl):
        dc = d.astype(jnp.complex128).at[0].add(sl).at[-1].add(sr)
        rhs = jnp.zeros(d.shape, jnp.complex128).at[0].set(-2j * fl)
        return solve_tridiagonal(dc, o.astype(jnp.complex128), rhs)

    return jax.vmap(one, in_axes=(1, 1, 0, 0, 0))(diag, off, sigma_l, sigma_r, flux_l)


_transmission_jit = jax.jit(transmission_on_mesh, static_argnames="order")
_end_values_jit = jax.jit(end_values_on_mesh, static_argnames="order")


# --------------------------------------------------------------------------------------
# Input handling
# --------------------------------------------------------------------------------------
def _field(name: str, f, x):
    """Evaluate ``f`` (a constant or a callable of x in nm) on ``x``; check its shape and, if concrete, its values.

    A callable is evaluated under ``jax.jit`` (one compiled call instead of one eager
    dispatch per operation); closures over traced parameters work as well.
    """
    if callable(f):
        try:
            v = jax.jit(f)(x)
        except Exception as err:  # a callable that cannot take an array of positions
            raise ValueError(f"{name} must be a vectorised, traceable callable of x (nm): calling it on an array failed ({err})") from err
        if np.shape(v) != np.shape(x):
            raise ValueError(f"{name}(x) must return one value per position, shape {np.shape(x)}, got shape {np.shape(v)}")
    else:
        val.check_ndim(name, f, (0,))
        v = f
    v = val.as_float_array(name, v)
    if name == "m_eff":
        val.check_positive(name, v)
    if val.is_concrete(v):
        return np.broadcast_to(np.asarray(v, float), np.shape(x))
    return jnp.broadcast_to(jnp.asarray(v, jnp.float64), jnp.shape(x))


def _check_order(order) -> int:
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or int(order) not in SUPPORTED_ORDERS:
        raise ValueError(f"order must be an integer in {SUPPORTED_ORDERS[0]}…{SUPPORTED_ORDERS[-1]}, got {order!r}")
    return int(order)


def _check_breakpoints(breakpoints_nm, length_nm):
    val.check_ndim("breakpoints_nm", breakpoints_nm, (0, 1))
    bp = val.as_float_array("breakpoints_nm", breakpoints_nm)
    if val.is_concrete(bp):
        bp = np.atleast_1d(np.asarray(bp, float))
        if np.any(np.diff(bp) <= 0):
            raise ValueError(f"breakpoints_nm must be strictly increasing, got {bp}")
        if val.is_concrete(length_nm) and bp.size and (bp[0] <= 0 or bp[-1] >= float(length_nm)):
            raise ValueError(f"breakpoints_nm must lie inside (0, length_nm = {float(length_nm)}), got {bp}")
    return jnp.reshape(jnp.asarray(bp, jnp.float64), (-1,))


def _check_n_elements(n_elements, n_segments):
    if n_elements is None:
        return None
    if isinstance(n_elements, bool) or not isinstance(n_elements, (int, np.integer)) or n_elements < 1:
        raise ValueError(f"n_elements must be an integer >= 1, got {n_elements!r}")
    if n_elements < n_segments:
        raise ValueError(f"n_elements = {n_elements} is fewer than the {n_segments} segments between breakpoints")
    return int(n_elements)


class FemProblem(NamedTuple):
    """A validated finite-element transmission problem (physics.md §14): arrays for :func:`transmission_on_mesh`."""

    nodes: jax.Array
    u_q: jax.Array
    c_q: jax.Array
    leads: tuple
    energies: jax.Array
    order: int
    mesh: FemMesh


def prepare(potential, energies, length_nm, m_eff=DEFAULT_M_EFF, order=3, n_elements=None, breakpoints_nm=(), *, mesh=None, tol=DEFAULT_TOL) -> FemProblem:
    """Validate the inputs of :func:`transmission_fem` and build its mesh and quadrature data."""
    order = _check_order(order)
    val.check_ndim("energies", energies, (0, 1))
    energies = val.as_float_array("energies", energies)
    val.check_ndim("length_nm", length_nm, (0,))
    val.check_positive("length_nm", length_nm)
    bp = _check_breakpoints(breakpoints_nm, length_nm)
    n_seg = int(bp.shape[0]) + 1
    n_elements = _check_n_elements(n_elements, n_seg)
    if not float(tol) > 0:
        raise ValueError(f"tol must be > 0, got {tol!r}")
    if mesh is not None:
        if n_elements is not None:
            raise ValueError("pass either n_elements or mesh, not both")
        if not isinstance(mesh, FemMesh) or mesh.n_segments != n_seg:
            raise ValueError(f"mesh must be a FemMesh with {n_seg} segments (one more than the breakpoints)")
    else:
        geometry = (length_nm, breakpoints_nm)
        if n_elements is not None:
            if not val.is_concrete(geometry):
                raise ValueError(
                    "length_nm and breakpoints_nm are traced: the mesh topology must come from concrete "
                    "values; pass mesh=fem_mesh(...) computed at the reference geometry"
                )
            mesh = uniform_mesh(n_elements, float(length_nm), np.asarray(bp))
        else:
            if not val.is_concrete((geometry, energies, potential, m_eff)):
                raise ValueError(
                    "the default graded mesh needs concrete potential, m_eff, energies, length_nm and "
                    "breakpoints_nm; under jit/grad pass n_elements=… or mesh=fem_mesh(...)"
                )
            mesh = graded_mesh(potential, m_eff, np.atleast_1d(energies), float(length_nm), np.asarray(bp), order, tol)
    e = jnp.atleast_1d(jnp.asarray(energies, jnp.float64))
    work = mesh.n_elements * (order + 1) ** 2 * int(e.shape[0])
    if work > MAX_WORK:
        raise ValueError(
            f"{mesh.n_elements} elements of order {order} at {int(e.shape[0])} energies need {work:.3g} matrix "
            f"entries (> {MAX_WORK:.0e}); split the energies into batches or loosen tol"
        )
    concrete = val.is_concrete((length_nm, bp))
    xp = np if concrete else jnp
    nodes = mesh_nodes(mesh, length_nm, bp, xp)
    xq = quadrature_points(nodes, order, xp)
    # the leads' values U(0), U(L), m(0), m(L) and the quadrature values in one call per field
    points = xp.concatenate([xp.stack([xp.zeros(()), nodes[-1]]), xq.reshape(-1)])
    u_all, m_all = _field("potential", potential, points), _field("m_eff", m_eff, points)
    u_q, m_q = u_all[2:].reshape(xq.shape), m_all[2:].reshape(xq.shape)
    leads = (u_all[0], u_all[1], m_all[0], m_all[1])
    if val.is_concrete((nodes, u_q, m_q, e)):
        _check_resolution(np.asarray(nodes), np.asarray(u_q), np.asarray(m_q), np.asarray(e))
    return FemProblem(jnp.asarray(nodes), jnp.asarray(u_q), HBAR2_OVER_2M0_EV_NM2 / jnp.asarray(m_q), leads, e, order, mesh)


def _check_resolution(nodes, u_q, m_q, energies):
    """Refuse elements longer than ~half a local wavelength (eq. 14.6): there the condensation may break down."""
    h = np.diff(nodes)
    if np.any(h <= 0):
        raise ValueError("breakpoints_nm/mesh give elements of zero or negative length")
    k = np.sqrt(np.max(m_q, axis=1) * np.maximum(np.max(energies) - np.min(u_q, axis=1), 0.0) / HBAR2_OVER_2M0_EV_NM2)
    kh = k * h
    if np.any(kh >= MAX_KH):
        raise ValueError(
            f"n_elements too small for these energies: an element spans k·h = {np.max(kh):.3g} ≥ {MAX_KH:.3g} "
            "(more than ~half a local wavelength, physics.md eq. 14.6); use more elements or the default mesh"
        )


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------
def fem_mesh(potential, energies, length_nm, m_eff=DEFAULT_M_EFF, order=3, n_elements=None, breakpoints_nm=(), *, tol=DEFAULT_TOL) -> FemMesh:
    """The mesh :func:`transmission_fem` builds for these inputs (physics.md §14.4).

    Compute it once at concrete reference values and pass it as ``mesh=`` to differentiate
    with respect to breakpoints, L, or (with the default graded mesh) the potential: the
    mesh topology is then fixed and the element ends move with the breakpoints.
    """
    return prepare(potential, energies, length_nm, m_eff, order, n_elements, breakpoints_nm, tol=tol).mesh


def transmission_fem(potential, energies, length_nm, m_eff=DEFAULT_M_EFF, order=3, n_elements=None, breakpoints_nm=(), *, mesh=None, tol=DEFAULT_TOL):
    """Transmission T(E) by finite elements of degree ``order`` (physics.md §14).

    Args:
      potential: U in eV: a constant, or a vectorised, traceable callable of x (nm) on [0, L].
        The leads continue U(0) and U(L).
      energies: scalar or (M,) energies in eV.
      length_nm: L in nm.
      m_eff: effective mass in units of m0: a constant or a callable of x (nm); the leads
        keep m(0) and m(L) (BenDaniel–Duke: ψ and ψ′/m continuous).
      order: element degree p, 1 … 6 (T converges as h^{2p}).
      n_elements: total number of elements, shared among the segments between breakpoints
        in proportion to their lengths (uniform inside each). Default: the graded mesh of
        eq. 14.8, converged to ``tol`` (needs concrete inputs; see :func:`fem_mesh`).
      breakpoints_nm: increasing positions in (0, L) that must be element ends
        (interfaces of abrupt U or m). May be traced when ``mesh`` is given: the element
        ends move with them, so d T/d breakpoint is exact.
      mesh: a :class:`FemMesh` (from :func:`fem_mesh`), fixing the mesh topology.
      tol: target |ΔT| of the default graded mesh.
    Returns:
      T with the shape of ``energies``.

    jit/vmap/grad compose (w.r.t. the potential's and mass's parameters, energies,
    breakpoints and L); float64.
    """
    prob = prepare(potential, energies, length_nm, m_eff, order, n_elements, breakpoints_nm, mesh=mesh, tol=tol)
    t = _transmission_jit(prob.nodes, prob.u_q, prob.c_q, prob.leads, prob.energies, order=prob.order)
    return t[0] if jnp.ndim(energies) == 0 else t


class FemSolution(NamedTuple):
    """Finite-element QTBM solution (physics.md §14).

    Attributes:
      x_nm: (N,) element-end positions.
      psi: (M, N) ψ at the element ends (unit incident wave from the left).
      transmission: (M,) T (eq. 14.4).
      reflection: (M,) R = |ψ(0) − 1|² (meaningful when the left lead propagates).
      error_estimate: (M,) |T_h − T_{h/2}|·4^p/(4^p − 1) (eq. 14.9), or None.
      unknowns: degrees of freedom n_elements·p + 1.
      mesh: the :class:`FemMesh` used.
    """

    x_nm: jax.Array
    psi: jax.Array
    transmission: jax.Array
    reflection: jax.Array
    error_estimate: jax.Array | None
    unknowns: int
    mesh: FemMesh


def solve_fem(potential, energies, length_nm, m_eff=DEFAULT_M_EFF, order=3, n_elements=None, breakpoints_nm=(), *, mesh=None, tol=DEFAULT_TOL, error_estimate=True) -> FemSolution:
    """ψ at the element ends, T, R and an error estimate of T (physics.md §14).

    T comes from the corner-Green recurrence, ψ (and R) from an independent Thomas solve of
    the same condensed system, so T + R = 1 cross-checks the two. The error estimate
    solves again on the mesh with every element halved (eq. 14.9).
    """
    prob = prepare(potential, energies, length_nm, m_eff, order, n_elements, breakpoints_nm, mesh=mesh, tol=tol)
    args = (prob.nodes, prob.u_q, prob.c_q, prob.leads, prob.energies)
    t = _transmission_jit(*args, order=prob.order)
    psi = _end_values_jit(*args, order=prob.order)
    err = None
    if error_estimate:
        fine = prepare(potential, energies, length_nm, m_eff, order, None, breakpoints_nm, mesh=prob.mesh.refined(), tol=tol)
        t_fine = _transmission_jit(fine.nodes, fine.u_q, fine.c_q, fine.leads, fine.energies, order=prob.order)
        gain = 4.0**order
        err = jnp.abs(t - t_fine) * gain / (gain - 1.0)
    return FemSolution(prob.nodes, psi, t, jnp.abs(psi[:, 0] - 1.0) ** 2, err, prob.mesh.unknowns(order), prob.mesh)
