"""Free-form (neural-network) potentials inside the differentiable simulator (physics.md §12).

The paper's stated future work: make the internal potential of the simulation a neural
network and train it through the exact solver. The model here implements the device-model
protocol of :mod:`diffsim_jax.models`:

    U(x; ϑ, V) = V_b(x) + W(x)·N_ϑ(x)                                   (physics.md eq. 12.1)
    N_ϑ(x)     = A·MLP_ϑ(γ(x/L)),   γ(ξ) = [sin(2π f ξ), cos(2π f ξ)]   (eq. 12.2, features as eq. 7.3)

* V_b(x) = −V·x/L is the bias ramp of physics.md eq. 4.5 (:func:`~diffsim_jax.device.bias_ramp`).
* W(x) keeps the network out of the terminals, so U_L = 0 and U_R = −V (eq. 12.3):
  ``window="box"`` is the paper model's window s(x − x_a) − s(x − x_b) (eq. 4.4);
  ``window="parabolic"`` is 4ξ(1 − ξ), ξ = x/L, which pins both ends exactly (as the
  PINN's potential, eq. 7.6).
* γ: Gaussian Fourier features of ξ = x/L with fixed frequencies f_k ~ N(0, σ²) (cycles
  per L), drawn once from a seed and stored as a static tuple (Tancik et al. 2020).
* MLP_ϑ: dense layers with ``activation`` and a linear output; A = ``amplitude_eV``.
  :meth:`FreeformModel.init_params` sets the last layer to zero, so U starts as the bare
  ramp.
* The network is a function of the continuous position x, not of grid indices: the same
  parameters give U on any grid (:meth:`FreeformModel.with_grid`), which is how grid
  independence is checked.

Penalty (optional; zero weights by default), evaluated with the exact derivatives of the
network at the grid points, hence independent of the grid spacing (eq. 12.4):

    P(ϑ) = w_s·mean_j (L²·∂²ₓ[W N_ϑ](x_j) / 1 eV)² + w_a·mean_j relu(|W N_ϑ|(x_j) − U_max)² / 1 eV²

The optimiser's coordinates (eq. 12.5) are z = ϑ − ϑ₀ for the network weights (identity)
and E_F = E_max·σ(logit(E_F₀/E_max) + z_F) for the Fermi level (as physics.md eq. 6.6).

Observables for any device model: :func:`current_from_input` is the paper's 0 K current
(physics.md eqs. 5.1–5.3) computed from a :class:`~diffsim_jax.models.SolverInput`, reusing
:func:`~diffsim_jax.current.integration_nodes`, :func:`~diffsim_jax.current.catmull_rom` and
:func:`~diffsim_jax.qtbm.transmission_sweep`; :func:`model_iv_curve` vmaps it over biases
and :func:`iv_observable` wraps it for :func:`diffsim_jax.design.iv_loss`.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm.auto import tqdm

from .constants import CURRENT_UA_PER_EV, DEFAULT_M_EFF
from .current import catmull_rom, integration_nodes
from .device import DeviceConfig, bias_ramp, smooth_step
from .models import SolverInput
from .qtbm import transmission_sweep

WINDOWS = ("box", "parabolic")
ACTIVATIONS = {"tanh": jnp.tanh, "sin": jnp.sin, "gelu": jax.nn.gelu, "softplus": jax.nn.softplus}


# --------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------
@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class FreeformParams:
    """ϑ of the free-form model as a JAX pytree (physics.md §12).

    Attributes:
      layers: tuple of (weights (n_in, n_out), biases (n_out,)) per dense layer; the last
        layer has one output (dimensionless; the model multiplies it by ``amplitude_eV``).
      fermi_level: E_F in eV (used by the I–V observables only).
    """

    layers: tuple
    fermi_level: Any

    def to_dict(self) -> dict:
        """Plain lists (JSON): weights and biases per layer, E_F in eV."""
        return {
            "layers": [{"weights": np.asarray(w).tolist(), "biases": np.asarray(b).tolist()} for w, b in self.layers],
            "fermi_level_eV": float(self.fermi_level),
        }

    @classmethod
    def from_dict(cls, d: dict) -> "FreeformParams":
        """Inverse of :meth:`to_dict`; ``ValueError`` for a missing field or non-finite number."""
        for key in ("layers", "fermi_level_eV"):
            if key not in d:
                raise ValueError(f"free-form parameters are missing field {key!r}")
        layers = []
        for i, layer in enumerate(d["layers"]):
            w = np.asarray(layer["weights"], float)
            b = np.asarray(layer["biases"], float)
            if not (np.all(np.isfinite(w)) and np.all(np.isfinite(b))):
                raise ValueError(f"free-form parameters: layer {i} contains NaN or inf")
            layers.append((jnp.asarray(w), jnp.asarray(b)))
        return cls(tuple(layers), jnp.asarray(float(d["fermi_level_eV"])))

    @property
    def n_weights(self) -> int:
        """Number of trainable network weights (biases included)."""
        return int(sum(np.size(w) + np.size(b) for w, b in self.layers))


def fourier_frequencies(n_features: int, scale: float, seed: int) -> tuple[float, ...]:
    """f_k ~ N(0, scale²), k = 1 … n_features, in cycles per device length (physics.md eq. 7.3)."""
    if not (isinstance(n_features, int) and n_features >= 1):
        raise ValueError(f"n_features must be a positive integer, got {n_features!r}")
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be finite and > 0, got {scale!r}")
    rng = np.random.default_rng(seed)
    return tuple(float(f) for f in rng.normal(0.0, scale, n_features))


# --------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------
@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class FreeformModel:
    """U(x) = −V·x/L + W(x)·N_ϑ(x) with N_ϑ a Fourier-feature MLP (physics.md eqs. 12.1–12.3).

    Attributes (pytree leaves, traceable):
      length_nm: L (nm).
      m_eff: effective mass (m0).
      edge_width_nm: δ of the "box" window's smooth steps (nm).
    Attributes (static, hashable):
      n_points: grid points N (x_j = j·L/(N − 1)).
      frequencies: Fourier frequencies f_k in cycles per L (:func:`fourier_frequencies`).
      hidden: widths of the hidden layers.
      activation: one of ``ACTIVATIONS``.
      amplitude_eV: A, the scale of the network output in eV.
      window: "box" (physics.md eq. 4.4, ``window_frac``) or "parabolic" (4ξ(1 − ξ)).
      window_frac: (x_a/L, x_b/L) of the "box" window.
      fermi_max_eV: E_max of the Fermi-level coordinate (the top of the current's energy table).
      smoothness_weight, amplitude_weight, max_amplitude_eV: w_s, w_a and U_max of eq. 12.4.
    """

    length_nm: Any = 20.0
    m_eff: Any = DEFAULT_M_EFF
    edge_width_nm: Any = 0.2
    n_points: int = dataclasses.field(default=100, metadata=dict(static=True))
    frequencies: tuple = dataclasses.field(default=fourier_frequencies(16, 3.0, 0), metadata=dict(static=True))
    hidden: tuple = dataclasses.field(default=(32, 32), metadata=dict(static=True))
    activation: str = dataclasses.field(default="tanh", metadata=dict(static=True))
    amplitude_eV: float = dataclasses.field(default=0.3, metadata=dict(static=True))
    window: str = dataclasses.field(default="box", metadata=dict(static=True))
    window_frac: tuple = dataclasses.field(default=(0.15, 0.85), metadata=dict(static=True))
    fermi_max_eV: float = dataclasses.field(default=0.2, metadata=dict(static=True))
    smoothness_weight: float = dataclasses.field(default=0.0, metadata=dict(static=True))
    amplitude_weight: float = dataclasses.field(default=0.0, metadata=dict(static=True))
    max_amplitude_eV: float = dataclasses.field(default=1.0, metadata=dict(static=True))

    def __post_init__(self):
        # Static fields only: the leaves may be tracers when JAX rebuilds the model.
        object.__setattr__(self, "frequencies", tuple(float(f) for f in self.frequencies))
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        object.__setattr__(self, "window_frac", tuple(float(f) for f in self.window_frac))
        if not (isinstance(self.n_points, int) and self.n_points >= 3):
            raise ValueError(f"FreeformModel.n_points must be an integer >= 3, got {self.n_points!r}")
        if not self.frequencies or not all(math.isfinite(f) for f in self.frequencies):
            raise ValueError("FreeformModel.frequencies must be a non-empty tuple of finite numbers")
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError(f"FreeformModel.hidden must be a non-empty tuple of positive widths, got {self.hidden!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"FreeformModel.activation must be one of {tuple(ACTIVATIONS)}, got {self.activation!r}")
        if self.window not in WINDOWS:
            raise ValueError(f"FreeformModel.window must be one of {WINDOWS}, got {self.window!r}")
        if not (len(self.window_frac) == 2 and 0.0 <= self.window_frac[0] < self.window_frac[1] <= 1.0):
            raise ValueError(f"FreeformModel.window_frac must satisfy 0 <= x_a < x_b <= 1, got {self.window_frac!r}")
        for name in ("amplitude_eV", "fermi_max_eV", "max_amplitude_eV"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"FreeformModel.{name} must be finite and > 0, got {v!r}")
        for name in ("smoothness_weight", "amplitude_weight"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"FreeformModel.{name} must be finite and >= 0, got {v!r}")

    # ---------------------------------------------------------------- constructors
    @classmethod
    def from_config(cls, cfg: DeviceConfig, **fields) -> "FreeformModel":
        """The free-form model on the device of a :class:`DeviceConfig` (L, m*, δ, N, window, E_max)."""
        base = dict(length_nm=cfg.length_nm, m_eff=cfg.m_eff, edge_width_nm=cfg.edge_width_nm,
                    n_points=cfg.n_points, window="box", window_frac=tuple(cfg.window_frac),
                    fermi_max_eV=cfg.energy_window_eV[1])
        base.update(fields)
        return cls(**base)

    def with_grid(self, n_points: int) -> "FreeformModel":
        """The same potential sampled on another grid (the network is a function of x, not of j)."""
        return dataclasses.replace(self, n_points=n_points)

    def init_params(self, seed: int = 0, fermi_level_eV: float = 0.1) -> FreeformParams:
        """ϑ₀: Glorot-normal hidden layers from ``seed``, zero last layer (U = bare ramp), E_F."""
        if not 0.0 < fermi_level_eV < self.fermi_max_eV:
            raise ValueError(f"fermi_level_eV must lie in (0, {self.fermi_max_eV}) eV, got {fermi_level_eV!r}")
        sizes = (2 * len(self.frequencies),) + self.hidden + (1,)
        keys = jax.random.split(jax.random.PRNGKey(seed), len(sizes) - 1)
        layers = []
        for i, (key, n_in, n_out) in enumerate(zip(keys, sizes[:-1], sizes[1:])):
            if i == len(sizes) - 2:
                w = jnp.zeros((n_in, n_out))
            else:
                w = jax.random.normal(key, (n_in, n_out)) * math.sqrt(2.0 / (n_in + n_out))
            layers.append((w, jnp.zeros(n_out)))
        return FreeformParams(tuple(layers), jnp.asarray(float(fermi_level_eV)))

    def random_params(self, seed: int, scale: float = 1.0, fermi_level_eV: float = 0.1) -> FreeformParams:
        """A random network potential (every layer Glorot-normal × ``scale``): a reachable test target."""
        p = self.init_params(seed, fermi_level_eV)
        key = jax.random.PRNGKey(seed + 10_007)
        w, b = p.layers[-1]
        last = (jax.random.normal(key, w.shape) * scale * math.sqrt(2.0 / (w.shape[0] + 1)), b)
        return FreeformParams(p.layers[:-1] + (last,), p.fermi_level)

    # ---------------------------------------------------------------- the potential
    def grid_nm(self):
        """x_j = j·L/(N − 1) (physics.md §3)."""
        return jnp.linspace(0.0, self.length_nm, self.n_points)

    def window_function(self, x):
        """W(x) (physics.md eq. 12.3): the box window of eq. 4.4 or 4ξ(1 − ξ)."""
        if self.window == "parabolic":
            xi = x / self.length_nm
            return 4.0 * xi * (1.0 - xi)
        xa, xb = self.window_frac[0] * self.length_nm, self.window_frac[1] * self.length_nm
        return smooth_step(x - xa, self.edge_width_nm) - smooth_step(x - xb, self.edge_width_nm)

    def network(self, params: FreeformParams, x):
        """N_ϑ(x) in eV at positions ``x`` (nm, any shape) (physics.md eq. 12.2)."""
        x = jnp.asarray(x)
        xi = jnp.reshape(x, (-1, 1)) / self.length_nm
        f = jnp.asarray(self.frequencies)[None, :]
        h = jnp.concatenate([jnp.sin(2 * jnp.pi * f * xi), jnp.cos(2 * jnp.pi * f * xi)], axis=1)
        act = ACTIVATIONS[self.activation]
        *hidden, (w_out, b_out) = params.layers
        for w, b in hidden:
            h = act(h @ w + b)
        return self.amplitude_eV * jnp.reshape(h @ w_out + b_out, jnp.shape(x))

    def internal_potential(self, params: FreeformParams, x):
        """W(x)·N_ϑ(x) in eV: the potential without the bias ramp."""
        return self.window_function(x) * self.network(params, x)

    def potential_eV(self, params: FreeformParams, bias_V, x):
        """U(x; ϑ, V) = −V·x/L + W(x)·N_ϑ(x) at any positions (physics.md eq. 12.1)."""
        return bias_ramp(x, bias_V, self.length_nm) + self.internal_potential(params, x)

    # ---------------------------------------------------------------- protocol
    def solver_input(self, params: FreeformParams, bias_V) -> SolverInput:
        """U_j on the model's grid (physics.md eq. 12.1), the scalar mass and L."""
        return SolverInput(self.potential_eV(params, bias_V, self.grid_nm()), self.m_eff, self.length_nm)

    def fermi_level_eV(self, params: FreeformParams):
        return params.fermi_level

    def normalization(self, init_params: FreeformParams) -> "FreeformNormalization":
        return FreeformNormalization(init_params, self.fermi_max_eV)

    def penalty(self, params: FreeformParams):
        """P(ϑ) of physics.md eq. 12.4 (0 with the default weights); exact derivatives, grid-independent."""
        if self.smoothness_weight == 0.0 and self.amplitude_weight == 0.0:
            return jnp.asarray(0.0)
        x = self.grid_nm()
        u = lambda s: self.internal_potential(params, s)  # noqa: E731  scalar → scalar
        total = jnp.asarray(0.0)
        if self.smoothness_weight:
            d2 = jax.vmap(jax.grad(jax.grad(u)))(x)
            total = total + self.smoothness_weight * jnp.mean((self.length_nm**2 * d2) ** 2)
        if self.amplitude_weight:
            excess = jax.nn.relu(jnp.abs(u(x)) - self.max_amplitude_eV)
            total = total + self.amplitude_weight * jnp.mean(excess**2)
        return total


@dataclasses.dataclass(frozen=True)
class FreeformNormalization:
    """Optimiser coordinates (physics.md eq. 12.5): ϑ = ϑ₀ + z, E_F = E_max·σ(logit(E_F₀/E_max) + z_F)."""

    init: FreeformParams
    fermi_max_eV: float

    def to_physical(self, z: FreeformParams) -> FreeformParams:
        p0 = self.init
        logit0 = jnp.log(p0.fermi_level / (self.fermi_max_eV - p0.fermi_level))
        layers = jax.tree_util.tree_map(jnp.add, p0.layers, z.layers)
        return FreeformParams(layers, self.fermi_max_eV * jax.nn.sigmoid(logit0 + z.fermi_level))

    def zeros(self) -> FreeformParams:
        return jax.tree_util.tree_map(jnp.zeros_like, self.init)


# --------------------------------------------------------------------------------------
# Observables for any device model
# --------------------------------------------------------------------------------------
def transmission_of(model, params, bias_V, energies_eV):
    """T(E) of ``model`` at one bias (physics.md §3): unvalidated, jit/vmap/grad-safe."""
    si = model.solver_input(params, bias_V)
    return transmission_sweep(si.potential_eV, energies_eV, si.length_nm, si.m_eff)


def current_from_input(si: SolverInput, fermi_level, bias_V, cfg: DeviceConfig):
    """0 K current in µA of a solver input (physics.md eqs. 5.1–5.3) with the quadrature of ``cfg``.

    The same scheme as :func:`diffsim_jax.current.current_unchecked` (``cfg.quadrature``,
    ``n_energy``, ``n_interp``, ``energy_window_eV``), but L and m* come from ``si``, so it
    works for any device model. Unvalidated, jit/vmap/grad-safe.
    """
    nodes = integration_nodes(fermi_level, bias_V, cfg.n_interp)
    if cfg.quadrature == "direct":
        t_nodes = transmission_sweep(si.potential_eV, nodes, si.length_nm, si.m_eff)
    else:
        e0, e1 = cfg.energy_window_eV
        t_grid = transmission_sweep(si.potential_eV, cfg.energy_grid_eV(), si.length_nm, si.m_eff)
        t_nodes = catmull_rom(nodes, e0, (e1 - e0) / (cfg.n_energy - 1), t_grid)
    return CURRENT_UA_PER_EV * jnp.trapezoid(t_nodes, nodes)


def model_current(model, params, bias_V, cfg: DeviceConfig):
    """I(V) in µA of any device model (physics.md eq. 5.1); unvalidated."""
    return current_from_input(model.solver_input(params, bias_V), model.fermi_level_eV(params), bias_V, cfg)


def model_iv_curve(model, params, biases_V, cfg: DeviceConfig):
    """(K,) currents in µA at ``biases_V`` of any device model (physics.md §5); unvalidated."""
    return jax.vmap(lambda v: model_current(model, params, v, cfg))(biases_V)


def iv_observable(cfg: DeviceConfig):
    """``observable(model, params, biases)`` = :func:`model_iv_curve` with ``cfg``'s quadrature,
    for :func:`diffsim_jax.design.iv_loss` and :func:`diffsim_jax.spec_design.spec_loss`."""

    def observable(model, params, biases):
        return model_iv_curve(model, params, biases, cfg)

    return observable


# --------------------------------------------------------------------------------------
# Losses
# --------------------------------------------------------------------------------------
def transmission_loss(model, bias_V, energies_eV, target, penalty_weight: float = 1.0):
    """L(ϑ) = mean_k (T(E_k; ϑ) − T*_k)² + w·P(ϑ) (physics.md eq. 12.6): the PINN's inverse
    problem (§7, target (7.13)) with the exact solver in the loop. Pure and jit/grad-safe."""
    energies_eV = jnp.asarray(energies_eV)
    target = jnp.asarray(target)

    def loss(params):
        err = transmission_of(model, params, bias_V, energies_eV) - target
        return jnp.mean(err**2) + penalty_weight * model.penalty(params)

    return loss


def fixed_fermi_level(loss, fermi_level_eV):
    """``loss`` evaluated with the Fermi level replaced by ``fermi_level_eV`` (eV): designs with
    given contacts, where only the potential is free. Works for any parameter dataclass with
    a ``fermi_level`` field (:class:`FreeformParams`, ``BarrierParams``, stacked or not)."""

    def fixed(params):
        ef = jnp.broadcast_to(jnp.asarray(fermi_level_eV, jnp.float64), jnp.shape(params.fermi_level))
        return loss(dataclasses.replace(params, fermi_level=ef))

    return fixed


# --------------------------------------------------------------------------------------
# Optimiser: AdaBelief, then L-BFGS (both Optax), with monitoring
# --------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class FitConfig:
    """Two-stage Optax optimisation in a model's normalised coordinates (physics.md §12).

    Attributes:
      adabelief_steps: AdaBelief steps (physics.md eq. 6.7) with a cosine-decayed step from
        ``learning_rate`` to ``final_lr_fraction`` of it (eq. 6.8); 0 skips the stage.
      lbfgs_steps: ``optax.lbfgs`` iterations (zoom line search) from the best AdaBelief
        iterate; 0 skips the stage.
      learning_rate, final_lr_fraction: the AdaBelief schedule.
      lbfgs_memory: L-BFGS history length.
      monitor_every: call the monitor every this many iterations (0: only at the end).
      target_loss: stop as soon as the loss is at or below this value (0: never).
    """

    adabelief_steps: int = 500
    lbfgs_steps: int = 1500
    learning_rate: float = 0.01
    final_lr_fraction: float = 0.05
    lbfgs_memory: int = 30
    monitor_every: int = 0
    target_loss: float = 0.0

    def __post_init__(self):
        for name in ("adabelief_steps", "lbfgs_steps", "monitor_every"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ValueError(f"FitConfig.{name} must be an integer >= 0, got {v!r}")
        if self.adabelief_steps + self.lbfgs_steps < 1:
            raise ValueError("FitConfig needs at least one AdaBelief or L-BFGS step")
        if not isinstance(self.lbfgs_memory, int) or self.lbfgs_memory < 1:
            raise ValueError(f"FitConfig.lbfgs_memory must be a positive integer, got {self.lbfgs_memory!r}")
        for name in ("learning_rate", "final_lr_fraction"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"FitConfig.{name} must be finite and > 0, got {v!r}")
        if not (math.isfinite(self.target_loss) and self.target_loss >= 0):
            raise ValueError(f"FitConfig.target_loss must be finite and >= 0, got {self.target_loss!r}")


@dataclasses.dataclass(frozen=True)
class FitResult:
    """Outcome of :func:`fit`.

    Attributes:
      params: the iterate with the lowest finite loss (physical parameters of the model).
      loss_history: loss of each iterate before its update (AdaBelief, then L-BFGS).
      stage_starts: {"adabelief": 0, "lbfgs": index of the first L-BFGS entry}.
      best_iteration: index into ``loss_history`` of ``params`` (−1: the final iterate).
      best_loss: the loss of ``params``.
      seconds: wall time including compilation and monitoring.
      monitor: {"step", "seconds", and each key the monitor returns} as arrays; "seconds"
        counts from the start of :func:`fit`, compilation included.
      skipped: iterations whose loss or update was not finite (their step was undone).
    """

    params: Any
    loss_history: np.ndarray
    stage_starts: dict
    best_iteration: int
    best_loss: float
    seconds: float
    monitor: dict
    skipped: int


def _strong(tree):
    """Cast every leaf to a strongly typed array: a weak-typed leaf whose type changes after
    the first update would make ``jit`` compile the step twice."""
    return jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype=jnp.result_type(a)), tree)


def _all_finite(*trees):
    ok = jnp.asarray(True)
    for leaf in jax.tree_util.tree_leaves(trees):
        ok = ok & jnp.all(jnp.isfinite(leaf))
    return ok


def fit(loss, normalization, config: FitConfig = FitConfig(), *, monitor=None, progress: bool | None = None,
        desc: str = "fit") -> FitResult:
    """Minimise ``loss(params)`` over z (``params = normalization.to_physical(z)``, z = 0 first).

    AdaBelief (``config.adabelief_steps``), then L-BFGS from the best iterate so far
    (``config.lbfgs_steps``). A step whose loss, gradient or update is not finite is
    undone: AdaBelief retries the last good step at half its length, then a quarter, …
    (as :func:`diffsim_jax.design.optimize`); L-BFGS restarts from the best iterate with a
    fresh memory, and stops after 5 such restarts. ``monitor(params) -> {name: float}`` is called
    every ``config.monitor_every`` iterations on the iterate whose loss is recorded; its cost
    counts in the recorded wall time. Returns the lowest-loss iterate.
    """
    def loss_z(z):
        return loss(normalization.to_physical(z))

    if progress is None:
        progress = sys.stderr.isatty()
    t0 = time.perf_counter()
    z = _strong(normalization.zeros())
    history: list[float] = []
    mon: dict[str, list] = {"step": [], "seconds": []}
    best = {"loss": np.inf, "z": z, "it": 0}
    skipped = 0
    stage_starts = {"adabelief": 0, "lbfgs": config.adabelief_steps}
    done = False

    def record(value, z_now):
        nonlocal done
        it = len(history)
        history.append(value)
        if np.isfinite(value) and value < best["loss"]:
            best.update(loss=value, z=z_now, it=it)
        if monitor is not None and config.monitor_every and it % config.monitor_every == 0:
            _monitor(z_now, it)
        if config.target_loss and np.isfinite(value) and value <= config.target_loss:
            done = True

    def _monitor(z_now, it):
        values = monitor(normalization.to_physical(z_now))
        mon["step"].append(it)
        mon["seconds"].append(time.perf_counter() - t0)
        for k, v in values.items():
            mon.setdefault(k, []).append(float(v))

    total = config.adabelief_steps + config.lbfgs_steps
    with tqdm(total=total, disable=not progress, desc=desc, unit="it") as bar:
        if config.adabelief_steps:
            opt = optax.adabelief(optax.cosine_decay_schedule(config.learning_rate, config.adabelief_steps,
                                                              config.final_lr_fraction))

            @jax.jit
            def adabelief_step(z, state):
                value, grad = jax.value_and_grad(loss_z)(z)
                updates, state = opt.update(grad, state, z)
                return optax.apply_updates(z, updates), state, value, _all_finite(value, grad, updates)

            state = _strong(opt.init(z))
            last_step = adabelief_step
            failures = 0
            for it in range(config.adabelief_steps):
                z_new, state_new, value, ok = adabelief_step(z, state)
                record(float(value), z)
                if bool(ok):
                    z_good, z_full = z, z_new
                    z, state, failures = z_new, state_new, 0
                elif it == 0:
                    raise ValueError(
                        f"the loss or its gradient is not finite at the initial design (loss {float(value)})")
                else:  # backtrack: retry the last good step at half, a quarter, … of its length
                    skipped += 1
                    failures += 1
                    z = jax.tree_util.tree_map(lambda g, f: g + 0.5**failures * (f - g), z_good, z_full)
                if it % 25 == 0:
                    bar.set_postfix(loss=f"{float(value):.3e}")
                bar.update(1)
                if done:
                    break
            stage_starts["lbfgs"] = len(history)
        if config.lbfgs_steps and not done:
            z = best["z"] if np.isfinite(best["loss"]) else z
            lbfgs = optax.lbfgs(memory_size=config.lbfgs_memory)
            value_and_grad = optax.value_and_grad_from_state(loss_z)

            @jax.jit
            def lbfgs_step(z, state):
                value, grad = value_and_grad(z, state=state)
                updates, state = lbfgs.update(grad, state, z, value=value, grad=grad, value_fn=loss_z)
                return optax.apply_updates(z, updates), state, value, _all_finite(value, grad, updates)

            state = _strong(lbfgs.init(z))
            last_step = lbfgs_step
            restarts = 0
            for it in range(config.lbfgs_steps):
                z_new, state_new, value, ok = lbfgs_step(z, state)
                record(float(value), z)
                if bool(ok):
                    z, state = z_new, state_new
                else:
                    skipped += 1
                    restarts += 1
                    if restarts > 5:
                        break
                    z, state = best["z"], _strong(lbfgs.init(best["z"]))
                if it % 25 == 0:
                    bar.set_postfix(loss=f"{float(value):.3e}")
                bar.update(1)
                if done:
                    break
    # the iterate after the last update has not been evaluated yet (reuse the compiled step)
    final = float(last_step(z, state)[2])
    best_it = best["it"]
    if np.isfinite(final) and final < best["loss"]:
        best.update(loss=final, z=z)
        best_it = -1
    if monitor is not None:
        _monitor(best["z"], len(history))
    params = jax.tree_util.tree_map(np.asarray, normalization.to_physical(best["z"]))
    return FitResult(params, np.asarray(history), stage_starts, best_it, float(best["loss"]),
                     time.perf_counter() - t0, {k: np.asarray(v) for k, v in mon.items()}, skipped)
