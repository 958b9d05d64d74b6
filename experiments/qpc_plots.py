"""Figure 10: gate-defined 2-D devices — Büttiker's saddle, a split-gate QPC, the gate-array design.

matplotlib's object API only (``matplotlib.figure.Figure``): no pyplot, no backend switch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

TEMPERATURE_COLORS = {0.0: "tab:blue", 1.0: "tab:green", 2.0: "tab:orange", 4.0: "tab:red"}


def plot_fig10(path, energies, exact, rows, curves, sweep, split, field, field_T, plunger, staircase, before,
               after, after_adabelief, cma_after, gradient_runs, cmares) -> Path:
    """Six panels: (a) T(E) of the saddle on each lattice and Büttiker's formula; (b) the
    error against a; (c) split-gate G(V_g) at 0–4 K and in a field; (d) G(V_p) of the
    disordered QPC before and after the designs; (e) loss against wall time; (f) loss
    against simulator calls. ``gradient_runs``: method -> {"times", "losses", "calls"} per step
    (calls: cumulative forward-equivalent loss evaluations, a value and gradient counted at its
    measured cost)."""
    fig = Figure(figsize=(15.0, 8.5), layout="constrained")
    (ax_s, ax_e, ax_g), (ax_d, ax_t, ax_c) = fig.subplots(2, 3)

    hw_y = energies[-1] / 3.0
    ax_s.plot(energies / hw_y, exact, "k-", lw=2.5, label="Büttiker (continuum)")
    for a, t in curves.items():
        ax_s.plot(energies / hw_y, t, marker=".", lw=1, label=f"lattice a = {a:g} nm")
    ax_s.set_xlabel("(E − U₀)/ħω_y")
    ax_s.set_ylabel("T(E)")
    ax_s.set_title("(a) saddle-point constriction")
    ax_s.legend(fontsize=8)

    a = np.array([r["spacing_nm"] for r in rows])
    err = np.array([r["max_error"] for r in rows])
    ax_e.loglog(a, err, "o-", label="max |T − T_Büttiker|")
    ax_e.loglog(a, err[-1] * (a / a[-1]) ** 2, "k:", label="∝ a²")
    ax_e.set_xlabel("lattice spacing a (nm)")
    ax_e.set_ylabel("max error over E")
    ax_e.set_title("(b) convergence to the continuum")
    ax_e.legend(fontsize=8)

    for temp, g in split.items():
        ax_g.plot(sweep * 1e3, g, marker=".", color=TEMPERATURE_COLORS.get(temp), label=f"{temp:g} K")
    ax_g.plot(sweep * 1e3, field, "k--", label=f"0 K, B = {field_T:g} T")
    ax_g.set_xlabel("split-gate voltage V_g (mV)")
    ax_g.set_ylabel("G / (2e²/h)")
    ax_g.set_title("(c) split-gate QPC")
    ax_g.grid(alpha=0.3)
    ax_g.legend(fontsize=8)

    ax_d.plot(plunger * 1e3, staircase, "k-", lw=2.5, label="clean QPC (target)")
    ax_d.plot(plunger * 1e3, before, "o-", color="tab:red", label="disordered, fingers equal")
    ax_d.plot(plunger * 1e3, after, "s-", color="tab:blue", label="disordered, L-BFGS design")
    ax_d.plot(plunger * 1e3, after_adabelief, "x:", color="tab:purple", label="disordered, AdaBelief design")
    ax_d.plot(plunger * 1e3, cma_after, "^--", color="tab:green", label="disordered, CMA-ES design")
    ax_d.set_xlabel("plunger voltage V_p (mV)")
    ax_d.set_ylabel("G / (2e²/h)")
    ax_d.set_title("(d) restoring the staircase")
    ax_d.grid(alpha=0.3)
    ax_d.legend(fontsize=8)

    colors = {"L-BFGS": "tab:blue", "AdaBelief": "tab:purple"}
    for name, run in gradient_runs.items():
        running = np.minimum.accumulate(np.asarray(run["losses"]))
        ax_t.semilogy(run["times"], running, color=colors.get(name), label=f"gradient ({name})")
        ax_c.semilogy(run["calls"], running, color=colors.get(name), label=f"gradient ({name})")
    ax_t.semilogy(cmares["times"], cmares["best"], color="tab:green", label=f"CMA-ES (population {cmares['popsize']})")
    ax_t.set_xlabel("wall time (s, compilation included)")
    ax_t.set_ylabel("best loss so far")
    ax_t.set_title("(e) loss against wall time")
    ax_t.legend(fontsize=8)

    ax_c.semilogy(cmares["evals"], cmares["best"], color="tab:green", label="CMA-ES")
    ax_c.set_xlabel("simulator calls (loss evaluations, forward-equivalent)")
    ax_c.set_ylabel("best loss so far")
    ax_c.set_title("(f) loss against simulator calls")
    ax_c.legend(fontsize=8)

    path = Path(path)
    fig.savefig(path, dpi=110)
    return path
