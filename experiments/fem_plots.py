"""Figure 11: finite elements against finite differences — convergence, the RTD with abrupt
interfaces, and the thickness design abrupt vs smoothed (experiments/fem.py).

matplotlib's object API only (``matplotlib.figure.Figure``): no pyplot, no backend switch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

#: Panel (d) shows biases up to this (V): the bistable range of the RTD and its surroundings.
ZOOM_BIAS_V = 0.45


def plot_fig11(path: Path, rows: dict, orders: dict, cur: dict, design: dict, design_curves: dict, switch: dict,
               switch_curves: dict) -> Path:
    """(a) max|T − T_exact| against unknowns on the Pöschl–Teller barrier; (b) the Fig. 8 RTD's
    J(V) at 300 K, abrupt FEM against smoothed FD; (c) the thickness design: the target and both
    designed stacks evaluated on the converged abrupt model (and the smoothed design on its own model);
    (d) the self-consistent J(V) of the bistable RTD, up and down, on finite elements and finite differences."""
    fig = Figure(figsize=(21, 4.4), layout="constrained")
    ax1, ax2, ax3, ax4 = fig.subplots(1, 4)
    for k, v in rows.items():
        if not v:
            continue
        n, e = zip(*v)
        label = ("FD" if k == "fd" else f"FEM p={k[1:]}") + (f" (order {orders[k]:.2f})" if k in orders else "")
        ax1.loglog(n, e, "o-", label=label)
    ax1.set_xlabel("unknowns")
    ax1.set_ylabel("max |T − T_exact|")
    ax1.set_title("(a) Pöschl–Teller barrier")
    ax1.legend(fontsize=8)

    ax2.plot(cur["biases"], cur["j_fem"] / 1e3, "k-", label="FEM, abrupt (p=4, converged)")
    ax2.plot(cur["biases"], cur["j_fd_conv"] / 1e3, "b--", label="FD smooth, extrapolated")
    ax2.plot(cur["biases"], cur["j_fd_fig8"] / 1e3, "r:", label="FD smooth, Fig. 8 grid (N=271)")
    ax2.set_xlabel("bias (V)")
    ax2.set_ylabel("J (kA/cm²)")
    ax2.set_title("(b) Fig. 8 RTD at 300 K")
    ax2.legend(fontsize=8)

    v = cur["biases"]
    fem, smooth = design["fem"], design["smooth"]
    t = design["target_nm"]
    ax3.plot(v, design_curves["target"] / 1e3, "ko", ms=4,
             label=f"target: barriers {t['barrier']:.2f}, well {t['well']:.2f} nm")
    ax3.plot(v, design_curves["fem"] / 1e3, "g-",
             label=f"abrupt FEM design {fem['barrier_nm']:.3f}/{fem['well_nm']:.3f} nm, L={fem['loss_on_abrupt']:.1e}")
    ax3.plot(v, design_curves["smooth"] / 1e3, "m--",
             label=f"smoothed FD design {smooth['barrier_nm']:.3f}/{smooth['well_nm']:.3f} nm, "
                   f"L={smooth['loss_on_abrupt']:.1e}")
    ax3.plot(v, design_curves["smooth_own"] / 1e3, "m:", lw=1,
             label=f"smoothed design on its own model (δ={design['smooth_interface_width_nm']:g} nm)")
    ax3.set_xlabel("bias (V)")
    ax3.set_ylabel("J (kA/cm²) on the abrupt model")
    ax3.set_xlim(0, float(np.max(v)))
    ax3.set_ylim(bottom=0)
    ax3.set_title("(c) thickness design, abrupt vs smoothed interfaces")
    ax3.legend(fontsize=7)

    vb = switch_curves["biases"]
    styles = {"fem": ("k", "FEM abrupt")}
    for name in switch_curves:
        if name.startswith("fd_"):
            styles[name] = ("b" if name == "fd_300" else "c", f"FD smooth N={name[3:]}")
    for name, (color, label) in styles.items():
        up, down = switch_curves[name]
        win = switch[name]["bistable_V"]
        tag = f"bistable {win[0]:.3g}–{win[1]:.3g} V" if win else "no bistability"
        ax4.plot(vb, up / 1e3, color + "-", lw=1.2, label=f"{label} up ({tag}, {switch[name]['seconds']:.0f} s)")
        ax4.plot(vb, down / 1e3, color + "--", lw=1.2, label=f"{label} down")
    shown = vb <= ZOOM_BIAS_V  # the bistable range and its surroundings (the curves rise steeply beyond)
    top = max(float(np.max(np.concatenate(switch_curves[k])[np.concatenate([shown, shown])])) for k in styles)
    ax4.set_xlim(0.0, ZOOM_BIAS_V)
    ax4.set_ylim(0.0, 1.15 * top / 1e3)
    ax4.set_xlabel("bias (V)")
    ax4.set_ylabel("J (kA/cm²)")
    ax4.set_title("(d) self-consistent J(V), bistable RTD: one switch")
    ax4.legend(fontsize=7)
    fig.savefig(path, dpi=130)
    return Path(path)
