"""The Poisson equation of physics.md §11 in the finite elements of the Schrödinger solver (physics.md §14.10).

The Hartree potential energy U_H (eV, nm) of physics.md eq. 11.3,

    d/dx[ε_r dU_H/dx] = (q²/ε₀)(N_D − n),   U_H(0) = u_left,  U_H(L) = u_right,

is discretised by Galerkin's method on the same mesh, the same degree-p Lagrange elements on
GLL nodes and the same (p + 2)-point Gauss quadrature as :mod:`.fem` (physics.md §14.2), so the
density of :mod:`.fem_density` (which lives at those quadrature points) enters without
interpolation and U_H comes back at the points where :mod:`.fem` samples U:

    Σ_e (2/h)Σ_q w_q ε(x_q) ℓ_i′ℓ_j′ U_j = −Σ_e (h/2)Σ_q w_q s(x_q) ℓ_i,   s = (q²/ε₀)(N_D − n)   (eq. 14.14)

for every test function ℓ_i vanishing at x = 0 and L. An abrupt ε_r step at an element end
needs nothing (the weak form keeps ε U′ continuous). The interiors are condensed out element
by element (K♭ = K_bb − K_bI K_II⁻¹ K_Ib, f♭ = f_b − K_bI K_II⁻¹ f_I, K_II symmetric positive
definite), the tridiagonal system in the element-end values is solved by LAPACK's gtsv
(:func:`.poisson.tridiagonal_solve`, as the finite-difference Poisson solver), and the
interiors recovered by back-substitution. O(N p³), differentiable in every input.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .. import validation as val
from . import fem
from .fem_density import evaluate, point_fractions, positions
from .poisson import NM3_PER_CM3, Q2_OVER_EPS0_EV_NM, tridiagonal_solve


def stiffness_matrices(nodes, eps_q, order: int):
    """(n_el, p+1, p+1) element stiffness (2/h)Σ_q w_q ε(x_q) ℓ_i′ℓ_j′ (eq. 14.14)."""
    ref = fem.reference_element(order)
    dd = np.einsum("q,qi,qj->qij", ref.weights, ref.dbasis, ref.dbasis)
    h = nodes[1:] - nodes[:-1]
    return jnp.einsum("eq,qij->eij", eps_q, dd) * (2.0 / h)[:, None, None]


def load_vectors(nodes, source_q, order: int):
    """(n_el, p+1) element loads (h/2)Σ_q w_q s(x_q) ℓ_i."""
    ref = fem.reference_element(order)
    wb = ref.weights[:, None] * ref.basis  # (q, p+1)
    h = nodes[1:] - nodes[:-1]
    return jnp.einsum("eq,qi->ei", source_q, wb) * (0.5 * h)[:, None]


def solve_dirichlet(k_el, f_el, u_left, u_right):
    """Nodal values (n_el, p+1) of the assembled system Σ_e K_e U = Σ_e f_e with U = u_left, u_right at the ends.

    K_e symmetric, positive definite on the interior (stiffness, or stiffness plus a
    non-negative mass-like term): static condensation, gtsv on the end values,
    back-substitution (eq. 14.14).
    """
    p = k_el.shape[-1] - 1
    if p >= 2:
        kii = k_el[:, 1:p, 1:p]
        kib = k_el[:, 1:p][:, :, np.array([0, p])]  # (n_el, p−1, 2)
        sol = jnp.linalg.solve(kii, jnp.concatenate([kib, f_el[:, 1:p, None]], axis=-1))  # K_II⁻¹[K_Ib | f_I]
        ends = np.array([0, p])
        kbb = k_el[:, ends][:, :, ends] - jnp.einsum("eib,eic->ebc", kib, sol[..., :2])
        fb = f_el[:, ends] - jnp.einsum("eib,ei->eb", kib, sol[..., 2])
    else:
        kbb, fb = k_el, f_el
    diag = jnp.zeros(k_el.shape[0] + 1).at[:-1].add(kbb[:, 0, 0]).at[1:].add(kbb[:, 1, 1])
    off = kbb[:, 0, 1]
    rhs = (jnp.zeros(k_el.shape[0] + 1).at[:-1].add(fb[:, 0]).at[1:].add(fb[:, 1]))[1:-1]
    rhs = rhs.at[0].add(-off[0] * u_left).at[-1].add(-off[-1] * u_right)
    inner = off[1:-1]
    zero = jnp.zeros(1)
    interior = tridiagonal_solve(jnp.concatenate([zero, inner]), diag[1:-1], jnp.concatenate([inner, zero]), rhs)
    u_ends = jnp.concatenate([jnp.atleast_1d(u_left), interior, jnp.atleast_1d(u_right)])
    a, b = u_ends[:-1], u_ends[1:]
    if p == 1:
        return jnp.stack([a, b], axis=-1)
    u_int = sol[..., 2] - sol[..., 0] * a[:, None] - sol[..., 1] * b[:, None]
    return jnp.concatenate([a[:, None], u_int, b[:, None]], axis=-1)


def solve_poisson_on_mesh(nodes, eps_q, source_q, order: int, u_left, u_right):
    """U (n_el, p+1) at the GLL nodes solving d/dx[ε dU/dx] = s with Dirichlet ends (eq. 14.14); no validation.

    ``eps_q``, ``source_q``: (n_el, p+2) ε_r and s (eV/nm²) at the quadrature points of :mod:`.fem`.
    """
    return solve_dirichlet(stiffness_matrices(nodes, eps_q, order), -load_vectors(nodes, source_q, order), u_left, u_right)


def hartree_on_mesh(nodes, eps_q, doping_nm3_q, density_nm3_q, order: int, u_left, u_right):
    """U_H at the GLL nodes (n_el, p+1) for N_D and n (nm⁻³) at the quadrature points (physics.md eq. 11.3, 14.14)."""
    return solve_poisson_on_mesh(nodes, eps_q, Q2_OVER_EPS0_EV_NM * (doping_nm3_q - density_nm3_q), order, u_left, u_right)


def hartree_potential_fem(eps_r, doping_cm3, density_cm3, length_nm, order=3, n_elements=16, breakpoints_nm=(), *,
                          u_left=0.0, u_right=0.0, mesh=None, points="quadrature"):
    """U_H (eV) of physics.md eq. 11.3 by Galerkin finite elements (eq. 14.14).

    Args:
      eps_r, doping_cm3, density_cm3: constants or vectorised traceable callables of x (nm).
      length_nm: L in nm.
      order, n_elements, breakpoints_nm, mesh: the mesh as in :func:`.fem.transmission_fem`
        (``n_elements`` uniform per segment; breakpoints are element ends, e.g. ε_r steps).
      u_left, u_right: U_H(0), U_H(L) in eV.
      points: where U_H is returned ("quadrature", "nodes" or element fractions).
    Returns:
      (x (n_el, P) nm, U_H (n_el, P) eV, dU_H/dx (n_el, P) eV/nm).
    """
    order = _order(order)
    val.check_positive("length_nm", length_nm)
    if mesh is None:
        if isinstance(n_elements, bool) or not isinstance(n_elements, (int, np.integer)) or n_elements < 1:
            raise ValueError(f"n_elements must be an integer >= 1, got {n_elements!r}")
        mesh = fem.uniform_mesh(int(n_elements), float(length_nm), np.asarray(breakpoints_nm, float))
    nodes = fem.mesh_nodes(mesh, length_nm, jnp.reshape(jnp.asarray(breakpoints_nm, jnp.float64), (-1,)))
    xq = fem.quadrature_points(nodes, order)
    eps = _sample("eps_r", eps_r, xq)
    val.check_positive("eps_r", eps)
    source = Q2_OVER_EPS0_EV_NM * NM3_PER_CM3 * (_sample("doping_cm3", doping_cm3, xq) - _sample("density_cm3", density_cm3, xq))
    nodal = solve_poisson_on_mesh(nodes, eps, source, order, jnp.asarray(u_left, jnp.float64), jnp.asarray(u_right, jnp.float64))
    frac = point_fractions(order, points)
    u, du = evaluate(nodal, nodes, order, frac)
    return positions(nodes, frac), u, du


def _order(order) -> int:
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or int(order) not in fem.SUPPORTED_ORDERS:
        raise ValueError(f"order must be an integer in {fem.SUPPORTED_ORDERS}, got {order!r}")
    return int(order)


def _sample(name, f, x):
    v = f(x) if callable(f) else f
    v = val.as_float_array(name, v)
    if np.shape(v) not in ((), np.shape(x)):
        raise ValueError(f"{name} must be a constant or return one value per position, got shape {np.shape(v)}")
    return jnp.broadcast_to(jnp.asarray(v, jnp.float64), jnp.shape(x))


__all__ = [
    "hartree_on_mesh",
    "hartree_potential_fem",
    "load_vectors",
    "solve_dirichlet",
    "solve_poisson_on_mesh",
    "stiffness_matrices",
]
