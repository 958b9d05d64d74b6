"""Free-form (neural-network) potentials inside the differentiable simulator (physics.md §12).

The paper's stated future work: make the internal potential of the simulation a neural
network and train it through the exact solver. The model here implements the device-model
protocol of :mod:`diffsim_jax.models`:

    U(x; ϑ, V) = V_b(x) + W(x)·N_ϑ(x)                                   (physics.md eq. 12.1)
    N_ϑ(x)     = A·MLP_ϑ(γ(x/L)),   γ(ξ) = [sin(2π f ξ), cos(2π f ξ)]   (eq. 12.2, features as eq. 7.3)

* V_b(x) = −V·x/L is the bias ramp of physics.md eq. 4.5 (:func:`~diffsim_jax.models.box.bias_ramp`).
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

Observables of the model (0 K current, I–V) are in :mod:`diffsim_jax.observables`, its
losses in :mod:`diffsim_jax.design.losses` and its optimiser is :func:`diffsim_jax.design.fit`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..physics.constants import DEFAULT_M_EFF
from ..physics.shapes import bias_ramp, smooth_step
from .base import SolverInput
from .box import DeviceConfig

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
