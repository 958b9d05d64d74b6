"""Reference potential, bare ramp and the target transmission T*(E) (physics.md §7).

The paper does not give its target T*(E). Here it is the transmission, computed by the
project's discrete QTBM solver ``diffsim_jax.transmission`` (physics.md §3) on a fine grid, of a
known reference potential: the bare bias ramp plus a smooth Gaussian barrier,

    U_ref(x) = −V·x/L + h·[g(x/L) − (g(0)·(1 − x/L) + g(1)·x/L)],
    g(s) = exp(−(s − s_c)² / (2 w²)),

with h = ``ref_height_eV``, s_c = ``ref_center_frac``, w = ``ref_width_frac``. The linear
correction in brackets makes the barrier vanish exactly at both terminals, so U_ref has
the pinned terminal values U(0) = 0, U(L) = −V of the PINN's potential (physics.md §7).
A target made this way is reachable by construction and checkable.
"""

from __future__ import annotations

import numpy as np

from diffsim_jax.physics.shapes import bias_ramp

from .config import PINNConfig


def grid_nm(cfg: PINNConfig, n: int | None = None) -> np.ndarray:
    """Uniform grid x_j = j·L/(n − 1) in nm (physics.md §3); n defaults to ``cfg.n_fd``."""
    return np.linspace(0.0, cfg.length_nm, cfg.n_fd if n is None else n)


def bare_ramp(x_nm, cfg: PINNConfig) -> np.ndarray:
    """Linear bias drop U(x) = −V·x/L in eV (physics.md eq. 4.5, the simulator's ``bias_ramp``)."""
    return bias_ramp(np.asarray(x_nm, dtype=float), cfg.bias_V, cfg.length_nm)


def reference_potential(x_nm, cfg: PINNConfig) -> np.ndarray:
    """U_ref(x) in eV: bare ramp plus a Gaussian barrier vanishing at both ends (module doc)."""
    s = np.asarray(x_nm, dtype=float) / cfg.length_nm

    def g(t):
        return np.exp(-((t - cfg.ref_center_frac) ** 2) / (2.0 * cfg.ref_width_frac**2))

    barrier = g(s) - (g(0.0) * (1.0 - s) + g(1.0) * s)
    return bare_ramp(x_nm, cfg) + cfg.ref_height_eV * barrier


def eval_energies(cfg: PINNConfig) -> np.ndarray:
    """Energies (eV) on which the T(E) curves are reported."""
    return np.linspace(cfg.energy_min_eV, cfg.energy_max_eV, cfg.n_eval_energies)


def fd_transmission(potential_eV, energies_eV, cfg: PINNConfig) -> np.ndarray:
    """T(E) of a potential on the uniform grid over [0, L] by the discrete QTBM solver (physics.md §3)."""
    import diffsim_jax as ds  # noqa: PLC0415  (JAX only; never imports TensorFlow)

    return np.asarray(ds.transmission(np.asarray(potential_eV, dtype=float), np.asarray(energies_eV, dtype=float),
                                      cfg.length_nm, m_eff=cfg.m_eff))


def target_transmission(energies_eV, cfg: PINNConfig) -> np.ndarray:
    """T*(E): the discrete-solver transmission of the reference potential on ``cfg.n_fd`` points."""
    x = grid_nm(cfg)
    return fd_transmission(reference_potential(x, cfg), energies_eV, cfg)


def ramp_transmission(energies_eV, cfg: PINNConfig) -> np.ndarray:
    """T(E) of the bare bias ramp (what the device does without any barrier)."""
    x = grid_nm(cfg)
    return fd_transmission(bare_ramp(x, cfg), energies_eV, cfg)


def rmse(a, b) -> float:
    """Root-mean-square difference of two curves sampled on the same energies."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    return float(np.sqrt(np.mean((a - b) ** 2)))
