"""Poisson equation for the Hartree potential energy on the device grid (physics.md §11).

For the electron potential energy U_H (eV) on x ∈ [0, L] (nm), physics.md eq. 11.3:

    d/dx[ε_r(x) dU_H/dx] = (q²/ε₀)·(N_D(x) − n(x)),   q²/ε₀ = 18.0951 eV·nm,
    U_H(0) = U_left,  U_H(L) = U_right          (0 and −V for symmetric contacts),

with n and N_D in nm⁻³ (1 cm⁻³ = 1e-21 nm⁻³). (Gauss's law for φ = −U_H/q: where the
net charge q(N_D − n) is positive U_H curves upwards, a potential well for electrons.)

Discretisation (box integration on the uniform grid x_j = j·a of physics.md eq. 3.1,
permittivity on the bonds as the harmonic mean ε_{j+½} = 2ε_jε_{j+1}/(ε_j + ε_{j+1}), which
makes the flux ε dU/dx continuous exactly when a material step lies at a bond midpoint,
and agrees with the arithmetic mean to O(a²) for smooth ε_r):

    [ε_{j+½}(U_{j+1} − U_j) − ε_{j−½}(U_j − U_{j−1})]/a² = (q²/ε₀)(N_D,j − n_j),  j = 1 … N−2.

Written as K·U_int = b with the symmetric positive-definite tridiagonal
K_jj = (ε_{j−½} + ε_{j+½})/a², K_{j,j+1} = −ε_{j+½}/a² on the N−2 interior sites, it is
solved in O(N) by LAPACK's gtsv (``lax.linalg.tridiagonal_solve``), differentiable in
every input. The scheme is exact for a quadratic U_H when ε_r is uniform and second-order
accurate for smooth or piecewise-constant ε_r; with n = N_D it gives the straight line
between the boundary values when ε_r is uniform (physics.md §4's bias ramp; with a varying
ε_r the charge-free solution has the constant flux ε_r dU_H/dx instead).
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax

#: q²/ε₀ in eV·nm (physics.md eq. 11.3): e/ε₀ = 1.602176634e-19 C / 8.8541878128e-12 F/m
#: = 1.80951e-8 V·m = 18.0951 V·nm, times q to give eV·nm.
Q2_OVER_EPS0_EV_NM = 18.0951

#: nm⁻³ per cm⁻³.
NM3_PER_CM3 = 1e-21


def bond_permittivity(eps_r):
    """ε_{j+½} = 2ε_jε_{j+1}/(ε_j + ε_{j+1}) on the N−1 bonds (harmonic mean)."""
    return 2.0 * eps_r[1:] * eps_r[:-1] / (eps_r[1:] + eps_r[:-1])


def stiffness(eps_r, spacing):
    """(lower, diag, upper) of K on the N−2 interior sites (all three of length N−2).

    K_jj = (ε_{j−½} + ε_{j+½})/a², K_{j,j±1} = −ε_{j±½}/a²; ``lower[0]`` and ``upper[-1]``
    are 0 (LAPACK's gtsv convention).
    """
    eb = bond_permittivity(eps_r) / spacing**2  # (N−1,)
    diag = eb[:-1] + eb[1:]
    off = -eb[1:-1]
    zero = jnp.zeros((1,), eps_r.dtype)
    return jnp.concatenate([zero, off]), diag, jnp.concatenate([off, zero])


def tridiagonal_solve(lower, diag, upper, rhs):
    """Solve the tridiagonal system (gtsv) for one right-hand side (N−2,)."""
    return lax.linalg.tridiagonal_solve(lower, diag, upper, rhs[:, None])[:, 0]


def apply_stiffness(eps_r, spacing, u_full):
    """(K U)_j on the interior, *including* the couplings to the boundary values U_0, U_{N−1}.

    Equals −[ε_{j+½}(U_{j+1} − U_j) − ε_{j−½}(U_j − U_{j−1})]/a², j = 1 … N−2.
    """
    eb = bond_permittivity(eps_r) / spacing**2
    flux = eb * jnp.diff(u_full)  # ε_{j+½}(U_{j+1} − U_j)/a²
    return flux[:-1] - flux[1:]


def net_charge_term(doping_nm3, density_nm3):
    """(q²/ε₀)(N_D − n) in eV/nm² (both densities in nm⁻³)."""
    return Q2_OVER_EPS0_EV_NM * (doping_nm3 - density_nm3)


def solve_poisson(eps_r, length, doping_nm3, density_nm3, u_left, u_right):
    """U_H (N,) in eV from physics.md eq. 11.3 with Dirichlet values ``u_left``, ``u_right``.

    Args:
      eps_r: (N,) relative permittivity.
      length: L in nm.
      doping_nm3, density_nm3: (N,) N_D and n in nm⁻³.
      u_left, u_right: U_H(0) and U_H(L) in eV.
    Returns:
      (N,) U_H including the boundary values. O(N); differentiable in every argument.
    """
    n = eps_r.shape[-1]
    spacing = length / (n - 1)
    lower, diag, upper = stiffness(eps_r, spacing)
    eb = bond_permittivity(eps_r) / spacing**2
    # K U_int = (q²/ε₀)(n − N_D) + boundary couplings; (K U)_j = −(d/dx ε dU/dx)_j
    rhs = -net_charge_term(doping_nm3, density_nm3)[1:-1]
    rhs = rhs.at[0].add(eb[0] * u_left).at[-1].add(eb[-1] * u_right)
    interior = tridiagonal_solve(lower, diag, upper, rhs)
    return jnp.concatenate([jnp.atleast_1d(u_left), interior, jnp.atleast_1d(u_right)]).astype(interior.dtype)


def hartree_potential(eps_r, length, doping_cm3, density_cm3, bias, u_left=0.0, u_right=None):
    """U_H in eV for densities in cm⁻³ (physics.md eq. 11.3): U_H(0) = ``u_left``, U_H(L) = −V by default."""
    if u_right is None:
        u_right = u_left - bias
    return solve_poisson(
        jnp.asarray(eps_r, jnp.float64),
        jnp.asarray(length, jnp.float64),
        jnp.asarray(doping_cm3, jnp.float64) * NM3_PER_CM3,
        jnp.asarray(density_cm3, jnp.float64) * NM3_PER_CM3,
        jnp.asarray(u_left, jnp.float64),
        jnp.asarray(u_right, jnp.float64),
    )


def poisson_residual(eps_r, length, doping_nm3, density_nm3, u_hartree):
    """Interior residual (K U_H)_j − (q²/ε₀)(n_j − N_D,j) in eV/nm² (zero at a solution)."""
    n = eps_r.shape[-1]
    spacing = length / (n - 1)
    return apply_stiffness(eps_r, spacing, u_hartree) + net_charge_term(doping_nm3, density_nm3)[1:-1]


__all__ = [
    "NM3_PER_CM3",
    "Q2_OVER_EPS0_EV_NM",
    "apply_stiffness",
    "bond_permittivity",
    "hartree_potential",
    "net_charge_term",
    "poisson_residual",
    "solve_poisson",
    "stiffness",
    "tridiagonal_solve",
]
