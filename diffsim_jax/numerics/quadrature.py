"""Gauss–Legendre quadrature nodes, built in one place (NumPy, static)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np


def gauss_legendre(n: int):
    """(x, w): the ``n``-point Gauss–Legendre rule on [−1, 1] as float64 JAX arrays."""
    x, w = np.polynomial.legendre.leggauss(n)
    return jnp.asarray(x), jnp.asarray(w)


def gauss_legendre_panels(n_nodes: int, order: int):
    """Composite Gauss–Legendre rule on [0, 1]: ``n_nodes/order`` equal panels (NumPy arrays)."""
    x, w = np.polynomial.legendre.leggauss(order)
    panels = n_nodes // order
    left = np.arange(panels) / panels
    u = (left[:, None] + (x[None, :] + 1.0) / (2.0 * panels)).ravel()
    wu = np.tile(w / (2.0 * panels), panels)
    return u, wu


def legendre_error_matrix(n: int):
    """(n, 2) matrix mapping the values at the ``n`` Gauss–Legendre nodes to the two highest
    Legendre coefficients c_k = (2k+1)/2 Σ_i w_i P_k(x_i) f_i, k = n−1, n−2 (exact for the
    interpolant); their size measures how well a panel resolves its integrand."""
    x, w = np.polynomial.legendre.leggauss(n)
    cols = []
    for k in (n - 1, n - 2):
        pk = np.polynomial.legendre.Legendre.basis(k)(x)
        cols.append((2 * k + 1) / 2 * w * pk)
    return jnp.asarray(np.stack(cols, axis=1))
