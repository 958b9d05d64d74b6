"""Smooth shapes the device models are built from (physics.md §4; paper eqs. 12–13, 17)."""

from __future__ import annotations

import jax


def smooth_step(z, edge_width):
    """s(z) = 1/(1 + exp(−z/δ)) (paper eq. 12), evaluated stably as a sigmoid."""
    return jax.nn.sigmoid(z / edge_width)


def box(x, height, center, width, edge_width):
    """b(x) = h·[s(x − c + w/2) − s(x − c − w/2)] (paper eq. 13)."""
    return height * (
        smooth_step(x - center + 0.5 * width, edge_width) - smooth_step(x - center - 0.5 * width, edge_width)
    )


def bias_ramp(x, bias, length):
    """V_b(x) = −V·x/L (physics.md eq. 4.5, paper eq. 17): U_L = 0 and U_R = −V."""
    return -bias * x / length
