"""Discrete quantum transmitting boundary method (SPEC §3; paper eqs. 18–19).

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
evanescent (Im λ = 0 there), which is what SPEC §3 asks for.

Linear algebra. Each solve is an O(N) Thomas elimination written as two ``lax.scan``
passes. It is wrapped in ``lax.custom_linear_solve`` with ``symmetric=True`` (A is
complex *symmetric*, Aᵀ = A), so reverse-mode differentiation costs exactly one more
tridiagonal solve with the same matrix (the adjoint system), and forward mode works too;
no tape of the elimination is stored and no dense N×N matrix is ever formed.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from . import validation as val
from .constants import DEFAULT_M_EFF, kinetic_prefactor

jax.config.update("jax_enable_x64", True)


# --------------------------------------------------------------------------------------
# Lead phase factor (SPEC §3)
# --------------------------------------------------------------------------------------
def lead_phase(energy, lead_potential, hopping):
    """Phase factor λ = e^{ika} of a semi-infinite lead (SPEC §3).

    cos(ka) = c = 1 − (E − U_s)/(2t).

    * |c| ≤ 1, propagating: λ = c + i·sqrt(1 − c²), the outgoing wave (Im λ ≥ 0);
    * c > 1, E below the band edge: λ = c − sqrt(c² − 1), the decaying wave (0 < λ < 1).

    The branch is chosen from c itself, never from |λ| > 1 (round-off flips that test).
    Both square roots are guarded (``where`` on the argument *and* on the result) so that
    value and gradient stay finite on both sides of the band edge c = 1, where
    d sqrt(1 − c²)/dc diverges. c < −1 (E above the lattice band top) is outside the
    model; the public functions reject it before tracing. Under tracing it yields NaN.

    Args:
      energy: E in eV.
      lead_potential: U_s in eV.
      hopping: t = C/a² in eV.
    Returns:
      complex λ with the broadcast shape of the inputs.
    """
    c = 1.0 - (energy - lead_potential) / (2.0 * hopping)
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


# --------------------------------------------------------------------------------------
# O(N) complex-symmetric tridiagonal solve
# --------------------------------------------------------------------------------------
def _thomas(diag, off, rhs):
    """Thomas elimination for a symmetric tridiagonal matrix (no pivoting).

    A has diagonal ``diag`` (N,) and equal sub/super-diagonal ``off`` (N−1,).
    With the left self-energy in A_00, the forward sweep is the left-connected recursive
    Green's function recursion, whose pivots cannot vanish while the left lead propagates
    (SPEC §3). Two ``lax.scan`` passes, O(N) work.
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
# Fast path for T and R: two corner elements of the Green's function
# --------------------------------------------------------------------------------------
def _homogeneous_column(onsite, sigma_first, sigma_last, hopping, keep_column=True):
    """Solve rows N−1 … 1 of A φ = s·e₀ from the right with φ_{N−1} = 1 (no division).

    A = tridiag(−t, onsite_j, −t) + Σ_first·e₀e₀ᵀ + Σ_last·e_{N−1}e_{N−1}ᵀ with real
    ``onsite`` (SPEC §3). Row N−1 gives φ_{N−2} = (onsite_{N−1} + Σ_last)/t and row j
    (1 ≤ j ≤ N−2) gives φ_{j−1} = (onsite_j/t)·φ_j − φ_{j+1}. Row 0 then yields the scale
    s = (onsite_0 + Σ_first)·φ_0 − t·φ_1, so that A⁻¹e₀ = φ/s.

    This is the transfer-matrix recurrence, run from the transmitted side where it is
    stable (the physical solution is the one that grows along the recurrence through
    evanescent regions). Its coefficients are real, so the real and imaginary parts of φ
    are carried as a real (2,)-vector: two real multiply-adds per site.

    Returns (φ as complex (N,), s), or (φ₀, s) when ``keep_column`` is False: the value
    of T needs only the ends, and not storing the column keeps the memory traffic O(1)
    per energy, which matters at large N.
    """
    start = (onsite[-1] + sigma_last) / hopping
    phi_last = jnp.array([1.0, 0.0], dtype=onsite.dtype)
    phi_prev = jnp.stack([start.real, start.imag])

    def step(carry, coef):
        phi_j, phi_next = carry
        phi_before = coef * phi_j - phi_next
        return (phi_before, phi_j), (phi_before if keep_column else None)

    (phi_0, phi_1), interior = lax.scan(
        step, (phi_prev, phi_last), onsite[1:-1] / hopping, reverse=True, unroll=_UNROLL
    )
    phi_0c, phi_1c = lax.complex(phi_0[0], phi_0[1]), lax.complex(phi_1[0], phi_1[1])
    scale = (onsite[0] + sigma_first) * phi_0c - hopping * phi_1c
    if not keep_column:
        return phi_0c, scale
    phi = lax.complex(
        jnp.concatenate([interior[:, 0], phi_prev[:1], phi_last[:1]]),
        jnp.concatenate([interior[:, 1], phi_prev[1:], phi_last[1:]]),
    )
    return phi, scale


_UNROLL = 4  # lax.scan unroll factor of the recurrence; see bench/bench_simulator.py


@jax.custom_jvp
def corner_green(onsite, sigma_left, sigma_right, hopping):
    """(G_00, G_{N−1,0}) of G = A⁻¹, A = tridiag(−t, onsite, −t) + Σ_L e₀e₀ᵀ + Σ_R e_{N−1}e_{N−1}ᵀ.

    One O(N) division-free recurrence (:func:`_homogeneous_column`). Differentiable in
    every argument, in forward and reverse mode, through a custom JVP: with g = A⁻¹e₀ and
    h = A⁻¹e_{N−1} (a second recurrence, from the left), dG_{a0} = −(G·dA·G)_{a0} is
    linear in the tangent, so reverse mode costs exactly one more O(N) solve.
    """
    phi_0, s = _homogeneous_column(onsite, sigma_left, sigma_right, hopping, keep_column=False)
    return phi_0 / s, 1.0 / s


@corner_green.defjvp
def _corner_green_jvp(primals, tangents):
    onsite, sigma_left, sigma_right, hopping = primals
    d_onsite, d_sigma_left, d_sigma_right, d_hopping = tangents
    phi, s = _homogeneous_column(onsite, sigma_left, sigma_right, hopping)
    g = phi / s  # A⁻¹ e₀
    # A⁻¹ e_{N−1}: the same recurrence on the mirrored matrix. Its scale equals s because
    # G_{0,N−1} = G_{N−1,0} (A is symmetric).
    h = _homogeneous_column(onsite[::-1], sigma_right, sigma_left, hopping)[0][::-1] / s

    def d_green(col):
        # −colᵀ·dA·g with dA = diag(d_onsite) + dΣ_L e₀e₀ᵀ + dΣ_R e_{N−1}e_{N−1}ᵀ − dt·(off-diagonals)
        return -(
            jnp.sum(col * d_onsite * g)
            + col[0] * d_sigma_left * g[0]
            + col[-1] * d_sigma_right * g[-1]
            - d_hopping * jnp.sum(col[:-1] * g[1:] + col[1:] * g[:-1])
        )

    return (g[0], g[-1]), (d_green(g), d_green(h))


class QTBMSolution(NamedTuple):
    """Solution of the QTBM problem at one energy (SPEC §3).

    Attributes:
      psi: complex wavefunction ψ_j on the grid, unit-amplitude wave injected from the left.
      transmission: T = (Im λ_R / Im λ_L)·|ψ_{N−1}|², 0 when either lead is evanescent.
      reflection: R = |ψ_0 − 1|² (meaningful when the left lead propagates).
    """

    psi: jax.Array
    transmission: jax.Array
    reflection: jax.Array


def _assemble(potential, energy, length, m_eff):
    """The QTBM matrix of SPEC §3 at one energy: (t, λ_L, λ_R, onsite 2t + U_j − E).

    A = tridiag(−t, onsite, −t) + Σ_L e₀e₀ᵀ + Σ_R e_{N−1}e_{N−1}ᵀ with Σ_s = −t·λ_s.
    """
    n = potential.shape[-1]
    spacing = length / (n - 1)
    hopping = kinetic_prefactor(m_eff) / spacing**2  # t = C/a²
    lam_l = lead_phase(energy, potential[0], hopping)
    lam_r = lead_phase(energy, potential[-1], hopping)
    onsite = 2.0 * hopping + potential - energy  # real part of A_jj
    return hopping, lam_l, lam_r, onsite


def _fisher_lee(hopping, lam_l, lam_r, g_last):
    """T = (Im λ_R/Im λ_L)|ψ_{N−1}|² = 4t²·Im λ_L·Im λ_R·|G_{N−1,0}|² (module docstring)."""
    return 4.0 * hopping**2 * lam_l.imag * lam_r.imag * jnp.abs(g_last) ** 2


def transmission_single(potential, energy, length, m_eff):
    """T at one energy (SPEC §3) through :func:`corner_green`; no validation, jit/vmap/grad-safe.

    T = 0 unless both leads propagate. In that case the solve is given absorbing
    self-energies −i·t instead (the "double where"): A is then always invertible, so no
    inf/NaN can enter the value or the gradient, even at a band edge where the true A can
    be singular (a flat wire at E = U_s). While both leads propagate, A is invertible:
    a null vector v would need Im(vᴴAv) = −t(Im λ_L|v₀|² + Im λ_R|v_{N−1}|²) = 0, so
    v₀ = 0, and the recurrence then forces v = 0.
    """
    hopping, lam_l, lam_r, onsite = _assemble(potential, energy, length, m_eff)
    both = (lam_l.imag > 0.0) & (lam_r.imag > 0.0)
    absorbing = -1j * hopping
    sigma_l = jnp.where(both, -hopping * lam_l, absorbing)
    sigma_r = jnp.where(both, -hopping * lam_r, absorbing)
    _, g_last = corner_green(onsite, sigma_l, sigma_r, hopping)
    return jnp.where(both, _fisher_lee(hopping, lam_l, lam_r, g_last), 0.0)


def _self_energy(hopping, lam):
    """Σ = −t·λ (SPEC §3), except exactly at the band edge (λ = 1), where the lead carries
    no current and the absorbing −i·t keeps A invertible (a flat wire at E = U_s is
    singular otherwise). Only that single energy is affected; T ∝ Im λ = 0 there anyway."""
    at_edge = (lam.imag == 0.0) & (lam.real == 1.0)
    return jnp.where(at_edge, -1j * hopping, -hopping * lam)


def qtbm_single(potential, energy, length, m_eff) -> QTBMSolution:
    """Full QTBM solution at one energy (SPEC §3): ψ from the tridiagonal solve A ψ = b."""
    hopping, lam_l, lam_r, onsite = _assemble(potential, energy, length, m_eff)
    n = potential.shape[-1]
    diag = onsite.astype(jnp.complex128)
    diag = diag.at[0].add(_self_energy(hopping, lam_l)).at[-1].add(_self_energy(hopping, lam_r))
    off = jnp.full((n - 1,), -hopping, dtype=jnp.complex128)
    b0 = hopping * (1.0 / lam_l - lam_l)  # = −2i·t·sin(k_L a) when propagating
    rhs = jnp.zeros((n,), jnp.complex128).at[0].set(b0)
    psi = solve_tridiagonal(diag, off, rhs)
    g_last = solve_tridiagonal(diag, off, jnp.zeros((n,), jnp.complex128).at[0].set(1.0))[-1]
    return QTBMSolution(psi, _fisher_lee(hopping, lam_l, lam_r, g_last), jnp.abs(psi[0] - 1.0) ** 2)


@jax.jit
def _solve_many(potential, energies, length, m_eff) -> QTBMSolution:
    """:func:`qtbm_single` vectorised over a 1-D array of energies."""
    return jax.vmap(qtbm_single, in_axes=(None, 0, None, None))(potential, energies, length, m_eff)


@jax.jit
def transmission_many(potential, energies, length, m_eff):
    """:func:`transmission_single` vectorised over a 1-D array of energies (no validation)."""
    return jax.vmap(transmission_single, in_axes=(None, 0, None, None))(potential, energies, length, m_eff)


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------
def band_top_eV(potential, length, m_eff=DEFAULT_M_EFF):
    """Highest energy the lattice model accepts: min over the two leads of U_s + 4t (SPEC §3)."""
    n = np.shape(potential)[-1]
    hopping = kinetic_prefactor(m_eff) / (length / (n - 1)) ** 2
    return jnp.minimum(potential[0], potential[-1]) + 4.0 * hopping


def _validate_system(potential, energies, length, m_eff):
    """Checks shared by :func:`transmission` and :func:`solve_qtbm`."""
    val.check_ndim("potential", potential, (1,))
    if np.shape(potential)[0] < 3:
        raise ValueError(f"potential needs at least 3 grid points, got {np.shape(potential)[0]}")
    val.check_ndim("energies", energies, (0, 1))
    potential = val.as_float_array("potential", potential)
    energies = val.as_float_array("energies", energies)
    val.check_positive("length", length)
    val.check_positive("m_eff", m_eff)
    if val.is_concrete((potential, energies, length, m_eff)):
        top = float(band_top_eV(np.asarray(potential), float(length), float(m_eff)))
        too_high = np.asarray(energies) > top
        if np.any(too_high):
            raise ValueError(
                f"energies above the lattice band top of the leads ({top:.4g} eV) are outside "
                f"the discrete model (SPEC §3); got max {np.max(energies):.4g} eV. "
                "Refine the grid (more points) or lower the energies."
            )
    return (
        jnp.asarray(potential, jnp.float64),
        jnp.asarray(energies, jnp.float64),
        jnp.asarray(length, jnp.float64),
        jnp.asarray(m_eff, jnp.float64),
    )


def solve_qtbm(potential, energies, length, m_eff=DEFAULT_M_EFF) -> QTBMSolution:
    """Wavefunctions, transmission and reflection for each energy (SPEC §3).

    Args:
      potential: (N,) total potential U_j in eV on the uniform grid spanning [0, length].
      energies: scalar or (M,) electron energies in eV.
      length: device length L in nm.
      m_eff: effective mass in units of m0.
    Returns:
      :class:`QTBMSolution` with ``psi`` of shape (N,) or (M, N) and ``transmission``,
      ``reflection`` of shape () or (M,).
    """
    potential, energies, length, m_eff = _validate_system(potential, energies, length, m_eff)
    sol = _solve_many(potential, jnp.atleast_1d(energies), length, m_eff)
    if energies.ndim == 0:
        return jax.tree_util.tree_map(lambda a: a[0], sol)
    return sol


def transmission(potential, energies, length, m_eff=DEFAULT_M_EFF):
    """Transmission probability T(E) through the potential ``potential`` (SPEC §3, §8).

    Args:
      potential: (N,) total potential U_j in eV on the uniform grid x_j = j·L/(N−1),
        N ≥ 3. The leads continue U_0 and U_{N−1}.
      energies: scalar or (M,) energies in eV; must lie below the lattice band top.
      length: L in nm.
      m_eff: effective mass in units of m0 (default 0.067, GaAs).
    Returns:
      T with the shape of ``energies``, in [0, 1].

    Works under ``jax.jit``, ``jax.vmap``, ``jax.grad`` (w.r.t. potential and energies)
    and forward mode, in float64. Inputs are validated when concrete; under tracing only
    shapes are checked.
    """
    potential, energies, length, m_eff = _validate_system(potential, energies, length, m_eff)
    t = transmission_many(potential, jnp.atleast_1d(energies), length, m_eff)
    return t[0] if energies.ndim == 0 else t
