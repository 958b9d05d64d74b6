"""Figure 8: the AlGaAs/GaAs RTD — band profile, J(V) at three temperatures, the 300 K design.

matplotlib's object API only (``matplotlib.figure.Figure``): no pyplot, no backend switch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from diffsim_jax.design.metrics import ndr_figures

TEMPERATURE_STYLES = {0.0: dict(color="tab:blue"), 77.0: dict(color="tab:green"), 300.0: dict(color="tab:red")}


def plot_fig8(path, model, params, biases, curves: dict, target, designed, designed_params, loss_history) -> Path:
    """Three panels: (a) conduction-band profile at 0 V and at the 300 K peak bias with the
    emitter Fermi level; (b) J(V) at each temperature (kA/cm²); (c) the 300 K
    design: start, target and designed J(V) and the designed band profile (inset)."""
    fig = Figure(figsize=(13.5, 4.0), layout="constrained")
    ax_u, ax_j, ax_d = fig.subplots(1, 3)

    peak_bias = ndr_figures(biases, curves[300.0])["peak_bias_V"]
    for bias, style in ((0.0, dict(color="k")), (peak_bias, dict(color="tab:red", ls="--"))):
        inp = model.solver_input(params, bias)
        x = np.linspace(0.0, float(inp.length_nm), np.size(inp.potential_eV))
        ax_u.plot(x, np.asarray(inp.potential_eV), label=f"U(x), V = {bias:.3g} V", **style)
    ax_u.axhline(float(params.fermi_level), color="tab:gray", ls=":", label=f"E_F = {float(params.fermi_level):.3f} eV (300 K)")
    ax_u.set_xlabel("position x (nm)")
    ax_u.set_ylabel("conduction-band edge (eV)")
    ax_u.set_title("(a) band profile")
    ax_u.legend(fontsize=8)

    for temp, j in curves.items():
        fom = ndr_figures(biases, j)
        ax_j.plot(biases, j / 1e3, marker=".", label=f"{temp:g} K: peak {fom['peak'] / 1e3:.0f} kA/cm² at "
                  f"{fom['peak_bias_V']:.3f} V, PVR {fom['pvr']:.1f}", **TEMPERATURE_STYLES.get(temp, {}))
    ax_j.set_xlabel("bias V (V)")
    ax_j.set_ylabel("current density J (kA/cm²)")
    ax_j.set_xlim(0, float(np.max(biases)))
    ax_j.set_ylim(bottom=0)
    ax_j.set_title("(b) J(V), Tsu–Esaki, no self-consistency")
    ax_j.legend(fontsize=8)

    for label, j, style in (("start (Fig. 8 RTD)", curves[300.0], dict(color="tab:blue")),
                            ("target", target, dict(color="tab:orange", ls="none", marker="o", ms=4)),
                            ("designed", designed, dict(color="tab:green", ls="--"))):
        ax_d.plot(biases, j / 1e3, label=f"{label}, PVR {ndr_figures(biases, j)['pvr']:.1f}", **style)
    ax_d.set_xlabel("bias V (V)")
    ax_d.set_ylabel("J (kA/cm²) at 300 K")
    ax_d.set_xlim(0, float(np.max(biases)))
    ax_d.set_ylim(0, 1.25 * max(np.max(target), ndr_figures(biases, curves[300.0])["peak"]) / 1e3)
    ax_d.set_title("(c) design in layer variables at 300 K")
    ax_d.legend(fontsize=8, loc="upper right")
    inset = ax_d.inset_axes([0.40, 0.45, 0.3, 0.28])
    for p, style in ((params, dict(color="tab:blue", lw=1)), (designed_params, dict(color="tab:green", lw=1, ls="--"))):
        inp = model.solver_input(p, 0.0)
        inset.plot(np.linspace(0, float(inp.length_nm), np.size(inp.potential_eV)), np.asarray(inp.potential_eV), **style)
    thickness = np.asarray(params.stack.thickness_nm, float)  # the active region, 2 nm margins
    inset.set_xlim(thickness[0] - 2.0, float(np.sum(thickness[:-1])) + 2.0)
    inset.set_title("U(x) at 0 V: start, designed", fontsize=7)
    inset.tick_params(labelsize=6)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    return path
