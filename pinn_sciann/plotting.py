"""Paper figures 1–3 of the physics-informed inverse problem (physics.md §7)."""

from __future__ import annotations

import os

import numpy as np

from .result import PINNResult, fig2_metrics
from .targets import bare_ramp

FIGURE_NAMES = ("fig1_potential.png", "fig2_transmission.png", "fig3_loss.png")

_TERM_LABELS = {
    "schrodinger_re": "Schrödinger, Re (8)",
    "schrodinger_im": "Schrödinger, Im (9)",
    "continuity": "continuity (10)",
    "bc_left_re": "BC x=0, (4)",
    "bc_left_im": "BC x=0, (5)",
    "bc_right_re": "BC x=L, (6)",
    "bc_right_im": "BC x=L, (7)",
    "target": "target T* (11)",
}


def _figure(figsize):
    """A matplotlib Figure from the object API: no pyplot state, no global backend switch."""
    from matplotlib.figure import Figure  # noqa: PLC0415

    return Figure(figsize=figsize)


def _finish(fig, ax, path: str, xlabel: str, ylabel: str, title: str, **legend) -> str:
    """Labels, legend, grid; save at 150 dpi and close."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(frameon=False, **legend)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    return path


def plot_potential(result: PINNResult, path: str) -> str:
    """Fig. 1: learned U(x) with the reference potential and the bare ramp."""
    r = result
    ramp = bare_ramp(r.x, r.config)
    fig = _figure((6, 4))
    ax = fig.subplots()
    ax.plot(r.x, r.potential, lw=2.2, label="learned U(x) (PINN)")
    ax.plot(r.x, r.reference_potential, "--", lw=1.5, label="reference potential (defines T*)")
    ax.plot(r.x, ramp, ":", color="gray", lw=1.5, label="bare bias ramp")
    path = _finish(fig, ax, path, "x (nm)", "U (eV)", f"Fig. 1 — optimized potential ({r.config.profile} profile)")
    return path


def plot_transmission(result: PINNResult, path: str) -> str:
    """Fig. 2: target T*(E), the PINN's T(E) and the FD-confirmed T(E) of the learned U."""
    r = result
    m = fig2_metrics(r)
    fig = _figure((6, 4))
    ax = fig.subplots()
    ax.plot(r.energies, r.target_transmission, "k-", lw=2.5, label="target T*(E)")
    ax.plot(r.energies, r.pinn_transmission, "--", lw=1.8, label=f"PINN (RMSE vs FD {m['rmse_pinn_vs_fd']:.3f})")
    ax.plot(r.energies, r.fd_transmission, "-", lw=1.5, color="tab:orange",
            label=f"FD confirmation (RMSE vs T* {m['rmse_fd_vs_target']:.3f})")
    ax.plot(r.energies, r.ramp_transmission, ":", color="gray", label="bare ramp")
    ax.set_ylim(-0.02, 1.05)
    path = _finish(fig, ax, path, "E (eV)", "T(E)", "Fig. 2 — transmission", loc="lower right")
    return path


_STAGE_LABELS = {"forward": " forward\n Adam", "forward_lbfgs": " forward\n L-BFGS",
                 "inverse": " inverse\n Adam", "lbfgs": " inverse\n L-BFGS"}


def plot_loss(result: PINNResult, path: str) -> str:
    """Fig. 3: loss history, total and per term, log scale, with the stage boundaries."""
    r = result
    step = np.asarray(r.history_step)
    fig = _figure((8.5, 4.5))
    ax = fig.subplots()
    ax.semilogy(step, r.loss_history["total"], "k-", lw=2, label="total")
    for name, label in _TERM_LABELS.items():
        values = np.asarray(r.loss_history.get(name, []), dtype=float)
        if values.size and np.any(np.isfinite(values)):
            ax.semilogy(step, values, lw=1, alpha=0.85, label=label)
    for stage, start in r.stage_starts.items():
        ax.axvline(start, color="gray", ls=":", lw=1)
        # stage names sit just below the top edge, away from the legend (outside, right)
        ax.text(start, 0.98, _STAGE_LABELS.get(stage, f" {stage}"), va="top", ha="left", fontsize=7,
                color="dimgray", transform=ax.get_xaxis_transform())
    path = _finish(fig, ax, path, "optimizer step (Adam steps, then L-BFGS iterations)", "loss (mean square, scaled)",
                   "Fig. 3 — loss history", fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return path


def plot_figures(result: PINNResult, out_dir) -> list[str]:
    """Write fig1_potential.png, fig2_transmission.png and fig3_loss.png into ``out_dir``."""
    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    fns = (plot_potential, plot_transmission, plot_loss)
    return [fn(result, os.path.join(out_dir, name)) for fn, name in zip(fns, FIGURE_NAMES)]
