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
) -> None:
    """Write a two-panel figure to ``file`` in format ``fmt`` ("png", "pdf", "svg", …).

    Left: ``currents`` against bias in V as a line with markers (axis label
    ``current_axis``), ``target`` (at ``target_biases``, default ``biases``) as open
    circles. Right: the potential profile ``profile(params, bias) -> (x_nm, U_eV)`` of the
    design at zero bias and at the largest bias, the emitter Fermi level, and
    ``initial_params`` at zero bias (dashed) when given.
    """
    biases = np.asarray(biases, float)
    fig = Figure(figsize=(9.0, 3.6), layout="constrained")
    ax_iv, ax_u = fig.subplots(1, 2)
    if target is not None:
        tb = biases if target_biases is None else np.asarray(target_biases, float)
        ax_iv.plot(tb, target, "o", mfc="none", color="0.35", label="target")
    ax_iv.plot(biases, currents, ".-", color="C0", label=currents_label)
    ax_iv.set_xlabel("bias V (V)")
    ax_iv.set_ylabel(current_axis)
    ax_iv.set_xlim(left=0)
    ax_iv.set_ylim(bottom=min(0.0, ax_iv.get_ylim()[0]))
    ax_iv.legend(frameon=False)
    ax_iv.set_title("I–V")

    v_max = float(np.max(biases)) if biases.size else 0.0
    if initial_params is not None:
        ax_u.plot(*profile(initial_params, 0.0), "--", color="0.55", label="start, V = 0")
    x, u0 = profile(params, 0.0)
    ax_u.plot(x, u0, color="C1", label="design, V = 0")
    if v_max > 0:
        ax_u.plot(*profile(params, v_max), color="C3", alpha=0.7, label=f"design, V = {v_max:g} V")
    ax_u.axhline(float(params.fermi_level), color="C2", lw=1, ls=":", label="Fermi level $E_F$")
    ax_u.set_xlabel("position x (nm)")
    ax_u.set_ylabel("potential U (eV)")
    ax_u.set_xlim(0, float(x[-1]))
    ax_u.legend(frameon=False, fontsize="small")
    ax_u.set_title("potential profile")
    if title:
        fig.suptitle(title, fontsize="medium")
    fig.savefig(file, format=fmt, dpi=100)


def plot_iv_and_potential(file: IO[bytes], fmt: str, biases, currents, params: BarrierParams, cfg: DeviceConfig,
                          **kwargs) -> None:
    """:func:`plot_design` for the paper's box model: I in µA, U(x) on the grid of ``cfg``."""
    x = np.asarray(cfg.grid_nm())
    plot_design(file, fmt, biases, currents, lambda p, v: (x, np.asarray(potential(p, v, cfg))), params,
                current_axis="current I (µA)", **kwargs)


def plot_stack_iv(file: IO[bytes], fmt: str, biases, currents, model, params, **kwargs) -> None:
    """:func:`plot_design` for a layer-stack model: J in A/cm², the conduction-band profile U(x)."""

    def profile(p, bias):
        inp = model.solver_input(p, bias)
        u = np.asarray(inp.potential_eV)
        return np.linspace(0.0, float(inp.length_nm), u.size), u

    plot_design(file, fmt, biases, currents, profile, params, current_axis="current density J (A/cm²)", **kwargs)
