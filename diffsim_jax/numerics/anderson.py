"""Anderson acceleration (type II) of a fixed-point iteration, jit-compatible (physics.md §11.1).

x⁺ = x + βg − (ΔX + βΔG)γ with γ = argmin‖g − ΔG γ‖ over the last m pairs of differences
of iterates x and steps g (Walker & Ni, SIAM J. Numer. Anal. 49, 1715 (2011)). The state
has a static size (m, n), so the update runs inside ``lax.while_loop``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp


class AndersonState(NamedTuple):
    """The last m differences of iterates and steps (a ring buffer) and the previous pair."""

    dx: jax.Array  # (m, n) differences of iterates
    dg: jax.Array  # (m, n) differences of predictor steps
    x_prev: jax.Array
    g_prev: jax.Array
    count: jax.Array  # number of stored pairs (≤ m) … and validity of x_prev


def anderson_init(m, n):
    z = jnp.zeros((max(m, 1), n))
    return AndersonState(z, z, jnp.zeros(n), jnp.zeros(n), jnp.asarray(-1))


def anderson_step(state: AndersonState, x, g, m: int, beta=1.0):
    """Type-II Anderson update x⁺ = x + βg − (ΔX + βΔG)γ, γ = argmin‖g − ΔG γ‖ (least squares)."""
    if m == 0:
        return state, x + beta * g
    has_prev = state.count >= 0
    slot = jnp.maximum(state.count, 0) % m
    dx = jnp.where(has_prev, state.dx.at[slot].set(x - state.x_prev), state.dx)
    dg = jnp.where(has_prev, state.dg.at[slot].set(g - state.g_prev), state.dg)
    stored = jnp.where(has_prev, jnp.minimum(state.count + 1, m), 0)
    valid = (jnp.arange(m) < stored)[:, None]
    mat = jnp.where(valid, dg, 0.0).T  # (n, m)
    gamma, _, _, _ = jnp.linalg.lstsq(mat, g, rcond=1e-10)
    gamma = jnp.where(valid[:, 0], gamma, 0.0)
    x_new = x + beta * g - (jnp.where(valid, dx + beta * dg, 0.0).T @ gamma)
    return AndersonState(dx, dg, x, g, stored), x_new
