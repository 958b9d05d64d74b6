"""Restarted, right-preconditioned GMRES(m) for matrix-free linear systems (physics.md §11.2)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax


def gmres(matvec, rhs, precond, restart: int, max_restarts: int, tol: float):
    """Right-preconditioned restarted GMRES(m) with early exit; returns (x, relative residual, matvecs).

    Solves A x = b with A M⁻¹ y = b, x = M⁻¹ y (modified Gram–Schmidt, Givens rotations);
    the estimate is the true residual norm ‖b − Ax‖/‖b‖. One call site of ``matvec``, so
    the VJP it wraps is compiled once.
    """
    n = rhs.shape[0]
    m = restart
    b_norm = jnp.linalg.norm(rhs)
    safe_b = jnp.where(b_norm > 0, b_norm, 1.0)

    def cycle(state):
        x, _, k, count = state
        r = rhs - matvec(x)
        beta = jnp.linalg.norm(r)
        basis = jnp.zeros((m + 1, n)).at[0].set(r / jnp.where(beta > 0, beta, 1.0))
        hess = jnp.zeros((m + 1, m))
        cs, sn = jnp.zeros(m), jnp.zeros(m)
        g = jnp.zeros(m + 1).at[0].set(beta)

        def arnoldi(st):
            j, basis, hess, cs, sn, g, _ = st
            w = matvec(precond(basis[j]))

            def mgs(i, carry):
                w, h = carry
                hij = jnp.where(i <= j, basis[i] @ w, 0.0)
                return w - hij * basis[i], h.at[i].set(hij)

            w, h = lax.fori_loop(0, m, mgs, (w, jnp.zeros(m + 1)))
            hn = jnp.linalg.norm(w)
            h = h.at[j + 1].set(hn)
            basis = basis.at[j + 1].set(w / jnp.where(hn > 0, hn, 1.0))

            def rot(i, h):  # apply the previous Givens rotations to column j
                a, bb = h[i], h[i + 1]
                new_a = cs[i] * a + sn[i] * bb
                new_b = -sn[i] * a + cs[i] * bb
                upd = h.at[i].set(new_a).at[i + 1].set(new_b)
                return jnp.where(i < j, upd, h)

            h = lax.fori_loop(0, m, rot, h)
            denom = jnp.hypot(h[j], h[j + 1])
            c = jnp.where(denom > 0, h[j] / denom, 1.0)
            s_ = jnp.where(denom > 0, h[j + 1] / denom, 0.0)
            h = h.at[j].set(denom).at[j + 1].set(0.0)
            cs, sn = cs.at[j].set(c), sn.at[j].set(s_)
            g = g.at[j + 1].set(-s_ * g[j]).at[j].set(c * g[j])
            hess = hess.at[:, j].set(h)
            return j + 1, basis, hess, cs, sn, g, jnp.abs(g[j + 1]) / safe_b

        def go_on(st):
            j, *_, res = st
            return (j < m) & (res > tol)

        j, basis, hess, cs, sn, g, res = lax.while_loop(
            go_on, arnoldi, (0, basis, hess, cs, sn, g, beta / safe_b)
        )
        active = jnp.arange(m) < j
        tri = jnp.where(active[:, None] & active[None, :], hess[:m], jnp.eye(m))
        y = jax.scipy.linalg.solve_triangular(tri, jnp.where(active, g[:m], 0.0), lower=False)
        x = x + precond(jnp.where(active, y, 0.0) @ basis[:m])
        return x, res, k + 1, count + j + 1

    def more(state):
        _, res, k, _ = state
        return (res > tol) & (k < max_restarts)

    x, res, _, count = lax.while_loop(more, cycle, (jnp.zeros_like(rhs), jnp.asarray(jnp.inf), 0, 0))
    return x, res, count
