"""The paper's design (Figs. 4–5; physics.md §6, paper eqs. 21–25).

The loss, for observations (V_i, I*_i) and θ = (h, c, w, E_F):

    L(θ) = mean_i (I(V_i; θ) − I*_i)² / I_scale²  +  w_P·P(θ),       I_scale = max_i |I*_i|
    P(θ) = Σ_j [ relu(x_a − (c_j − w_j/2))² + relu((c_j + w_j/2) − x_b)² ] / (1 nm²)

P penalises boxes that reach into the terminals. The gradient ∇L = Jᵀe comes from
reverse-mode AD through the simulator (physics.md §3.9), the update is Optax AdaBelief
(:func:`~.loop.adabelief`) in the coordinates of :class:`~diffsim_jax.models.box.BoxNormalization`
(physics.md eq. 6.6): h = h₀ + Δh·z_h, c = c₀ + Δc·z_c, w = w₀·exp(z_w/2),
E_F = E_max·sigmoid(logit(E_F₀/E_max) + z_F).
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax.numpy as jnp
import numpy as np
import optax

from .. import validation as val
from ..models.box import BarrierParams, BoxModel, BoxNormalization, DeviceConfig
from ..observables import iv_curve_unchecked, validate_iv_inputs
from .loop import adabelief, design_model
from .losses import iv_loss


@dataclasses.dataclass(frozen=True)
class DesignConfig:
    """Optimiser settings for :func:`design` (physics.md §6).

    Attributes:
      iterations: AdaBelief steps (paper: 1000).
      learning_rate: peak step in normalised coordinates.
      final_lr_fraction: cosine decay from ``learning_rate`` to this fraction of it.
      penalty_weight: weight of the window penalty P (per nm²).
      height_scale_eV, center_scale_nm: Δh, Δc of the normalisation.
    """

    iterations: int = 1000
    learning_rate: float = 0.05
    final_lr_fraction: float = 0.02
    penalty_weight: float = 1.0
    height_scale_eV: float = 0.1
    center_scale_nm: float = 1.0

    def __post_init__(self):
        if not isinstance(self.iterations, int) or isinstance(self.iterations, bool) or self.iterations < 1:
            raise ValueError(f"iterations must be a positive integer, got {self.iterations!r}")
        for name in ("learning_rate", "final_lr_fraction", "height_scale_eV", "center_scale_nm"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be finite and > 0, got {v!r}")
        if not (np.isfinite(self.penalty_weight) and self.penalty_weight >= 0):
            raise ValueError(f"penalty_weight must be finite and >= 0, got {self.penalty_weight!r}")


#: The paper model's optimiser coordinates (physics.md eq. 6.6); defined with the model.
Normalization = BoxNormalization


@dataclasses.dataclass(frozen=True)
class DesignResult:
    """Outcome of :func:`design`.

    Attributes:
      params: the best design found (lowest loss), physical units.
      loss_history: (iterations,) loss at each step (before the update).
      currents: (K,) I(V_i; params) in µA.
      biases, target_currents: the data fitted (V, µA).
      initial_params: the starting design.
      best_iteration: index into ``loss_history`` of ``params``.
      seconds: wall time including compilation.
      config, design_config: the settings used.
      skipped: (iterations,) True where a non-finite step was undone (:func:`optimize`).
    """

    params: BarrierParams
    loss_history: np.ndarray
    currents: np.ndarray
    biases: np.ndarray
    target_currents: np.ndarray
    initial_params: BarrierParams
    best_iteration: int
    seconds: float
    config: DeviceConfig
    design_config: DesignConfig
    skipped: np.ndarray | None = None

    @property
    def rms_percent_of_peak(self) -> float:
        """RMS of (I − I*) as a percentage of the target's peak |I*|."""
        err = self.currents - self.target_currents
        return float(100.0 * np.sqrt(np.mean(err**2)) / np.max(np.abs(self.target_currents)))


def window_penalty(params: BarrierParams, cfg: DeviceConfig):
    """Σ_j relu(x_a − left edge_j)² + relu(right edge_j − x_b)², in nm² (physics.md eq. 6.3)."""
    return BoxModel.from_config(cfg).penalty(params)


def _paper_observable(model_cfg: DeviceConfig):
    """The paper's 0 K I–V of the box model with the quadrature of ``model_cfg`` (physics.md §5)."""

    def observable(_model, params, biases):
        return iv_curve_unchecked(params, biases, model_cfg)

    return observable


def make_loss(biases, target_currents, cfg: DeviceConfig, penalty_weight: float) -> Callable:
    """L(θ) of physics.md §6 for the paper's model, as a function of physical parameters."""
    return iv_loss(BoxModel.from_config(cfg), _paper_observable(cfg), biases, target_currents, penalty_weight)


def default_optimizer(design_config: "DesignConfig") -> optax.GradientTransformation:
    """AdaBelief with a cosine-decayed step (physics.md eqs. 6.7–6.8) for ``design_config``."""
    dcfg = design_config
    return adabelief(dcfg.iterations, dcfg.learning_rate, dcfg.final_lr_fraction).optimizer


def _validate_design_inputs(biases, target_currents, init_params, cfg):
    p0, biases, cfg = validate_iv_inputs(init_params, biases, cfg)
    biases = np.asarray(biases, float)
    val.check_ndim("target_currents", target_currents, (1,))
    target = np.asarray(val.as_float_array("target_currents", target_currents), float)
    if biases.shape != target.shape:
        raise ValueError(
            f"biases and target_currents must have the same length, got {biases.shape[0]} and {target.shape[0]}"
        )
    if biases.size < 1:
        raise ValueError("biases must contain at least one bias")
    if not np.any(target != 0):
        raise ValueError("target_currents are all zero; there is nothing to fit")
    e_max = cfg.energy_window_eV[1]
    if not float(p0.fermi_level) < e_max:
        raise ValueError(
            f"init_params.fermi_level = {float(p0.fermi_level):.4g} eV must lie below the top of "
            f"cfg.energy_window_eV ({e_max} eV)"
        )
    return biases, target, p0, cfg


def design(
    biases,
    target_currents,
    init_params: BarrierParams,
    cfg: DeviceConfig = DeviceConfig(),
    iterations: int = 1000,
    *,
    design_config: DesignConfig | None = None,
    progress: bool | None = None,
) -> DesignResult:
    """Fit barrier parameters and Fermi level to target I–V data (physics.md §6, §8).

    The paper's design: the box model (:class:`~diffsim_jax.models.box.BoxModel`), its 0 K
    I–V, the loss of physics.md eq. 6.2 and AdaBelief (:func:`design_model` with these).

    Args:
      biases: (K,) biases in V (each ≥ 0).
      target_currents: (K,) target currents in µA (not all zero).
      init_params: starting design (the optimiser's z = 0).
      cfg: device discretisation.
      iterations: AdaBelief steps; overrides ``design_config.iterations``.
      design_config: optimiser settings (learning rate, penalty, scales).
      progress: show a tqdm bar; ``None`` shows it when stderr is a terminal.
    Returns:
      :class:`DesignResult` holding the lowest-loss parameters seen. Steps whose loss or
      gradient is not finite are skipped, so the returned parameters are always finite.
    """
    biases, target, p0, cfg = _validate_design_inputs(biases, target_currents, init_params, cfg)
    dcfg = dataclasses.replace(design_config or DesignConfig(), iterations=iterations)
    model = BoxModel.from_config(cfg, dcfg.height_scale_eV, dcfg.center_scale_nm)
    loss = iv_loss(model, _paper_observable(cfg), jnp.asarray(biases), jnp.asarray(target), dcfg.penalty_weight)
    res = design_model(model, loss, p0, optimizer=default_optimizer(dcfg), iterations=dcfg.iterations,
                       progress=progress)
    currents = np.asarray(iv_curve_unchecked(res.params, jnp.asarray(biases), cfg))
    return DesignResult(
        params=res.params,
        loss_history=res.loss_history,
        currents=currents,
        biases=biases,
        target_currents=target,
        initial_params=p0,
        best_iteration=res.best_iteration,
        seconds=res.seconds,
        config=cfg,
        design_config=dcfg,
        skipped=res.skipped,
    )
