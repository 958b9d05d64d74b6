"""Discrete quantum transmitting boundary method (physics.md §3; paper eqs. 18–19).

The device is a uniform grid x_j = j·a, j = 0 … N−1, a = L/(N−1), with the total
potential U_j on it. Leads on both sides continue the end values U_L = U_0 and
U_R = U_{N−1}. For an electron of energy E injected from the left with unit amplitude,
the wavefunction ψ solves the tridiagonal, complex-symmetric system A ψ = b with

    A_jj = 2t + U_j − E,        A_{j,j±1} = −t,        t = C/a²,  C = ħ²/(2m*)
    A_00 −= t·λ_L,  A_{N−1,N−1} −= t·λ_R          (QTBM self-energies Σ)
    b_0  = t·(1/λ_L − λ_L)                          (injected wave)

where λ = e^{ika} is the lead's phase factor from the lattice dispersion
cos(ka) = 1 − (E − U_s)/(2t). Using the lattice dispersion (not the continuum k) makes
T + R = 1 exact on any grid.

Transmission. With g = A⁻¹e₀ (the first column of the Green's function), ψ = b₀ g and,
for a propagating left lead, |b₀|² = 4t²(Im λ_L)², so

    T = (Im λ_R / Im λ_L)·|ψ_{N−1}|² = 4t²·Im λ_L·Im λ_R·|g_{N−1}|²     (Fisher–Lee form)

The right-hand form needs no division and is exactly zero when either lead is
evanescent (Im λ = 0 there), which is what physics.md §3 asks for.

Per-site masses (physics.md §9, BenDaniel–Duke): with m_eff an (N,) array, bond j+½ has
the mass (m_j + m_{j+1})/2 and hopping t_{j+½} = C₀/(m_{j+½}a²), A_jj = t_{j−½} + t_{j+½}
+ U_j − E, and each lead keeps its end site's mass; T = 4 t_L t_R·Im λ_L·Im λ_R·|G_{N−1,0}|².
A scalar mass runs exactly the uniform code path (bit for bit the values of §3).

Linear algebra — O(N) solvers, no dense N×N matrix anywhere:

* T (and everything built on it: currents, I–V curves, design) uses only the corner
  element G_{N−1,0}, from a division-free transfer-matrix recurrence run from the
  transmitted side, for a whole energy sweep at once (:func:`corner_green`). Its custom
  VJP regenerates the columns it needs in one fused pass from the other side and
  reduces the cotangents over the sweep as it goes: reverse mode stores nothing per
  site and energy (physics.md §3.9).
* :func:`green_last_first` is the same recurrence with a custom JVP (it stores the two
  columns): it supports forward mode too (``transmission(..., forward_mode=True)``).
* The full wavefunction ψ (:func:`solve_qtbm`) comes from a Thomas elimination wrapped
  in ``lax.custom_linear_solve(symmetric=True)`` (A is complex *symmetric*, Aᵀ = A):
  reverse mode is one more solve with the same matrix, forward mode works too.

The tests cross-check the two (T from the first, R = |ψ₀ − 1|² from the second, must
add to 1) and both against a dense reference solve.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.custom_derivatives import SymbolicZero

from .. import validation as val
from .constants import DEFAULT_M_EFF, HBAR2_OVER_2M0_EV_NM2, kinetic_prefactor



# --------------------------------------------------------------------------------------
# Lead phase factor (physics.md §3)
# --------------------------------------------------------------------------------------
def lead_phase(energy, lead_potential, hopping):
    """Phase factor λ = e^{ika} of a semi-infinite lead (physics.md §3).

    cos(ka) = c = 1 − (E − U_s)/(2t).

    * |c| ≤ 1, propagating: λ = c + i·sqrt(1 − c²), the outgoing wave (Im λ ≥ 0);
    * c > 1, E below the band edge: λ = c − sqrt(c² − 1), the decaying wave (0 < λ < 1).

    The branch is chosen from c itself, never from |λ| > 1 (round-off flips that test).
    Both square roots are guarded (``where`` on the argument *and* on the result) so that
    value and gradient stay finite on both sides of the band edge c = 1, where
    d sqrt(1 − c²)/dc diverges. c < −1 (E above the lattice band top) is outside the
    model; the public functions reject it before tracing. Under tracing it yields NaN.

    For a complex energy z (Im z > 0; the contour integrals of physics.md §11) λ is the
    retarded root of λ + 1/λ = 2c with |λ| < 1, the analytic continuation of the real-axis
    branches above (approached from the upper half plane).

    Args:
      energy: E in eV (real, or complex with Im z > 0).
      lead_potential: U_s in eV.
      hopping: t = C/a² in eV.
    Returns:
      complex λ with the broadcast shape of the inputs.
    """
    c = 1.0 - (energy - lead_potential) / (2.0 * hopping)
    if jnp.iscomplexobj(c):
        root = jnp.sqrt(c - 1.0) * jnp.sqrt(c + 1.0)
        lam1, lam2 = c - root, c + root
        return jnp.where(jnp.abs(lam1) <= jnp.abs(lam2), lam1, lam2)
    one_minus_c2 = 1.0 - c * c
    # Both tests are strict: exactly at the band edge c = 1 neither square root is taken
    # and λ = c = 1 with a finite derivative (the one-sided derivatives diverge there).
    propagating = one_minus_c2 > 0.0  # |c| < 1
    evanescent = c > 1.0
    sin_ka = jnp.where(propagating, jnp.sqrt(jnp.where(propagating, one_minus_c2, 1.0)), 0.0)
    sinh_like = jnp.where(evanescent, jnp.sqrt(jnp.where(evanescent, -one_minus_c2, 1.0)), 0.0)
    above_top = c < -1.0
    re = jnp.where(evanescent, c - sinh_like, c)
    re = jnp.where(above_top, jnp.nan, re)
    return lax.complex(re, sin_ka)


def lead_phase_from_offset(offset, hopping):
    """Outgoing λ = c + i sin(ka) for E − U_s = ``offset`` > 0 (physics.md eq. 3.3), cancellation-free.

    The same root as :func:`lead_phase` for a propagating energy, written in the offset
    δ = (E − U_s)/(2t): c = 1 − δ and sin(ka) = √(δ(2 − δ)), accurate to round-off even
    for E − U_s ≪ t (:func:`lead_phase` forms 1 − c², which loses digits there). Used where
    energies are given relative to a band edge (the density's real-axis panels, §11).
    """
    delta = offset / (2.0 * hopping)
    return lax.complex(1.0 - delta, jnp.sqrt(delta * (2.0 - delta)))


# --------------------------------------------------------------------------------------
# O(N) complex-symmetric tridiagonal solve
# --------------------------------------------------------------------------------------
def _thomas(diag, off, rhs):
    """Thomas elimination for a symmetric tridiagonal matrix (no pivoting).

    A has diagonal ``diag`` (N,) and equal sub/super-diagonal ``off`` (N−1,).
    With the left self-energy in A_00, the forward sweep is the left-connected recursive
    Green's function recursion, whose pivots cannot vanish while the left lead propagates
    (physics.md §3). Two ``lax.scan`` passes, O(N) work.
    """
    zero = jnp.zeros((1,), diag.dtype)
    sup = jnp.concatenate([off, zero])  # c_j = A_{j,j+1}; c_{N-1} = 0
    sub = jnp.concatenate([zero, off])  # a_j = A_{j,j-1}; a_0 = 0

    def forward(carry, row):
        cp_prev, dp_prev = carry
        a_j, b_j, c_j, r_j = row
        pivot = b_j - a_j * cp_prev
        cp = c_j / pivot
        dp = (r_j - a_j * dp_prev) / pivot
        return (cp, dp), (cp, dp)

    init = (jnp.zeros((), diag.dtype), jnp.zeros((), diag.dtype))
    _, (cp, dp) = lax.scan(forward, init, (sub, diag, sup, rhs))

    def backward(x_next, row):
        cp_j, dp_j = row
        x_j = dp_j - cp_j * x_next
        return x_j, x_j

    _, x = lax.scan(backward, jnp.zeros((), diag.dtype), (cp, dp), reverse=True)
    return x


def _tridiag_matvec(diag, off, x):
    """y = A x for the symmetric tridiagonal A(diag, off); O(N), no dense matrix."""
    zero = jnp.zeros((1,), x.dtype)
    return (
        diag * x
        + jnp.concatenate([off * x[1:], zero])
        + jnp.concatenate([zero, off * x[:-1]])
    )


def solve_tridiagonal(diag, off, rhs):
    """Solve A x = rhs for complex-symmetric tridiagonal A (diagonal ``diag``, off-diagonal ``off``).

    Differentiable with respect to all three arguments. Implicit differentiation through
    ``lax.custom_linear_solve``: the JVP is A⁻¹(ṙhs − Ȧx) and the VJP one solve with
    Aᵀ = A, so reverse mode costs one extra O(N) solve, not a stored elimination tape.
    """
    return lax.custom_linear_solve(
        lambda x: _tridiag_matvec(diag, off, x),
        rhs,
        solve=lambda _matvec, b: _thomas(diag, off, b),
        symmetric=True,
    )


# --------------------------------------------------------------------------------------
# Fast path for T: the corner element G_{N−1,0} of the Green's function
# --------------------------------------------------------------------------------------
def _three_term(coefs, first, second, reverse, keep):
    """Run x_next = coef·x_cur − x_prev over ``coefs`` (real) from the pair (first, second).

    x is complex, carried as a real (2,)-vector (Re, Im): the coefficients of the QTBM
    recurrence are real, so each step is two real multiply-adds. Returns the final pair
    (x_last, x_before_last) and, if ``keep``, the stacked new values (len(coefs), 2).
    """

    def step(carry, coef):
        cur, prev = carry
        new = coef * cur - prev
        return (new, cur), (new if keep else None)

    return lax.scan(step, (second, first), coefs, reverse=reverse, unroll=_UNROLL[keep])


def _pair(z):
    return jnp.stack([jnp.real(z), jnp.imag(z)])


def _columns(onsite, sigma_left, sigma_right, hopping, keep):
    """Homogeneous solutions of the QTBM recurrence (physics.md §3), both division-free, O(N).

    A = tridiag(−t, onsite_j, −t) + Σ_L e₀e₀ᵀ + Σ_R e_{N−1}e_{N−1}ᵀ with real ``onsite``.

    * φ solves rows N−1 … 1 of A φ = s·e₀ with φ_{N−1} = 1: row N−1 gives
      φ_{N−2} = (onsite_{N−1} + Σ_R)/t and row j gives φ_{j−1} = (onsite_j/t)·φ_j − φ_{j+1}.
      Row 0 then yields s = (onsite_0 + Σ_L)·φ_0 − t·φ_1, and A⁻¹e₀ = φ/s. This is the
      transfer-matrix recurrence, run from the transmitted side where it is stable (the
      physical solution is the one that grows along it through evanescent regions).
    * χ solves rows 0 … N−2 with χ_0 = 1, from the left: χ_1 = (onsite_0 + Σ_L)/t and
      χ_{j+1} = (onsite_j/t)·χ_j − χ_{j−1}. A⁻¹e_{N−1} = χ/s with the same s, because
      G_{0,N−1} = G_{N−1,0} (A is symmetric).

    With ``keep=False`` returns s only: the value of T needs no more, and not storing the
    column keeps memory traffic O(1) per energy. With ``keep=True`` returns (w, s) with
    w_j = χ_j·φ_j as a real (N, 2) array (Re, Im): everything the JVP needs. φ is stored
    by the first pass and consumed by the χ pass, which emits w directly (χ itself is
    never stored).
    """
    coefs = onsite[1:-1] / hopping  # coefs[k] = onsite_{k+1}/t
    one = jnp.array([1.0, 0.0], dtype=onsite.dtype)
    phi_n2 = _pair((onsite[-1] + sigma_right) / hopping)
    (phi_0, phi_1), phi_inner = _three_term(coefs, one, phi_n2, reverse=True, keep=keep)  # φ_0 … φ_{N−3}
    scale = (onsite[0] + sigma_left) * lax.complex(phi_0[0], phi_0[1]) - hopping * lax.complex(phi_1[0], phi_1[1])
    if not keep:
        return scale

    def chi_step(carry, x):
        chi_k, chi_k1 = carry
        coef, phi_k = x
        return (chi_k1, coef * chi_k1 - chi_k), _cmul(chi_k, phi_k)

    chi_1 = _pair((onsite[0] + sigma_left) / hopping)
    (chi_n2, chi_n1), w_inner = lax.scan(chi_step, (one, chi_1), (coefs, phi_inner), unroll=_UNROLL[True])
    w = jnp.concatenate([w_inner, _cmul(chi_n2, phi_n2)[None], chi_n1[None]])  # w_{N−1} = χ_{N−1}·1
    return w, scale


def _cmul(a, b):
    """Product of complex numbers stored as real (..., 2) arrays."""
    return jnp.stack([a[..., 0] * b[..., 0] - a[..., 1] * b[..., 1], a[..., 0] * b[..., 1] + a[..., 1] * b[..., 0]], -1)


#: lax.scan unroll factors of the recurrences, for the value-only pass (False) and for the
#: passes that store the columns for the JVP (True). Measured on the 2-core CPU (paper I–V,
#: 2500 systems of N = 100): the value pass is fastest at 4 (8 and 16 are no faster); the
#: stacking passes at 2 (1.50 → 1.25 ms; 4 gives 1.29 ms, 8 and 16 are slower than 1),
#: which takes the I–V loss gradient from 2.33 to 2.07 ms.
_UNROLL = {False: 4, True: 2}


@jax.custom_jvp
def green_last_first(onsite, sigma_left, sigma_right, hopping):
    """G_{N−1,0} = (A⁻¹)_{N−1,0} for A = tridiag(−t, onsite, −t) + Σ_L e₀e₀ᵀ + Σ_R e_{N−1}e_{N−1}ᵀ.

    One O(N) division-free recurrence (:func:`_columns`). Differentiable in every
    argument, in forward and reverse mode, through a custom JVP. With g = A⁻¹e₀ = φ/s,
    h = A⁻¹e_{N−1} = χ/s and w_j = χ_j φ_j,

        dG_{N−1,0} = −hᵀ·dA·g = −(1/s²)·[Σ_j w_j d(onsite_j) + w_0 dΣ_L + w_{N−1} dΣ_R − dt·S],
        S = Σ_j (χ_j φ_{j+1} + χ_{j+1} φ_j) = (Σ_j A_jj w_j − s)/t,

    where the closed form of S follows from φ_{j+1} + φ_{j−1} = (onsite_j/t)·φ_j and the
    two boundary rows. The JVP is linear in the tangents, so reverse mode costs exactly
    one more O(N) recurrence (χ) and no stored elimination tape.
    """
    return 1.0 / _columns(onsite, sigma_left, sigma_right, hopping, keep=False)


def _green_last_first_jvp(primals, tangents):
    onsite, sigma_left, sigma_right, hopping = primals
    d_onsite, d_sigma_left, d_sigma_right, d_hopping = tangents
    w, scale = _columns(onsite, sigma_left, sigma_right, hopping, keep=True)
    w0, wn = lax.complex(w[0, 0], w[0, 1]), lax.complex(w[-1, 0], w[-1, 1])
    zero = jnp.zeros((), onsite.dtype)
    acc = lax.complex(zero, zero)
    if not isinstance(d_onsite, SymbolicZero):
        acc = acc + lax.complex(w[:, 0] @ d_onsite, w[:, 1] @ d_onsite)  # real arithmetic on (N,)
    if not isinstance(d_sigma_left, SymbolicZero):
        acc = acc + w0 * d_sigma_left
    if not isinstance(d_sigma_right, SymbolicZero):
        acc = acc + wn * d_sigma_right
    if not isinstance(d_hopping, SymbolicZero):
        diag_w = lax.complex(w[:, 0] @ onsite, w[:, 1] @ onsite) + sigma_left * w0 + sigma_right * wn
        acc = acc - d_hopping * (diag_w - scale) / hopping
    inv_scale = 1.0 / scale
    return inv_scale, -(inv_scale * inv_scale) * acc


green_last_first.defjvp(_green_last_first_jvp, symbolic_zeros=True)


# --------------------------------------------------------------------------------------
# Lattice with per-site masses (physics.md §9; uniform mass: §3)
# --------------------------------------------------------------------------------------
class Lattice(NamedTuple):
    """The energy-independent part of the QTBM matrix (physics.md §3, §9).

    A(E) = tridiag(−hop, onsite − E, −hop) + Σ_L(E) e₀e₀ᵀ + Σ_R(E) e_{N−1}e_{N−1}ᵀ.

    Attributes:
      onsite: (N,) t_{j−½} + t_{j+½} + U_j in eV (2t + U_j for a uniform mass).
      hop: the bond hoppings t_{j+½} = C₀/(m_{j+½} a²) in eV: a scalar for a uniform
        mass, else an (N−1,) array with m_{j+½} = (m_j + m_{j+1})/2.
      t_left, t_right: hoppings of the uniform leads, C₀/(m_0 a²) and C₀/(m_{N−1} a²).
      u_left, u_right: lead potentials U_0 and U_{N−1} in eV.
    """

    onsite: jax.Array
    hop: jax.Array
    t_left: jax.Array
    t_right: jax.Array
    u_left: jax.Array
    u_right: jax.Array


def lattice(potential, length, m_eff) -> Lattice:
    """:class:`Lattice` of ``potential`` (N,) on [0, length] with mass ``m_eff`` (scalar or (N,)).

    A scalar mass gives exactly the matrix of physics.md §3 (eq. 3.5); an (N,) array the
    BenDaniel–Duke discretisation of physics.md §9 with bond masses (m_j + m_{j+1})/2.
    """
    n = potential.shape[-1]
    spacing = length / (n - 1)
    if jnp.ndim(m_eff) == 0:
        hopping = kinetic_prefactor(m_eff) / spacing**2  # t = C/a²
        return Lattice(2.0 * hopping + potential, hopping, hopping, hopping, potential[0], potential[-1])
    c0_over_a2 = HBAR2_OVER_2M0_EV_NM2 / spacing**2
    hop = c0_over_a2 / (0.5 * (m_eff[1:] + m_eff[:-1]))  # t_{j+½}
    t_left, t_right = c0_over_a2 / m_eff[0], c0_over_a2 / m_eff[-1]
    left = jnp.concatenate([t_left[None], hop])  # t_{j−½}
    right = jnp.concatenate([hop, t_right[None]])  # t_{j+½}
    return Lattice(left + right + potential, hop, t_left, t_right, potential[0], potential[-1])


def _uniform(lat: Lattice) -> bool:
    return jnp.ndim(lat.hop) == 0


# --------------------------------------------------------------------------------------
# G_{N−1,0} for a sweep of energies with a recomputing custom VJP (physics.md §3.9, §9)
# --------------------------------------------------------------------------------------
def _cx(re, im):
    return lax.complex(re, im)


def phi_pass(onsite, hop, energies, sigma_l, sigma_r):
    """Value pass: φ from the transmitted side, for all energies at once; stores nothing.

    φ_{N−1} = 1, φ_{N−2} = (d_{N−1} + Σ_R)/t_{N−3/2}, and for j = N−2 … 1
    φ_{j−1} = [(d_j − E)·φ_j − t_{j+½}·φ_{j+1}]/t_{j−½} (physics.md eq. 3.11; §9 with
    per-site masses). Returns (s, φ₀, φ₁) with s = (d₀ − E + Σ_L)φ₀ − t_½·φ₁, so that
    G_{N−1,0} = 1/s. Complex numbers are carried as (re, im) pairs of (M,) arrays: the
    coefficients are real, so each step is real multiply-adds on the whole sweep.
    ``onsite`` (N, M) and ``hop`` (N−1, M) (energy-resolved, physics.md §14.3) run the
    per-site branch unchanged, each column with its own energy's coefficients.

    For a scalar ``hop`` the operations are exactly those of :func:`_columns` (same order,
    same rounding), so a uniform mass gives bit-for-bit the values of :func:`green_last_first`.
    """
    e = energies
    if jnp.ndim(hop) == 0:
        first = (onsite[-1] - e + sigma_r) / hop
        xs = onsite[1:-1]

        def step(carry, d):
            (cr, ci), (pr, pi) = carry
            coef = (d - e) / hop
            return ((coef * cr - pr, coef * ci - pi), (cr, ci)), None

        t_half = hop
    else:
        inv = 1.0 / hop
        first = (onsite[-1] - e + sigma_r) * inv[-1]
        xs = (onsite[1:-1], inv[:-1], hop[1:] * inv[:-1])  # d_j, 1/t_{j−½}, t_{j+½}/t_{j−½}

        def step(carry, x):
            d, inv_left, ratio = x
            (cr, ci), (pr, pi) = carry
            coef = (d - e) * inv_left
            return ((coef * cr - ratio * pr, coef * ci - ratio * pi), (cr, ci)), None

        t_half = hop[0]
    one = (jnp.ones_like(e), jnp.zeros_like(e))
    init = ((jnp.real(first), jnp.imag(first)), one)
    ((r0, i0), (r1, i1)), _ = lax.scan(step, init, xs, reverse=True, unroll=_UNROLL[False])
    phi0, phi1 = _cx(r0, i0), _cx(r1, i1)
    scale = (onsite[0] - e + sigma_l) * phi0 - t_half * phi1
    return scale, phi0, phi1


def _adjoint_pass(onsite, hop, energies, sigma_l, phi0, phi1, c, hop_and_energy: bool = True):
    """Reverse pass of :func:`corner_green`: one fused scan from the left, nothing stored.

    χ (the column of the wave injected from the right, χ₀ = 1) and φ (regenerated upward
    from the saved φ₀, φ₁) obey the same interior recurrence
    x_{j+1} = [(d_j − E)·x_j − t_{j−½}·x_{j−1}]/t_{j+½}, so both advance together. With
    w_j = χ_j φ_j and p_j = χ_j φ_{j+1} + χ_{j+1} φ_j and c = −ḡ/s², the cotangents are
    (physics.md eq. 3.20)

        ō_j = Σ_E Re(c·w_j),   Ē = −Σ_j Re(c·w_j),   t̄_{j+½} = −Σ_E Re(c·p_j),
        Σ̄_L = c·w₀,   Σ̄_R = c·w_{N−1},

    reduced over the energy sweep inside the scan, so the pass emits N + (N−1) reals in all
    (with energy-resolved ``onsite`` (N, M) and ``hop`` (N−1, M), ō and t̄ are kept per
    energy instead: physics.md §14.3).
    With ``hop_and_energy=False`` (neither the hoppings nor the energies are being
    differentiated, e.g. the paper's design: fixed L, m* and energy grid) t̄ and Ē are not
    formed at all and are returned as None (zero cotangents).
    Regenerating φ upward runs its recurrence in the direction in which it decays; the
    rounding error so introduced is bounded by ε·|G_{00}|²/|G_{j0}| and enters multiplied
    by |c·χ_j| ∝ |G_{N−1,0}|·|G_{j,N−1}|, so the absolute error of every cotangent stays at
    the level of ε times the cotangent's scale (physics.md §3.9; checked against the
    stored-column JVP and against finite differences in tests/physics/test_qtbm.py).
    """
    e = energies
    uniform = jnp.ndim(hop) == 0
    t_first = hop if uniform else hop[0]
    # energy-resolved coefficients (onsite (N, M)): one cotangent per site *and* energy
    over_sweep = (lambda a: a) if jnp.ndim(onsite) == 2 else jnp.sum
    # χ̃ = c·χ obeys χ's (linear) recurrence, so carrying it instead of χ turns every
    # Re(c·χ·φ) into one real part of a product: 3 flops instead of 9 per term.
    cchi1 = c * (onsite[0] - e + sigma_l) / t_first

    def re_mul(xr, xi, yr, yi):  # Re(x·y) for complex x, y given as pairs
        return xr * yr - xi * yi

    if uniform:
        xs = onsite[1:-1]
    else:
        inv = 1.0 / hop
        xs = (onsite[1:-1], inv[1:], hop[:-1] * inv[1:])  # d_j, 1/t_{j+½}, t_{j−½}/t_{j+½}

    def step(carry, x):
        (ar, ai), (br, bi), (fr, fi), (gr, gi), e_bar = carry  # χ̃_{j−1}, χ̃_j, φ_{j−1}, φ_j, Ē so far
        if uniform:
            coef = (x - e) / hop
            nar, nai = coef * br - ar, coef * bi - ai
            nfr, nfi = coef * gr - fr, coef * gi - fi
        else:
            d, inv_right, ratio = x
            coef = (d - e) * inv_right
            nar, nai = coef * br - ratio * ar, coef * bi - ratio * ai
            nfr, nfi = coef * gr - ratio * fr, coef * gi - ratio * fi
        w = re_mul(br, bi, gr, gi)  # Re(c·χ_j φ_j), per energy
        if not hop_and_energy:
            return ((br, bi), (nar, nai), (gr, gi), (nfr, nfi), e_bar), (over_sweep(w), None)
        p = re_mul(br, bi, nfr, nfi) + re_mul(nar, nai, gr, gi)  # Re(c·p_j)
        new = ((br, bi), (nar, nai), (gr, gi), (nfr, nfi), e_bar - w)
        return new, (over_sweep(w), -over_sweep(p))

    c_phi0 = c * phi0
    w0 = jnp.real(c_phi0)
    p0 = jnp.real(c * phi1) + jnp.real(cchi1 * phi0)
    init = (
        (jnp.real(c), jnp.imag(c)),
        (jnp.real(cchi1), jnp.imag(cchi1)),
        (jnp.real(phi0), jnp.imag(phi0)),
        (jnp.real(phi1), jnp.imag(phi1)),
        -w0 if hop_and_energy else None,
    )
    (_, (chr_, chi_), _, (fr, fi), e_bar), (o_mid, t_mid) = lax.scan(step, init, xs, unroll=_UNROLL[False])
    c_w_last = _cx(chr_ * fr - chi_ * fi, chr_ * fi + chi_ * fr)  # c·χ_{N−1}·φ_{N−1}
    wl = jnp.real(c_w_last)
    onsite_bar = jnp.concatenate([over_sweep(w0)[None], o_mid, over_sweep(wl)[None]])
    if not hop_and_energy:
        return onsite_bar, None, None, c_phi0, c_w_last
    hop_bar = jnp.concatenate([-over_sweep(p0)[None], t_mid])
    if uniform:
        hop_bar = jnp.sum(hop_bar)
    return onsite_bar, hop_bar, e_bar - wl, c_phi0, c_w_last


@jax.custom_vjp
def corner_green(onsite, hop, energies, sigma_l, sigma_r):
    """G_{N−1,0}(E) = (A(E)⁻¹)_{N−1,0} for each of ``energies`` (M,) (physics.md §3.9, §9).

    A(E) = tridiag(−hop, onsite − E, −hop) + Σ_L e₀e₀ᵀ + Σ_R e_{N−1}e_{N−1}ᵀ, ``hop`` a
    scalar or (N−1,) bond hoppings, ``sigma_l``/``sigma_r`` (M,) self-energies.

    Energy-resolved coefficients: ``onsite`` (N, M) and ``hop`` (N−1, M) give each energy
    its own real tridiagonal matrix (column m of each belongs to energies[m]); the
    recurrence and the VJP are the same, except that the cotangents of ``onsite`` and
    ``hop`` are then per energy instead of summed over the sweep. The finite-element
    solver (physics.md §14.3, :mod:`.fem`) uses this form with ``energies`` = 0, its
    condensed coefficients already containing E.

    One O(N) pass over the sites for the whole sweep, nothing stored (:func:`phi_pass`).
    Reverse mode (custom VJP) costs one more fused O(N) pass that regenerates φ instead of
    storing it and reduces the cotangents over the sweep as it goes
    (:func:`_adjoint_pass`). Forward mode is not defined for this function; use
    :func:`green_last_first` (custom JVP) for that (``transmission(..., forward_mode=True)``).
    """
    scale, _, _ = phi_pass(onsite, hop, energies, sigma_l, sigma_r)
    return 1.0 / scale


def _corner_green_fwd(onsite, hop, energies, sigma_l, sigma_r):
    # symbolic_zeros: each argument arrives as CustomVJPPrimal(value, perturbed); whether
    # the hoppings or energies are differentiated is static, and is recorded in the
    # residuals' structure (None or not), never as a traced value
    values = [a.value for a in (onsite, hop, energies, sigma_l, sigma_r)]
    scale, phi0, phi1 = phi_pass(*values)
    g = 1.0 / scale
    hop_and_energy = hop.perturbed or energies.perturbed
    return g, (*values[:4], g, phi0, phi1, () if hop_and_energy else None)


def _corner_green_bwd(res, g_bar):
    onsite, hop, energies, sigma_l, g, phi0, phi1, hop_and_energy = res
    if isinstance(g_bar, SymbolicZero):  # the output is not used
        return (None,) * 5
    c = -g_bar * g * g  # −ḡ/s²
    return _adjoint_pass(onsite, hop, energies, sigma_l, phi0, phi1, c, hop_and_energy is not None)


corner_green.defvjp(_corner_green_fwd, _corner_green_bwd, symbolic_zeros=True)


class QTBMSolution(NamedTuple):
    """Solution of the QTBM problem at one energy (physics.md §3).

    Attributes:
      psi: complex wavefunction ψ_j on the grid, unit-amplitude wave injected from the left.
      transmission: T = (t_R Im λ_R / t_L Im λ_L)·|ψ_{N−1}|², 0 when either lead is evanescent.
      reflection: R = |ψ_0 − 1|² (meaningful when the left lead propagates).
    """

    psi: jax.Array
    transmission: jax.Array
    reflection: jax.Array


def lead_phases(lat: Lattice, energies):
    """(λ_L, λ_R) of the two uniform leads at ``energies`` (physics.md eqs. 3.2–3.3)."""
    return lead_phase(energies, lat.u_left, lat.t_left), lead_phase(energies, lat.u_right, lat.t_right)


def _fisher_lee(t_left, t_right, lam_l, lam_r, g_last):
    """T = 4 t_L t_R·Im λ_L·Im λ_R·|G_{N−1,0}|² (physics.md eq. 3.9; §9)."""
    return 4.0 * t_left * t_right * lam_l.imag * lam_r.imag * jnp.abs(g_last) ** 2


def transmission_sweep(potential, energies, length, m_eff, forward_mode: bool = False):
    """T at each of ``energies`` (M,) (physics.md §3, §9); no validation, jit/vmap/grad-safe.

    ``m_eff`` is a scalar or an (N,) array of per-site masses. T = 0 unless both leads
    propagate; in that case the solve is given absorbing self-energies −i·t instead (the
    "double where"): A is then always invertible, so no inf/NaN can enter the value or the
    gradient, even at a band edge where the true A can be singular (a flat wire at E = U_s).
    While both leads propagate, A is invertible: a null vector v would need
    Im(vᴴAv) = −(t_L Im λ_L|v₀|² + t_R Im λ_R|v_{N−1}|²) = 0, so v₀ = 0, and the recurrence
    then forces v = 0.

    ``forward_mode=False`` (default) uses :func:`corner_green`, whose reverse mode
    recomputes instead of storing; ``True`` uses :func:`green_last_first` (uniform mass) or
    the Thomas solve (per-site masses), which support ``jax.jvp``/``jacfwd`` as well. Both
    give the same values.
    """
    lat = lattice(potential, length, m_eff)
    lam_l, lam_r = lead_phases(lat, energies)
    both = (lam_l.imag > 0.0) & (lam_r.imag > 0.0)
    sigma_l = jnp.where(both, -lat.t_left * lam_l, -1j * lat.t_left)
    sigma_r = jnp.where(both, -lat.t_right * lam_r, -1j * lat.t_right)
    if not forward_mode:
        g_last = corner_green(lat.onsite, lat.hop, energies, sigma_l, sigma_r)
    elif _uniform(lat):
        g_last = jax.vmap(lambda e, sl, sr: green_last_first(lat.onsite - e, sl, sr, lat.hop))(energies, sigma_l, sigma_r)
    else:
        g_last = jax.vmap(lambda e, sl, sr: _thomas_corner(lat, e, sl, sr))(energies, sigma_l, sigma_r)
    return jnp.where(both, _fisher_lee(lat.t_left, lat.t_right, lam_l, lam_r, g_last), 0.0)


def _tridiagonal(lat: Lattice, energy, sigma_l, sigma_r):
    """(diag, off) of A(E) as complex arrays for the Thomas solve."""
    n = lat.onsite.shape[-1]
    diag = (lat.onsite - energy).astype(jnp.complex128)
    diag = diag.at[0].add(sigma_l).at[-1].add(sigma_r)
    off = jnp.broadcast_to(-lat.hop, (n - 1,)).astype(jnp.complex128)
    return diag, off


def _thomas_corner(lat: Lattice, energy, sigma_l, sigma_r):
    """G_{N−1,0} from a Thomas solve of A g = e₀ (forward-mode capable reference path)."""
    diag, off = _tridiagonal(lat, energy, sigma_l, sigma_r)
    rhs = jnp.zeros(diag.shape, jnp.complex128).at[0].set(1.0)
    return solve_tridiagonal(diag, off, rhs)[-1]


def _self_energy(hopping, lam):
    """Σ = −t·λ (physics.md §3), except exactly at the band edge (λ = 1), where the lead carries
    no current and the absorbing −i·t keeps A invertible (a flat wire at E = U_s is
    singular otherwise). Only that single energy is affected; T ∝ Im λ = 0 there anyway."""
    at_edge = (lam.imag == 0.0) & (lam.real == 1.0)
    return jnp.where(at_edge, -1j * hopping, -hopping * lam)


def qtbm_single(potential, energy, length, m_eff) -> QTBMSolution:
    """Full QTBM solution at one energy (physics.md §3, §9): ψ from the tridiagonal solve A ψ = b."""
    lat = lattice(potential, length, m_eff)
    lam_l, lam_r = lead_phases(lat, energy)
    diag, off = _tridiagonal(lat, energy, _self_energy(lat.t_left, lam_l), _self_energy(lat.t_right, lam_r))
    b0 = lat.t_left * (1.0 / lam_l - lam_l)  # = −2i·t_L·sin(k_L a) when propagating
    rhs = jnp.zeros(diag.shape, jnp.complex128).at[0].set(b0)
    psi = solve_tridiagonal(diag, off, rhs)
    # T from the independent recurrence path (no division by Im λ_L, cheaper than a
    # second Thomas solve); T + R = 1 then cross-checks the two solvers.
    transmission = transmission_sweep(potential, energy[None], length, m_eff)[0]
    return QTBMSolution(psi, transmission, jnp.abs(psi[0] - 1.0) ** 2)


@jax.jit
def solve_many(potential, energies, length, m_eff) -> QTBMSolution:
    """:func:`qtbm_single` vectorised over a 1-D array of energies."""
    return jax.vmap(qtbm_single, in_axes=(None, 0, None, None))(potential, energies, length, m_eff)


transmission_many = jax.jit(transmission_sweep, static_argnames="forward_mode")


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------
def band_top_eV(potential, length, m_eff=DEFAULT_M_EFF):
    """Highest energy the lattice model accepts: min over the two leads of U_s + 4t_s (physics.md §3, §9)."""
    n = np.shape(potential)[-1]
    c0_over_a2 = HBAR2_OVER_2M0_EV_NM2 / (length / (n - 1)) ** 2
    m = np.broadcast_to(np.asarray(m_eff, float), (n,))
    return np.minimum(potential[0] + 4.0 * c0_over_a2 / m[0], potential[-1] + 4.0 * c0_over_a2 / m[-1])


def check_mass(m_eff, n_points: int, name: str = "m_eff"):
    """Validate an effective mass: a scalar or an (N,) array of per-site masses, all > 0 (units of m0)."""
    val.check_ndim(name, m_eff, (0, 1))
    if np.ndim(m_eff) == 1 and np.shape(m_eff)[0] != n_points:
        raise ValueError(
            f"{name} must be a scalar or have one mass per grid point ({n_points}), got shape {np.shape(m_eff)}"
        )
    val.check_positive(name, m_eff)
    return m_eff


def _validate_system(potential, energies, length, m_eff):
    """Checks shared by :func:`transmission` and :func:`solve_qtbm`."""
    val.check_ndim("potential", potential, (1,))
    n = np.shape(potential)[0]
    if n < 3:
        raise ValueError(f"potential needs at least 3 grid points, got {n}")
    val.check_ndim("energies", energies, (0, 1))
    potential = val.as_float_array("potential", potential)
    energies = val.as_float_array("energies", energies)
    val.check_positive("length", length)
    check_mass(m_eff, n)
    if val.is_concrete((potential, energies, length, m_eff)):
        top = float(band_top_eV(np.asarray(potential), float(length), np.asarray(m_eff, float)))
        too_high = np.asarray(energies) > top
        if np.any(too_high):
            raise ValueError(
                f"energies above the lattice band top of the leads ({top:.4g} eV) are outside "
                f"the discrete model (physics.md §3); got max {np.max(energies):.4g} eV. "
                "Refine the grid (more points) or lower the energies."
            )
    return (
        jnp.asarray(potential, jnp.float64),
        jnp.asarray(energies, jnp.float64),
        jnp.asarray(length, jnp.float64),
        jnp.asarray(m_eff, jnp.float64),
    )


def solve_qtbm(potential, energies, length, m_eff=DEFAULT_M_EFF) -> QTBMSolution:
    """Wavefunctions, transmission and reflection for each energy (physics.md §3, §9).

    Args:
      potential: (N,) total potential U_j in eV on the uniform grid spanning [0, length].
      energies: scalar or (M,) electron energies in eV.
      length: device length L in nm.
      m_eff: effective mass in units of m0: a scalar, or (N,) per-site masses.
    Returns:
      :class:`QTBMSolution` with ``psi`` of shape (N,) or (M, N) and ``transmission``,
      ``reflection`` of shape () or (M,).
    """
    potential, energies, length, m_eff = _validate_system(potential, energies, length, m_eff)
    sol = solve_many(potential, jnp.atleast_1d(energies), length, m_eff)
    if energies.ndim == 0:
        return jax.tree_util.tree_map(lambda a: a[0], sol)
    return sol


def transmission(potential, energies, length, m_eff=DEFAULT_M_EFF, *, forward_mode: bool = False):
    """Transmission probability T(E) through the potential ``potential`` (physics.md §3, §8, §9).

    Args:
      potential: (N,) total potential U_j in eV on the uniform grid x_j = j·L/(N−1),
        N ≥ 3. The leads continue U_0 and U_{N−1}.
      energies: scalar or (M,) energies in eV; must lie below the lattice band top.
      length: L in nm.
      m_eff: effective mass in units of m0 (default 0.067, GaAs): a scalar, or an (N,)
        array of per-site masses (BenDaniel–Duke, bond masses (m_j + m_{j+1})/2; the leads
        keep the end sites' masses).
      forward_mode: also support ``jax.jvp``/``jacfwd`` (a slower reverse mode); the
        values are the same.
    Returns:
      T with the shape of ``energies``, in [0, 1].

    Works under ``jax.jit``, ``jax.vmap`` and ``jax.grad`` (w.r.t. potential, energies,
    length and masses), in float64. Inputs are validated when concrete; under tracing only
    shapes are checked.
    """
    potential, energies, length, m_eff = _validate_system(potential, energies, length, m_eff)
    t = transmission_many(potential, jnp.atleast_1d(energies), length, m_eff, forward_mode=forward_mode)
    return t[0] if energies.ndim == 0 else t
