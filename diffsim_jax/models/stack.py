"""The layer-stack device model: a grown AlGaAs/GaAs RTD in the simulator (physics.md §9, §10).

A :class:`StackModel` maps :class:`StackParams` — a :class:`~diffsim_jax.physics.layers.Stack`
(thicknesses, Al fractions, doping of every layer) and the emitter Fermi level — and a
bias V to the solver input (:class:`~diffsim_jax.models.SolverInput`):

    U(x) = ΔE_c(x(ξ)) + U_V(x),   m(x) = m*(x(ξ))                 (physics.md eq. 9.9)

with the composition profile x(ξ) of :func:`~diffsim_jax.physics.layers.profiles` and the bias drop

    U_V(x) = −V·clip((x − z_a)/(z_b − z_a), 0, 1)      bias_drop = "active" (default)
    U_V(x) = −V·x/L                                    bias_drop = "linear"

where z_a is the end of the first ``contact_layers[0]`` layers (the emitter contact) and
z_b the start of the last ``contact_layers[1]`` layers (the collector contact). Without
self-consistency (physics.md §11) this is the usual first approximation: the doped
contacts are field free and the voltage drops linearly over the undoped active region.

Its observable is the Tsu–Esaki current density J(V) in A/cm² at a temperature
(:func:`current_density_curve`, physics.md §10). Its optimiser coordinates
(:class:`StackNormalization`) keep every design physical: thicknesses stay > 0, Al
fractions inside [0, x_max) of the materials table, and only the layers and quantities
marked free in the model move.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .. import validation as val
from ..physics.statistics import fermi_level_from_doping
from ..physics.constants import HBAR2_OVER_2M0_EV_NM2
from ..physics.materials import ALGAAS
from .base import SolverInput
from ..physics.layers import Stack, check_stack, default_n_points, profiles_unchecked

BIAS_DROPS = ("active", "linear")
#: Free Al fractions stay below (1 − ALLOY_MARGIN)·x_max (float64 sigmoids round to 1).
ALLOY_MARGIN = 1e-6


@jax.tree_util.register_pytree_node_class
@dataclasses.dataclass(frozen=True)
class StackParams:
    """Design parameters of a layer stack: the :class:`Stack` and the emitter Fermi level (eV)."""

    stack: Stack
    fermi_level: Any

    def tree_flatten(self):
        return (self.stack, self.fermi_level), None

    @classmethod
    def tree_unflatten(cls, _aux, children):
        return cls(*children)

    def to_dict(self) -> dict:
        return {**self.stack.to_dict(), "fermi_level_eV": float(self.fermi_level)}


@dataclasses.dataclass(frozen=True)
class StackModel:
    """The layer-stack device model (module docstring). All fields are static (hashable).

    Attributes:
      n_points: grid points N over the whole stack (spacing L/(N−1)); None (default): the
        grid follows the device — :meth:`with_grid` picks N by physics.md eq. 9.13 before
        use (N is static, so it cannot be chosen from traced parameters).
      interface_width_nm: δ of the smooth interfaces (None: half the grid spacing, see
        :mod:`diffsim_jax.physics.layers`).
      materials: the materials table (default Al_xGa_{1−x}As, :data:`~diffsim_jax.physics.materials.ALGAAS`).
      bias_drop: "active" (linear over the layers between the contacts) or "linear" (whole device).
      contact_layers: (emitter, collector) numbers of layers at each end that form the contacts.
      free_thickness, free_al_fraction: per-layer flags of the design variables (None: all
        active layers' thicknesses; the Al fraction of every active layer with x > 0).
      free_fermi_level: whether E_F is a design variable.
      thickness_scale: relative thickness change per unit of z (d = d₀·exp(s·z)).
      fermi_scale_eV: E_F change per unit of z.
    """

    n_points: int | None = None
    interface_width_nm: float | None = None
    materials: Any = ALGAAS
    bias_drop: str = "active"
    contact_layers: tuple = (1, 1)
    free_thickness: tuple | None = None
    free_al_fraction: tuple | None = None
    free_fermi_level: bool = True
    thickness_scale: float = 0.1
    fermi_scale_eV: float = 0.01

    def __post_init__(self):
        if self.n_points is not None and (not isinstance(self.n_points, int) or isinstance(self.n_points, bool)
                                          or self.n_points < 3):
            raise ValueError(f"n_points must be an integer >= 3 or None, got {self.n_points!r}")
        if self.bias_drop not in BIAS_DROPS:
            raise ValueError(f"bias_drop must be one of {BIAS_DROPS}, got {self.bias_drop!r}")
        cl = tuple(self.contact_layers)
        if len(cl) != 2 or not all(isinstance(c, int) and c >= 0 for c in cl):
            raise ValueError(f"contact_layers must be two integers >= 0, got {self.contact_layers!r}")
        object.__setattr__(self, "contact_layers", cl)
        for name in ("free_thickness", "free_al_fraction"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, tuple(bool(v) for v in value))
        if self.interface_width_nm is not None and not self.interface_width_nm > 0:
            raise ValueError(f"interface_width_nm must be > 0 or None, got {self.interface_width_nm!r}")
        for name in ("thickness_scale", "fermi_scale_eV"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")

    # ---------------------------------------------------------------- the model
    def drop_ends_nm(self, stack: Stack):
        """(z_a, z_b): where the bias starts and stops dropping ("active" drop)."""
        edges = jnp.concatenate([jnp.zeros(1), jnp.cumsum(stack.thickness_nm)])
        k = stack.n_layers
        first, last = self.contact_layers
        if first + last >= k:
            raise ValueError(f"contact_layers {self.contact_layers} leave no active layer in a {k}-layer stack")
        return edges[first], edges[k - last]

    def bias_potential(self, stack: Stack, x, bias_V):
        """U_V(x) in eV (module docstring)."""
        if self.bias_drop == "linear":
            return -bias_V * x / stack.length_nm
        za, zb = self.drop_ends_nm(stack)
        return -bias_V * jnp.clip((x - za) / (zb - za), 0.0, 1.0)

    def with_grid(self, params: StackParams, temperature_K: float) -> "StackModel":
        """This model with ``n_points`` set: unchanged if already set, else the default grid of
        the (concrete) stack at ``temperature_K`` (physics.md eq. 9.13)."""
        if self.n_points is not None:
            return self
        n = default_n_points(params.stack, float(params.fermi_level), temperature_K, self.materials)
        return dataclasses.replace(self, n_points=n)

    def solver_input(self, params: StackParams, bias_V) -> SolverInput:
        if self.n_points is None:
            raise ValueError("StackModel.n_points is None: pick the grid first with model.with_grid(params, "
                             "temperature_K) (physics.md eq. 9.13), or give n_points")
        prof = profiles_unchecked(params.stack, self.n_points, self.interface_width_nm, self.materials)
        u = prof.band_edge_eV + self.bias_potential(params.stack, prof.x_nm, bias_V)
        return SolverInput(u, prof.m_eff, params.stack.length_nm)

    def fermi_level_eV(self, params: StackParams):
        return params.fermi_level

    def penalty(self, params: StackParams):
        return jnp.zeros(())

    # ---------------------------------------------------------------- design variables
    def free_masks(self, stack: Stack) -> tuple[np.ndarray, np.ndarray]:
        """(thickness mask, Al-fraction mask) of the design variables, as NumPy bools (static)."""
        k = stack.n_layers
        first, last = self.contact_layers
        active = np.zeros(k, bool)
        active[first:k - last] = True
        thick = active if self.free_thickness is None else np.asarray(self.free_thickness, bool)
        if self.free_al_fraction is None:
            alloy = active & (np.asarray(stack.al_fraction) > 0)
        else:
            alloy = np.asarray(self.free_al_fraction, bool)
        for name, mask in (("free_thickness", thick), ("free_al_fraction", alloy)):
            if mask.shape != (k,):
                raise ValueError(f"{name} must have one flag per layer ({k}), got {mask.shape[0]}")
        x0 = np.asarray(stack.al_fraction)
        if np.any(alloy & ((x0 <= 0) | (x0 >= self.materials.x_max))):
            raise ValueError("a free Al fraction must start strictly inside (0, x_max) of the materials table")
        return thick, alloy

    def normalization(self, init_params: StackParams) -> "StackNormalization":
        thick, alloy = self.free_masks(init_params.stack)
        return StackNormalization(init_params, thick, alloy, self.free_fermi_level, float(self.materials.x_max),
                                  self.thickness_scale, self.fermi_scale_eV)


@dataclasses.dataclass(frozen=True, eq=False)
class StackNormalization:
    """Optimiser coordinates of a stack (physics.md eq. 9.10), z = 0 at ``init``:

        d_k = d_k0·exp(s·z_k)                                 (free thicknesses; d > 0)
        x_k = x_top·sigmoid(logit(x_k0/x_top) + z_k)           (free Al fractions; 0 < x < x_max,
                                                               x_top = (1 − 10⁻⁶)·x_max)
        E_F = E_F0 + ΔE·z_F                                    (if the Fermi level is free)

    Fixed quantities ignore their z.
    """

    init: StackParams
    free_thickness: np.ndarray
    free_al_fraction: np.ndarray
    free_fermi_level: bool
    x_max: float
    thickness_scale: float = 0.1
    fermi_scale_eV: float = 0.01

    def zeros(self) -> StackParams:
        return jax.tree_util.tree_map(jnp.zeros_like, self.init)

    def to_physical(self, z: StackParams) -> StackParams:
        s0 = self.init.stack
        thick = jnp.where(self.free_thickness, s0.thickness_nm * jnp.exp(self.thickness_scale * z.stack.thickness_nm),
                          s0.thickness_nm)
        top = self.x_max * (1.0 - ALLOY_MARGIN)  # x < x_max even where the sigmoid rounds to 1
        x0 = jnp.clip(s0.al_fraction, 1e-12, top * (1 - 1e-12))
        logit0 = jnp.log(x0 / (top - x0))
        alloy = jnp.where(self.free_al_fraction, top * jax.nn.sigmoid(logit0 + z.stack.al_fraction), s0.al_fraction)
        ef = self.init.fermi_level + (self.fermi_scale_eV * z.fermi_level if self.free_fermi_level else 0.0)
        return StackParams(Stack.from_arrays(thick, alloy, s0.doping_cm3), ef)


def contact_fermi_level(stack: Stack, temperature_K: float, materials=ALGAAS) -> float:
    """E_F (eV above the emitter band edge) of the emitter's doping at ``temperature_K``
    (N_D = N_c F_{1/2}((E_F − E_c)/k_BT), physics.md §11), the natural E_F of a stack.

    At 0 K the degenerate limit E_F = ħ²(3π²N_D)^{2/3}/(2m*) is used."""
    doping = float(np.asarray(stack.doping_cm3)[0])
    mass = float(materials.mass(float(np.asarray(stack.al_fraction)[0])))
    if doping <= 0:
        raise ValueError("the emitter (first layer) is undoped: give fermi_level_eV explicitly")
    if temperature_K == 0:
        n_nm3 = doping * 1e-21
        return float(HBAR2_OVER_2M0_EV_NM2 / mass * (3 * np.pi**2 * n_nm3) ** (2 / 3))
    return float(fermi_level_from_doping(doping, mass, temperature_K))


def check_params(params, model: StackModel, name: str = "params") -> StackParams:
    """Validate :class:`StackParams` for ``model`` (ValueError naming the field)."""
    if not isinstance(params, StackParams):
        raise ValueError(f"{name} must be StackParams, got {type(params).__name__}")
    check_stack(params.stack, model.materials, f"{name}.stack")
    val.check_ndim(f"{name}.fermi_level", params.fermi_level, (0,))
    val.as_float_array(f"{name}.fermi_level", params.fermi_level)
    model.drop_ends_nm(params.stack)
    return params
