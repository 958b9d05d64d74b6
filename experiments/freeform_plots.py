"""Figures 6 and 7 (free-form potentials, physics.md §12), with matplotlib's object API only.

No pyplot and no backend switch: each figure is a ``matplotlib.figure.Figure`` saved to a file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

COLORS = {"target": "black", "pinn": "tab:orange", "sim": "tab:blue", "fine": "tab:cyan", "box": "tab:red",
          "free": "tab:green", "ramp": "0.6", "original": "0.5"}


def _save(fig: Figure, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    return path


def plot_fig6(path, *, x, u_ref, u_ramp, u_sim, energies, target, t_sim, t_fine, sim_curve, pinn, metrics) -> Path:
    """Fig. 6: the PINN's inverse problem solved by both methods.

    (a) U(x): reference, bare ramp, simulator's network potential, PINN's potential;
    (b) T(E): target, simulator (FD on the PINN's grid), PINN (FD confirmation and its own T);
    (c) |T − T*| on a log scale, including the simulator's potential on the 4× grid;
    (d) RMSE(T_FD, T*) against wall time of both trainings (compilation included).
    """
    fig = Figure(figsize=(11.0, 8.0))
    (ax_u, ax_t), (ax_e, ax_w) = fig.subplots(2, 2)
    ax_u.plot(x, u_ref, color=COLORS["target"], lw=2.5, alpha=0.5, label="U_ref (defines T*)")
    ax_u.plot(x, u_ramp, color=COLORS["ramp"], ls=":", label="bare ramp (start)")
    ax_u.plot(x, u_sim, color=COLORS["sim"], lw=1.5, label="simulator: free-form network")
    if pinn is not None:
        ax_u.plot(pinn["x"], pinn["potential"], color=COLORS["pinn"], ls="--", lw=1.5, label="PINN")
    ax_u.set_xlabel("position x (nm)")
    ax_u.set_ylabel("potential U(x) (eV)")
    ax_u.set_title("(a) learned potentials")
    ax_u.legend(fontsize=8)

    ax_t.plot(energies, target, color=COLORS["target"], lw=2.5, alpha=0.5, label="target T*")
    ax_t.plot(energies, t_sim, color=COLORS["sim"], lw=1.5, label="simulator (FD = its own solver)")
    if pinn is not None:
        ax_t.plot(energies, pinn["fd"], color=COLORS["pinn"], ls="--", label="PINN, FD confirmation")
        ax_t.plot(energies, pinn["net"], color=COLORS["pinn"], ls=":", label="PINN, from its networks")
    ax_t.set_xlabel("energy E (eV)")
    ax_t.set_ylabel("transmission T(E)")
    ax_t.set_title("(b) transmission")
    ax_t.legend(fontsize=8)

    floor = 1e-9
    ax_e.semilogy(energies, np.maximum(np.abs(t_sim - target), floor), color=COLORS["sim"],
                  label=f"simulator, N = {metrics['diffsim_grid_points']} "
                        f"(RMSE {metrics['diffsim_rmse_fd_vs_target']:.1e})")
    ax_e.semilogy(energies, np.maximum(np.abs(t_fine - target), floor), color=COLORS["fine"], ls="--",
                  label=f"same U on the 4× grid, N = {metrics['diffsim_fine_grid_points']} "
                        f"(RMSE {metrics['diffsim_rmse_fine_grid']:.1e})")
    if pinn is not None:
        ax_e.semilogy(energies, np.maximum(np.abs(pinn["fd"] - target), floor), color=COLORS["pinn"], ls="--",
                      label=f"PINN, FD confirmation (RMSE {metrics['pinn_rmse_fd_vs_target']:.1e})")
    ax_e.set_xlabel("energy E (eV)")
    ax_e.set_ylabel("|T_FD(E) − T*(E)|")
    ax_e.set_title("(c) error of the confirmed transmission")
    ax_e.legend(fontsize=7)

    sec, err = sim_curve
    ax_w.loglog(np.maximum(sec, 1e-2), err, color=COLORS["sim"], marker=".", ms=3, label="simulator (L-BFGS)")
    if pinn is not None and pinn["curve"] is not None and len(pinn["curve"][0]):
        ax_w.loglog(pinn["curve"][0], pinn["curve"][1], color=COLORS["pinn"], marker="o", ms=3,
                    label="PINN (monitor history)")
        level = metrics["pinn_rmse_fd_vs_target"]
        ax_w.axhline(level, color=COLORS["pinn"], lw=0.8, ls=":")
        speed = metrics.get("speedup_at_pinn_accuracy")
        if speed:
            ax_w.text(0.03, 0.05, f"to reach the PINN's final error {level:.1e}:\n"
                      f"simulator {metrics['diffsim_seconds_to_pinn_error']:.1f} s, "
                      f"PINN {metrics['pinn_seconds_to_final_error']:.0f} s ({speed:.0f}× faster)",
                      transform=ax_w.transAxes, fontsize=8)
    ax_w.xaxis.set_minor_formatter(NullFormatter())
    ax_w.set_xlabel("wall time (s, compilation included)")
    ax_w.set_ylabel("RMSE(T_FD, T*)")
    ax_w.set_title("(d) error against wall time")
    ax_w.legend(fontsize=8, loc="upper right")
    fig.suptitle("Fig. 6 — the PINN's inverse problem with the exact solver in the loop (free-form U)")
    return _save(fig, path)


def plot_fig7(path, *, biases, target, i_ff, i_db, i_db_free, x, potentials, spec_biases, spec_currents,
              spec_potentials, spec_targets, metrics) -> Path:
    """Fig. 7: (a) two-peak I–V fits, (b) their potentials (no bias), (c) spec-driven designs, (d) their potentials."""
    fig = Figure(figsize=(11.0, 8.0))
    (ax_iv, ax_u), (ax_s, ax_su) = fig.subplots(2, 2)
    ax_iv.plot(biases, target, "o", color=COLORS["target"], ms=4, label="target: triple barrier")
    ax_iv.plot(biases, i_ff, color=COLORS["free"], lw=2,
               label=f"free-form ({metrics['freeform_rms_percent_of_peak']:.2f} % of peak)")
    ax_iv.plot(biases, i_db, color=COLORS["box"], ls="--",
               label=f"best two-box, {metrics['double_barrier_starts']} starts "
                     f"({metrics['double_barrier_rms_percent_of_peak']:.1f} %)")
    if i_db_free is not None:
        ax_iv.plot(biases, i_db_free, color=COLORS["box"], ls=":",
                   label=f"best two-box, E_F free ({metrics['double_barrier_free_fermi_rms_percent_of_peak']:.1f} %)")
    ax_iv.set_xlabel("bias V (V)")
    ax_iv.set_ylabel("current I (µA)")
    ax_iv.set_title(f"(a) two-peak I–V, E_F = {metrics['fermi_level_eV_fixed']} eV")
    ax_iv.set_ylim(bottom=0)
    ax_iv.legend(fontsize=7)

    styles = {"triple barrier (target)": dict(color=COLORS["target"], lw=2.5, alpha=0.5),
              "free-form": dict(color=COLORS["free"], lw=1.5), "best two-box": dict(color=COLORS["box"], ls="--")}
    db = metrics["double_barrier_params"]
    notes = {"best two-box": "best two-box: " + ", ".join(
        f"{h:.2g} eV × {w:.2g} nm" for h, w in zip(db["heights_eV"], db["widths_nm"]))}
    for label, u in potentials.items():
        ax_u.plot(x, u, label=notes.get(label, label), **styles.get(label, {}))
    ax_u.set_xlabel("position x (nm)")
    ax_u.set_ylabel("internal potential at V = 0 (eV)")
    shown = np.concatenate([potentials["triple barrier (target)"], potentials["free-form"]])
    lo, hi = float(np.min(shown)), float(np.max(shown))
    pad = 0.1 * (hi - lo)
    ax_u.set_ylim(lo - pad, hi + 3 * pad)
    clipped = float(np.max(np.abs(potentials["best two-box"]))) > hi + 3 * pad
    ax_u.set_title("(b) potentials of the fits" + (" (two-box clipped)" if clipped else ""))
    ax_u.legend(fontsize=7, loc="lower left")

    spec_styles = {"original": dict(color=COLORS["original"], ls=":"), "box": dict(color=COLORS["box"], lw=2),
                   "freeform": dict(color=COLORS["free"], ls="--", lw=2)}
    achieved = metrics["spec_achieved"]
    for label, i in spec_currents.items():
        text = "start (paper's original RTD)" if label == "original" else label
        if label in achieved:
            a = achieved[label]
            text += (f": peak {a['peak_current_uA']:.2f} µA at {a['peak_bias_V']:.3f} V, "
                     f"PVR {a['peak_to_valley_ratio']:.2f}, P̄ {a['mean_power_uW']:.3f} µW")
        ax_s.plot(spec_biases, i, label=text, **spec_styles.get(label, {}))
    if "peak_bias_V" in spec_targets and "peak_current_uA" in spec_targets:
        ax_s.plot([spec_targets["peak_bias_V"]], [spec_targets["peak_current_uA"]], "*", color="black", ms=12,
                  label="spec: " + ", ".join(f"{k} = {v:g}" for k, v in spec_targets.items()))
    ax_s.set_xlabel("bias V (V)")
    ax_s.set_ylabel("current I (µA)")
    ax_s.set_title("(c) design from specifications")
    ax_s.set_ylim(bottom=0)
    ax_s.legend(fontsize=6)

    for label, u in spec_potentials.items():
        ax_su.plot(x, u, label="start (original RTD)" if label == "original" else label, **spec_styles.get(label, {}))
    ax_su.set_xlabel("position x (nm)")
    ax_su.set_ylabel("internal potential at V = 0 (eV)")
    ax_su.set_title("(d) potentials of the spec designs")
    ax_su.legend(fontsize=7)
    fig.suptitle("Fig. 7 — free-form potentials: an I–V two boxes cannot reach, and design from specifications")
    return _save(fig, path)
