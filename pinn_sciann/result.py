"""The result of one training run (physics.md §8) and the figure-2 metrics."""

from __future__ import annotations

import dataclasses

import numpy as np

from .config import PINNConfig
from .targets import rmse


@dataclasses.dataclass
class PINNResult:
    """Output of :func:`pinn_sciann.train_inverse`. Units: nm, eV, s.

    Attributes:
      x: (n_fd,) grid x_j = j·L/(n_fd − 1).
      potential: (n_fd,) learned U(x).
      energies: (M,) energies of the T(E) curves.
      target_transmission: T*(E), discrete solver on the reference potential.
      pinn_transmission: T(E) = (k_R/k_L)|ψ(L)|² read from the networks (physics.md eq. 11).
      fd_transmission: T(E) of the learned U by the discrete solver (the confirmation).
      ramp_transmission: T(E) of the bare bias ramp.
      reference_potential: (n_fd,) the potential that defined the target.
      loss_history: term -> (K,) loss per Keras epoch (Adam) or iteration (L-BFGS);
        "total" and the terms of :data:`pinn_sciann.config.LOSS_TERMS` (NaN where a term is off).
      history_step: (K,) optimizer steps done at each history entry.
      history_seconds: (K,) wall time since the start of training at each entry.
      stage_starts: stage name -> step at which it started.
      monitor: periodic confirmation during training: step, seconds, rmse_fd_vs_target,
        rmse_pinn_vs_fd, rmse_pinn_vs_target.
      config: the configuration that was run.
      train_seconds: wall time of training (graph construction included).
      fourier_matrix_psi, fourier_matrix_u: the Gaussian matrices B actually used.
    """

    x: np.ndarray
    potential: np.ndarray
    energies: np.ndarray
    target_transmission: np.ndarray
    pinn_transmission: np.ndarray
    fd_transmission: np.ndarray
    ramp_transmission: np.ndarray
    reference_potential: np.ndarray
    loss_history: dict
    history_step: np.ndarray
    history_seconds: np.ndarray
    stage_starts: dict
    monitor: dict
    config: PINNConfig
    train_seconds: float
    fourier_matrix_psi: np.ndarray
    fourier_matrix_u: np.ndarray


def fig2_metrics(result: PINNResult) -> dict:
    """Acceptance numbers of paper Fig. 2 (RMSE over the evaluation energies).

    rmse_fd_vs_target: FD-confirmed T of the learned U against T*;
    rmse_ramp_vs_target: bare ramp's T against T* (how far the target is from "no barrier");
    rmse_pinn_vs_fd: the PINN's own T against the FD T of the same potential — small only if
      ψ really solves the equations for the potential that was found;
    rmse_pinn_vs_target: the PINN's T against T*.
    """
    r = result
    m = {
        "profile": r.config.profile,
        "rmse_fd_vs_target": rmse(r.fd_transmission, r.target_transmission),
        "rmse_ramp_vs_target": rmse(r.ramp_transmission, r.target_transmission),
        "rmse_pinn_vs_fd": rmse(r.pinn_transmission, r.fd_transmission),
        "rmse_pinn_vs_target": rmse(r.pinn_transmission, r.target_transmission),
        "max_abs_fd_vs_target": float(np.max(np.abs(r.fd_transmission - r.target_transmission))),
        "train_seconds": float(r.train_seconds),
        "n_energies": int(np.size(r.energies)),
        "final_loss": float(r.loss_history["total"][-1]) if np.size(r.loss_history["total"]) else float("nan"),
    }
    m["fd_over_ramp"] = m["rmse_fd_vs_target"] / m["rmse_ramp_vs_target"]
    m["accepted"] = bool(m["rmse_fd_vs_target"] <= 0.05 and m["fd_over_ramp"] <= 0.3 and m["rmse_pinn_vs_fd"] <= 0.05)
    return m
