"""The figure of the command-line tool: I–V curves beside the designed potential profile.

Imported only when a command is given ``--plot``, so that matplotlib stays out of
``qtbm --help``.
"""

from __future__ import annotations

from typing import IO, Callable

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..models.box import BarrierParams, DeviceConfig, potential


#: Image formats that need nothing beyond matplotlib and Pillow (not pgf: it needs LaTeX).
IMAGE_FORMATS = {"png", "pdf", "svg", "svgz", "eps", "ps", "jpg", "jpeg", "tif", "tiff", "webp"}


def supported_formats() -> set[str]:
    """File extensions (without the dot) that :func:`plot_iv_and_potential` can write."""
    return IMAGE_FORMATS & set(FigureCanvasAgg.get_supported_filetypes())


def plot_design(
    file: IO[bytes],
    fmt: str,
    biases,
    currents,
    profile: Callable,
    params,
    *,
    currents_label: str,
    current_axis: str,
    target=None,
    target_biases=None,
    initial_params=None,
    title: str | None = None,
    band_biases=None,
    down=None,
    extra_panels: Callable | None = None,
) -> None:
    """Write a two-panel figure to ``file`` in format ``fmt`` ("png", "pdf", "svg", …).

    Left: ``currents`` against bias in V as a line with markers (axis label
    ``current_axis``), ``target`` (at ``target_biases``, default ``biases``) as open
    circles. Right: the potential profile ``profile(params, bias) -> (x_nm, U_eV)`` of the
    design at zero bias and at the largest bias (or at ``band_biases``), the emitter Fermi
    level, and ``initial_params`` at zero bias (dashed) when given. ``down``: a down sweep
    drawn beside ``currents`` (the up sweep). ``extra_panels(axes)``: draws a second row
    of two panels.
    """
    biases = np.asarray(biases, float)
    fig = Figure(figsize=(9.0, 3.6 if extra_panels is None else 7.2), layout="constrained")
    axes = fig.subplots(1 if extra_panels is None else 2, 2)
    ax_iv, ax_u = axes if extra_panels is None else axes[0]
    if target is not None:
        tb = biases if target_biases is None else np.asarray(target_biases, float)
        ax_iv.plot(tb, target, "o", mfc="none", color="0.35", label="target")
    ax_iv.plot(biases, currents, ".-", color="C0", label=currents_label + (", up sweep" if down is not None else ""))
    if down is not None:
        ax_iv.plot(biases, down, "x--", color="C3", label="down sweep")
    ax_iv.set_xlabel("bias V (V)")
    ax_iv.set_ylabel(current_axis)
    ax_iv.set_xlim(left=0)
    ax_iv.set_ylim(bottom=min(0.0, ax_iv.get_ylim()[0]))
    ax_iv.legend(frameon=False)
    ax_iv.set_title("I–V")

    v_max = float(np.max(biases)) if biases.size else 0.0
    if initial_params is not None:
        ax_u.plot(*profile(initial_params, 0.0), "--", color="0.55", label="start, V = 0")
    shown = [0.0, v_max] if band_biases is None else [float(v) for v in band_biases]
    for k, v in enumerate(dict.fromkeys(shown)):
        if k and v == 0.0 and band_biases is None:
            continue
        x, u = profile(params, v)
        ax_u.plot(x, u, color=("C1", "C3", "C4", "C5", "C6")[k % 5], alpha=1.0 if k == 0 else 0.75,
                  label=f"design, V = {v:g} V" if v else "design, V = 0")
    ax_u.axhline(float(params.fermi_level), color="C2", lw=1, ls=":", label="Fermi level $E_F$")
    ax_u.set_xlabel("position x (nm)")
    ax_u.set_ylabel("potential U (eV)")
    ax_u.set_xlim(0, float(x[-1]))
    ax_u.legend(frameon=False, fontsize="small")
    ax_u.set_title("potential profile")
    if extra_panels is not None:
        extra_panels(axes[1])
    if title:
        fig.suptitle(title, fontsize="medium")
    fig.savefig(file, format=fmt, dpi=100)


def plot_iv_and_potential(file: IO[bytes], fmt: str, biases, currents, params: BarrierParams, cfg: DeviceConfig,
                          **kwargs) -> None:
    """:func:`plot_design` for the paper's box model: I in µA, U(x) on the grid of ``cfg``."""
    x = np.asarray(cfg.grid_nm())
    plot_design(file, fmt, biases, currents, lambda p, v: (x, np.asarray(potential(p, v, cfg))), params,
                current_axis="current I (µA)", **kwargs)


def plot_stack_iv(file: IO[bytes], fmt: str, biases, currents, model, params, *, profiles=None,
                  show_profiles: bool = False, **kwargs) -> None:
    """:func:`plot_design` for a layer-stack model: J in A/cm², the conduction-band profile U(x).

    ``profiles``: :class:`~diffsim_jax.models.stack_profiles.BiasProfile` list; the band panel
    then shows their conduction bands (the self-consistent ones of a self-consistent run) at
    their biases instead of the model's, and with ``show_profiles`` a second row shows the
    electron densities and T(E) with the resonances marked.
    """
    by_bias = {float(p.bias_V): p for p in profiles or []}

    def profile(p, bias):
        if float(bias) in by_bias and p is params:
            prof = by_bias[float(bias)]
            return prof.x_nm, prof.conduction_band_eV
        inp = model.solver_input(p, bias)
        u = np.asarray(inp.potential_eV)
        return np.linspace(0.0, float(inp.length_nm), u.size), u

    extra = (lambda axes: plot_profile_panels(axes, profiles)) if show_profiles and profiles else None
    plot_design(file, fmt, biases, currents, profile, params, current_axis="current density J (A/cm²)",
                band_biases=list(by_bias) if by_bias else None, extra_panels=extra, **kwargs)


def plot_profile_panels(axes, profiles) -> None:
    """Electron density n(x) (log scale) and T(E) (log scale, resonances marked) at each profile bias."""
    ax_n, ax_t = axes
    for k, p in enumerate(profiles):
        colour = ("C1", "C3", "C4", "C5", "C6")[k % 5]
        if p.density_cm3 is not None:
            ax_n.semilogy(p.x_nm, p.density_cm3, color=colour, label=f"V = {p.bias_V:g} V")
        ax_t.semilogy(p.energies_eV, np.maximum(p.transmission, 1e-30), color=colour, label=f"V = {p.bias_V:g} V")
        for e in p.resonance_energies_eV:
            ax_t.axvline(float(e), color=colour, lw=0.6, ls=":")
    if profiles and profiles[0].density_cm3 is not None:
        doping = np.asarray(profiles[0].doping_cm3, float)
        ax_n.semilogy(profiles[0].x_nm, np.where(doping > 0, doping, np.nan), color="0.5", ls="--", label="doping")
    ax_n.set_xlabel("position x (nm)")
    ax_n.set_ylabel("electron density n (cm⁻³)")
    ax_n.set_title("electron density")
    ax_n.legend(frameon=False, fontsize="small")
    ax_t.set_xlabel("energy E (eV)")
    ax_t.set_ylabel("transmission T(E)")
    ax_t.set_title("transmission (resonances dotted)")
    ax_t.legend(frameon=False, fontsize="small")
