"""Figures 4 and 5 of the paper: double barriers and I–V curves.

Uses matplotlib's object API (``matplotlib.figure.Figure``) only: no pyplot state and no
global backend switch, so importing or calling this never changes a user's matplotlib setup.
"""

from __future__ import annotations

from pathlib import Path

import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

from diffsim_jax.models.box import BarrierParams, BoxModel, DeviceConfig

STYLES = {
    "original": dict(color="tab:blue", ls="-", lw=2.0),
    "target": dict(color="tab:orange", ls="none", marker="o", ms=5),
    "designed": dict(color="tab:green", ls="--", lw=2.0),
}


def barrier_profile(params: BarrierParams, cfg: DeviceConfig, n: int = 800):
    """(x in nm, W(x)·B(x; θ) in eV) on a fine grid: the internal barrier without bias (physics.md eq. 4.4)."""
    x = jnp.linspace(0.0, cfg.length_nm, n)
    return np.asarray(x), np.asarray(BoxModel.from_config(cfg).barrier_potential(params, x))


def plot_fig4(devices: dict[str, BarrierParams], cfg: DeviceConfig, path) -> Path:
    """Fig. 4: the internal double barrier W·B of each device (label → params), at zero bias."""
    fig = Figure(figsize=(5.5, 3.8))
    ax = fig.subplots()
    top = 0.0
    for label, params in devices.items():
        x, u = barrier_profile(params, cfg)
        top = max(top, float(np.max(u)))
        style = dict(STYLES.get(label, {}))
        if style.get("ls") == "none":  # markers: thin them out
            style.update(ls=":", lw=1.5, marker=None)
        ax.plot(x, u, label=f"{label} (E_F = {float(params.fermi_level):.3f} eV)", **style)
    xa, xb = cfg.window_nm
    ax.axvspan(0, xa, color="0.9", zorder=0)
    ax.axvspan(xb, cfg.length_nm, color="0.9", zorder=0, label="terminals (outside window)")
    ax.set_xlabel("position x (nm)")
    ax.set_ylabel("barrier potential W(x)·B(x) (eV)")
    ax.set_xlim(0, cfg.length_nm)
    ax.set_ylim(top=1.5 * top)  # headroom for the legend
    ax.set_title("Fig. 4 — internal double barrier")
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    return _save(fig, path)


def plot_fig5(biases_V, curves: dict[str, np.ndarray], path, annotations: dict[str, str] | None = None) -> Path:
    """Fig. 5: I–V curves (label → currents in µA at ``biases_V``)."""
    fig = Figure(figsize=(5.5, 3.8))
    ax = fig.subplots()
    for label, currents in curves.items():
        text = f"{label}" + (f" ({annotations[label]})" if annotations and label in annotations else "")
        ax.plot(biases_V, currents, label=text, **STYLES.get(label, {}))
    ax.set_xlabel("bias V (V)")
    ax.set_ylabel("current I (µA)")
    ax.set_title("Fig. 5 — current–voltage characteristics (0 K)")
    ax.set_xlim(0, float(np.max(biases_V)))
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def plot_design_loss(loss_history, path) -> Path:
    """Loss of the I–V design against iteration (log scale)."""
    fig = Figure(figsize=(5.0, 3.4))
    ax = fig.subplots()
    ax.semilogy(np.arange(1, len(loss_history) + 1), loss_history, color="tab:green")
    ax.set_xlabel("AdaBelief iteration")
    ax.set_ylabel("loss L(θ)")
    ax.set_title("I–V design loss")
    fig.tight_layout()
    return _save(fig, path)


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    return path
