"""Figure 9: the self-consistent RTD (matplotlib object API: no pyplot, no backend switch)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure


def plot_fig9(path, model, params, at_peak, biases, j_nsc, sweep, bistable, design) -> Path:
    """Five panels (see :mod:`experiments.selfconsistent`): band profile and density at the
    self-consistent peak, J(V) with/without self-consistency (both sweeps), the bistable
    RTD's two branches, and the self-consistent design."""
    fig = Figure(figsize=(16.0, 8.5), layout="constrained")
    axes = fig.subplots(2, 3)
    ax_u, ax_n, ax_j = axes[0]
    ax_b, ax_d, ax_empty = axes[1]
    ax_empty.axis("off")

    bias = float(at_peak.bias_V)
    x = np.asarray(at_peak.x_nm)
    inp = model.solver_input(params, bias)
    x_nsc = np.linspace(0.0, float(inp.length_nm), np.size(inp.potential_eV))
    ax_u.plot(x_nsc, np.asarray(inp.potential_eV), color="tab:gray", ls=":", label="no self-consistency")
    ax_u.plot(x, np.asarray(at_peak.potential_eV), color="tab:red", label="self-consistent U = U_band + U_H")
    mu_l = float(at_peak.fermi_level_eV)
    ax_u.axhline(mu_l, color="k", lw=0.8, ls="-.", label="μ_L")
    ax_u.axhline(mu_l - bias, color="k", lw=0.8, ls=":", label="μ_R")
    ax_u.set_xlabel("position x (nm)")
    ax_u.set_ylabel("conduction-band edge U(x) (eV)")
    ax_u.set_title(f"(a) Fig. 8 RTD at its self-consistent peak, V = {bias:.3f} V")
    ax_u.legend(fontsize=8)

    ax_n.semilogy(x, np.asarray(at_peak.density_cm3), color="tab:red", label="n(x), self-consistent")
    ax_n.semilogy(x, np.maximum(np.asarray(at_peak.doping_cm3), 1e14), color="tab:gray", ls=":", label="N_D(x)")
    ax_n.set_ylim(1e14, 1e20)
    ax_n.set_xlabel("position x (nm)")
    ax_n.set_ylabel("electron density (cm⁻³)")
    ax_n.set_title("(b) accumulation before the emitter barrier, depletion after the collector")
    ax_n.legend(fontsize=8)

    ax_j.plot(biases, j_nsc / 1e3, color="tab:gray", ls=":", marker=".", label="no self-consistency")
    ax_j.plot(biases, np.asarray(sweep.current_up) / 1e3, color="tab:red", marker=".", label="self-consistent, up")
    ax_j.plot(biases, np.asarray(sweep.current_down) / 1e3, color="tab:blue", ls="--", label="self-consistent, down")
    ax_j.set_xlabel("bias V (V)")
    ax_j.set_ylabel("J (kA/cm²)")
    ax_j.set_ylim(bottom=0)
    ax_j.set_title("(c) Fig. 8 RTD: J(V) at 300 K")
    ax_j.legend(fontsize=8)

    ax_b.plot(biases, np.asarray(bistable.current_up) / 1e3, color="tab:red", marker=".", label="up sweep")
    ax_b.plot(biases, np.asarray(bistable.current_down) / 1e3, color="tab:blue", ls="--", marker=".",
              label="down sweep")
    if np.any(bistable.bistable):
        b = biases[bistable.bistable]
        ax_b.axvspan(b.min(), b.max(), color="tab:purple", alpha=0.12, label=f"bistable {b.min():.3g}–{b.max():.3g} V")
    ax_b.set_xlabel("bias V (V)")
    ax_b.set_ylabel("J (kA/cm²)")
    ax_b.set_ylim(bottom=0)
    ax_b.set_title("(d) asymmetric RTD (4/6 nm Al₀.₃₅Ga₀.₆₅As): intrinsic bistability")
    ax_b.legend(fontsize=8)

    ax_d.plot(design["biases_V"], design["start_J"] / 1e3, color="tab:blue", label="start (Fig. 8 RTD)")
    ax_d.plot(design["biases_V"], design["target"] / 1e3, color="tab:orange", ls="none", marker="o", ms=4,
              label="target")
    ax_d.plot(design["biases_V"], design["designed_J"] / 1e3, color="tab:green", ls="--",
              label=f"designed (RMS {design['rms_percent_of_peak']:.2f} % of peak)")
    d = design["designed"]
    ax_d.text(0.02, 0.97, "designed: barriers {:.2f}/{:.2f} nm, well {:.2f} nm, N_D {:.2e} cm⁻³".format(
        d["barrier1_nm"], d["barrier2_nm"], d["well_nm"], d["doping_cm3"]), transform=ax_d.transAxes, va="top",
        fontsize=8)
    ax_d.set_xlabel("bias V (V)")
    ax_d.set_ylabel("J (kA/cm²)")
    ax_d.set_title("(e) self-consistent design (layers and contact doping)")
    ax_d.legend(fontsize=8, loc="lower right")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path
