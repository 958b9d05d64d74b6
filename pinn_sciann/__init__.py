"""SciANN physics-informed inverse transmission design (paper section III-A; physics.md §2, §7).

Public API (stable; ``reproduce.py`` uses exactly this)::

    import pinn_sciann as pn
    cfg = pn.PINNConfig.from_profile("quick" | "default" | "paper")  # frozen; PINNConfig() == default
    result = pn.train_inverse(cfg, progress=True)   # PINNResult: .x, .potential, .energies,
        # .target_transmission, .pinn_transmission, .fd_transmission, .loss_history (term -> array),
        # .config, .train_seconds  (and more, see PINNResult)
    pn.save_result(result, directory); result = pn.load_result(directory)   # NPZ + JSON
    metrics = pn.fig2_metrics(result)  # rmse_fd_vs_target, rmse_ramp_vs_target, rmse_pinn_vs_fd, ...
    pn.plot_figures(result, out_dir)   # fig1_potential.png, fig2_transmission.png, fig3_loss.png
    rows = cfg.hyperparameter_rows()   # the paper table's "PINNs" column for this config

Importing this package does not import TensorFlow; :func:`train_inverse` does (through
:mod:`pinn_sciann.compat`). The confirmation and the target use ``diffsim_jax.transmission``,
the project's one discrete QTBM solver.
"""

from .compat import quiet_logging_env

quiet_logging_env()  # before diffsim_jax imports JAX (see pinn_sciann.compat)

from .config import LOSS_TERMS, PROFILES, PINNConfig
from .io import load_result, save_result
from .plotting import FIGURE_NAMES, plot_figures
from .result import PINNResult, fig2_metrics
from .targets import reference_potential, target_transmission


def train_inverse(config=None, progress=False, log=None):
    """Train the inverse problem; see :func:`pinn_sciann.train.train_inverse`."""
    from .train import train_inverse as _train  # noqa: PLC0415  (imports TensorFlow)

    return _train(config, progress=progress, log=log)


__all__ = [
    "FIGURE_NAMES",
    "LOSS_TERMS",
    "PINNConfig",
    "PINNResult",
    "PROFILES",
    "fig2_metrics",
    "load_result",
    "plot_figures",
    "reference_potential",
    "save_result",
    "target_transmission",
    "train_inverse",
]
