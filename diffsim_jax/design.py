"""Gradient-based inverse I–V design (physics.md §6; paper eqs. 21–25).

Given observations (V_i, I*_i), find θ = (h, c, w, E_F) minimising

    L(θ) = mean_i (I(V_i; θ) − I*_i)² / I_scale²  +  P(θ),       I_scale = max_i |I*_i|

where P penalises boxes that reach into the terminals (outside the window [x_a, x_b]):

    P(θ) = penalty_weight · Σ_j [ relu(x_a − (c_j − w_j/2))² + relu((c_j + w_j/2) − x_b)² ] / (1 nm²).

The gradient ∇L = Jᵀe comes from reverse-mode AD through the simulator (one extra O(N)
solve per transmission), and the update is Optax AdaBelief.

Parameters of very different scale (eV, nm) are optimised in normalised coordinates z
(:class:`Normalization`), with z = 0 at the initial design:

    h = h₀ + Δh·z_h                     (Δh = 0.1 eV)
    c = c₀ + Δc·z_c                     (Δc = 1 nm)
    w = w₀·exp(z_w/2)                   (w > 0 always; dw/dz_w = w₀/2 at the start)
    E_F = E_max·sigmoid(logit(E_F₀/E_max) + z_F)   (0 < E_F < E_max, the top of the tabulated window)
"""

from __future__ import annotations

import dataclasses
import sys
import time
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm.auto import tqdm

from . import validation as val
from .current import iv_curve_unchecked, validate_iv_inputs
from .device import BarrierParams, DeviceConfig

jax.config.update("jax_enable_x64", True)


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


@dataclasses.dataclass(frozen=True)
class Normalization:
    """Map between normalised coordinates z (a BarrierParams pytree, z = 0 at θ₀) and θ."""

    init: BarrierParams
    fermi_max_eV: float
    height_scale_eV: float = 0.1
    center_scale_nm: float = 1.0

    def to_physical(self, z: BarrierParams) -> BarrierParams:
        p0 = self.init
        logit0 = jnp.log(p0.fermi_level / (self.fermi_max_eV - p0.fermi_level))
        return BarrierParams(
            heights=p0.heights + self.height_scale_eV * z.heights,
            centers=p0.centers + self.center_scale_nm * z.centers,
            widths=p0.widths * jnp.exp(0.5 * z.widths),
            fermi_level=self.fermi_max_eV * jax.nn.sigmoid(logit0 + z.fermi_level),
        )

    def zeros(self) -> BarrierParams:
        return jax.tree_util.tree_map(jnp.zeros_like, self.init)


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

    @property
    def rms_percent_of_peak(self) -> float:
        """RMS of (I − I*) as a percentage of the target's peak |I*|."""
        err = self.currents - self.target_currents
        return float(100.0 * np.sqrt(np.mean(err**2)) / np.max(np.abs(self.target_currents)))


def window_penalty(params: BarrierParams, cfg: DeviceConfig):
    """Σ_j relu(x_a − left edge_j)² + relu(right edge_j − x_b)², in nm² (physics.md §4, §6)."""
    xa, xb = cfg.window_nm
    left = params.centers - 0.5 * params.widths
    right = params.centers + 0.5 * params.widths
    return jnp.sum(jax.nn.relu(xa - left) ** 2 + jax.nn.relu(right - xb) ** 2)


def make_loss(biases, target_currents, cfg: DeviceConfig, penalty_weight: float) -> Callable:
    """L(θ) of physics.md §6 as a function of physical parameters (pure, jit/grad-safe)."""
    scale = jnp.max(jnp.abs(target_currents))

    def loss(params: BarrierParams):
        err = iv_curve_unchecked(params, biases, cfg) - target_currents
        return jnp.mean(err**2) / scale**2 + penalty_weight * window_penalty(params, cfg)

    return loss


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
      gradient is not finite are skipped (``optax.apply_if_finite``), so the returned
      parameters are always finite.
    """
    biases, target, p0, cfg = _validate_design_inputs(biases, target_currents, init_params, cfg)
    dcfg = dataclasses.replace(design_config or DesignConfig(), iterations=iterations)
    norm = Normalization(p0, cfg.energy_window_eV[1], dcfg.height_scale_eV, dcfg.center_scale_nm)
    loss_phys = make_loss(jnp.asarray(biases), jnp.asarray(target), cfg, dcfg.penalty_weight)

    def loss_z(z):
        return loss_phys(norm.to_physical(z))

    schedule = optax.cosine_decay_schedule(dcfg.learning_rate, dcfg.iterations, alpha=dcfg.final_lr_fraction)
    opt = optax.apply_if_finite(optax.adabelief(schedule), max_consecutive_errors=dcfg.iterations)

    @jax.jit
    def step(z, state):
        loss, grad = jax.value_and_grad(loss_z)(z)
        updates, state = opt.update(grad, state, z)
        return optax.apply_updates(z, updates), state, loss

    if progress is None:
        progress = sys.stderr.isatty()
    t0 = time.perf_counter()
    z = norm.zeros()
    state = opt.init(z)
    history = np.empty(dcfg.iterations)
    best_loss, best_z, best_it = np.inf, z, 0
    with tqdm(total=dcfg.iterations, disable=not progress, desc="design", unit="it") as bar:
        for it in range(dcfg.iterations):
            z_prev = z
            z, state, loss = step(z, state)
            loss = float(loss)
            history[it] = loss
            if np.isfinite(loss) and loss < best_loss:
                best_loss, best_z, best_it = loss, z_prev, it
            if it % 25 == 0 or it == dcfg.iterations - 1:
                bar.set_postfix(loss=f"{loss:.3e}")
                bar.update(it + 1 - bar.n)
    best = jax.tree_util.tree_map(np.asarray, norm.to_physical(best_z))
    currents = np.asarray(iv_curve_unchecked(best, jnp.asarray(biases), cfg))
    return DesignResult(
        params=best,
        loss_history=history,
        currents=currents,
        biases=biases,
        target_currents=target,
        initial_params=p0,
        best_iteration=best_it,
        seconds=time.perf_counter() - t0,
        config=cfg,
        design_config=dcfg,
    )
