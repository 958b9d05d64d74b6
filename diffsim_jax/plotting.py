"""Figures 4 and 5 of the paper: double barriers and I–V curves (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .device import BarrierParams, DeviceConfig, barrier, window  # noqa: E402

STYLES = {
    "original": dict(color="tab:blue", ls="-", lw=2.0),
    "target": dict(color="tab:orange", ls="none", marker="o", ms=5),
    "designed": dict(color="tab:green", ls="--", lw=2.0),
}


def barrier_profile(params: BarrierParams, cfg: DeviceConfig, n: int = 800):
    """(x in nm, W(x)·B(x; θ) in eV) on a fine grid: the internal barrier without bias (physics.md §4)."""
    import jax.numpy as jnp

    x = jnp.linspace(0.0, cfg.length_nm, n)
    return np.asarray(x), np.asarray(window(x, cfg) * barrier(x, params, cfg.edge_width_nm))


def plot_fig4(devices: dict[str, BarrierParams], cfg: DeviceConfig, path) -> Path:
    """Fig. 4: the internal double barrier W·B of each device (label → params), at zero bias."""
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
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
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
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
    fig, ax = plt.subplots(figsize=(5.0, 3.4))
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
    plt.close(fig)
    return path
