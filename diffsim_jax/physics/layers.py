"""Layer stacks and their profiles on the simulation grid (physics.md §9).

A heterostructure device is a stack of K layers k = 0 … K−1, left to right, each with a
thickness d_k (nm), an alloy composition x_k (Al fraction) and a donor density N_k
(cm⁻³). The device spans [0, L], L = Σ_k d_k, and the interfaces sit at

    z_k = d_0 + … + d_{k−1},   k = 1 … K−1                                  (physics.md §9)

On the uniform grid x_j = j·L/(N−1) of the solver (physics.md eq. 3.1) the composition
and the doping are sums of smooth steps s(z) = 1/(1 + e^{−z/δ}) (physics.md eq. 4.1, the
``smooth_step`` of :mod:`diffsim_jax.models.box`):

    x(ξ)   = x_0 + Σ_{k=1}^{K−1} (x_k − x_{k−1})·s(ξ − z_k)
    N_D(ξ) = N_0 + Σ_{k=1}^{K−1} (N_k − N_{k−1})·s(ξ − z_k)

and band edge, mass and permittivity follow from the composition through the materials
table (physics.md eq. 9.1): U_band = ΔE_c(x(ξ)), m(ξ) = m*(x(ξ)), ε_r(ξ) = ε_r(x(ξ)).
Because z_1 < z_2 < …, the weights s(ξ − z_k) − s(ξ − z_{k+1}) ≥ 0 sum to one: x(ξ) is a
convex combination of the layer compositions and stays inside the table's range.

Why smooth interfaces, and why the default δ = a/2 (a = L/(N−1), the grid spacing):

* With abrupt interfaces every profile is piecewise constant in the thicknesses: the
  gradient is zero almost everywhere and T jumps whenever an interface crosses a grid
  point. Each layer is effectively rounded to a whole number of cells, an O(a) error.
* With the logistic step, the lattice sum Σ_j s(x_j − z) is, by Poisson summation,
  linear in z up to a ripple of relative size 2φ(2π/a), φ(ω) = πδω/sinh(πδω) (the
  Fourier transform of s'). For δ = a/2 that is 2π²/sinh(π²) ≈ 2·10⁻³ (δ = a/4: 0.14;
  δ = a: 2·10⁻⁷), as measured in tests/physics/test_layers.py: the amount of barrier material on
  the grid follows the thickness smoothly, with no staircase.
* The smearing is a symmetric kernel (second moment π²δ²/3), so it changes T by
  O(δ²) = O(a²), the order of the lattice itself: T of a barrier at a generic position
  converges at second order to the continuum abrupt result (tests/physics/test_qtbm_mass.py),
  and the error constant grows with δ (δ = a gives ~4× the error of δ = a/2).
  The interface is ~2a wide (10–90 %).

:func:`abrupt_profiles` is the δ → 0 limit, each site taking the layer it lies in; it is
meant for validation (not differentiable in the thicknesses).

Everything here is jit/vmap/grad-safe; a :class:`Stack` is a JAX pytree whose leaves are
the three (K,) arrays, so thicknesses, compositions and doping are design variables.
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import validation as val
from .constants import HBAR2_OVER_2M0_EV_NM2, K_B_EV_PER_K
from .convergence import odd_points
from .shapes import smooth_step
from .materials import ALGAAS, check_composition, check_table

#: JSON keys of a layer (units in the names).
LAYER_FIELDS = ("thickness_nm", "al_fraction", "doping_cm3")


# --------------------------------------------------------------------------------------
# Layers and stacks
# --------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Layer:
    """One layer of a stack (physics.md §9).

    Attributes:
      thickness_nm: d > 0, finite (nm).
      al_fraction: alloy composition x, 0 ≤ x ≤ 1; the materials table's tighter range
        [0, x_max) (0.45 for the default AlGaAs) is checked by :class:`Stack` and
        :func:`profiles`, which know the table.
      doping_cm3: donor density N_D ≥ 0, finite (cm⁻³).

    Concrete values are validated on construction (``ValueError`` naming the field) and
    stored as Python floats.
    """

    thickness_nm: float
    al_fraction: float = 0.0
    doping_cm3: float = 0.0

    def __post_init__(self):
        d = _scalar("thickness_nm", self.thickness_nm)
        x = _scalar("al_fraction", self.al_fraction)
        n = _scalar("doping_cm3", self.doping_cm3)
        if not d > 0.0:
            raise ValueError(f"thickness_nm must be > 0, got {val.fmt(self.thickness_nm)}")
        if not 0.0 <= x <= 1.0:
            raise ValueError(f"al_fraction must lie in [0, 1], got {val.fmt(self.al_fraction)}")
        if not n >= 0.0:
            raise ValueError(f"doping_cm3 must be >= 0, got {val.fmt(self.doping_cm3)}")
        object.__setattr__(self, "thickness_nm", d)
        object.__setattr__(self, "al_fraction", x)
        object.__setattr__(self, "doping_cm3", n)

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in LAYER_FIELDS}


def _scalar(name: str, value) -> float:
    if isinstance(value, (bool, str, bytes)) or np.ndim(value) != 0:
        raise ValueError(f"{name} must be a real number, got {value!r}")
    try:
        value = float(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a real number, got {value!r}") from err
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return value


@jax.tree_util.register_pytree_node_class
class Stack:
    """A layer stack as a JAX pytree of three (K,) float64 arrays (physics.md §9).

    ``Stack(layers, materials=ALGAAS)`` builds it from a list of :class:`Layer` (or of
    dicts with the keys of :data:`LAYER_FIELDS`), checking every composition against
    the table's range [0, x_max) (``ValueError`` naming ``layers[k].<field>``). The table
    is used for that check only; it is not stored. ``Stack.from_arrays`` builds one from
    arrays without any check (that is how ``jax.tree_util`` rebuilds it from tracers).

    Attributes (pytree leaves):
      thickness_nm: (K,) layer thicknesses d_k (nm).
      al_fraction: (K,) compositions x_k.
      doping_cm3: (K,) donor densities N_k (cm⁻³).
    """

    __slots__ = ("thickness_nm", "al_fraction", "doping_cm3")

    def __init__(self, layers, materials=ALGAAS):
        if isinstance(layers, (Layer, dict)) or not hasattr(layers, "__iter__"):
            raise ValueError(f"layers must be a list of Layer, got {type(layers).__name__}")
        layers = list(layers)
        if not layers:
            raise ValueError("layers must contain at least one layer")
        check_table(materials)
        checked = []
        for k, layer in enumerate(layers):
            try:
                if isinstance(layer, dict):
                    layer = _layer_from_dict(layer)
                if not isinstance(layer, Layer):
                    raise ValueError(f"must be a Layer, got {type(layer).__name__}")
                check_composition(layer.al_fraction, materials, "al_fraction")
            except ValueError as err:
                raise ValueError(f"layers[{k}]: {err}") from err
            checked.append(layer)
        for name in LAYER_FIELDS:
            object.__setattr__(self, name, jnp.asarray([getattr(layer, name) for layer in checked], jnp.float64))

    @classmethod
    def from_arrays(cls, thickness_nm, al_fraction, doping_cm3) -> "Stack":
        """A stack from three (K,) arrays, stored as given: no conversion, no validation."""
        obj = object.__new__(cls)
        object.__setattr__(obj, "thickness_nm", thickness_nm)
        object.__setattr__(obj, "al_fraction", al_fraction)
        object.__setattr__(obj, "doping_cm3", doping_cm3)
        return obj

    def __setattr__(self, name, value):
        raise dataclasses.FrozenInstanceError(f"Stack is immutable; cannot set {name}")

    # -- pytree ------------------------------------------------------------------------
    def tree_flatten(self):
        return (self.thickness_nm, self.al_fraction, self.doping_cm3), None

    @classmethod
    def tree_unflatten(cls, _aux, children):
        return cls.from_arrays(*children)

    # -- derived quantities ----------------------------------------------------------
    @property
    def n_layers(self) -> int:
        """K, the number of layers (static)."""
        return int(np.shape(self.thickness_nm)[-1])

    @property
    def length_nm(self):
        """L = Σ_k d_k in nm (traceable)."""
        return jnp.sum(self.thickness_nm, axis=-1)

    @property
    def interfaces_nm(self):
        """(K−1,) interface positions z_k = d_0 + … + d_{k−1}, k = 1 … K−1, in nm (traceable)."""
        return jnp.cumsum(self.thickness_nm, axis=-1)[..., :-1]

    @property
    def layers(self) -> list:
        """The layers as a list of :class:`Layer` (concrete stacks only)."""
        arrays = [np.asarray(getattr(self, name), float) for name in LAYER_FIELDS]
        return [Layer(*(float(a[k]) for a in arrays)) for k in range(self.n_layers)]

    # -- JSON ------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """``{"layers": [{"thickness_nm": …, "al_fraction": …, "doping_cm3": …}, …]}``."""
        return {"layers": [layer.to_dict() for layer in self.layers]}

    @classmethod
    def from_dict(cls, d, materials=ALGAAS) -> "Stack":
        """Inverse of :meth:`to_dict`, validated (``ValueError`` naming the layer and field)."""
        if not isinstance(d, dict) or "layers" not in d:
            raise ValueError('a stack must be a JSON object with a "layers" list')
        unknown = sorted(set(d) - {"layers"})
        if unknown:
            raise ValueError(f"stack has unknown field(s) {', '.join(unknown)}")
        if not isinstance(d["layers"], list):
            raise ValueError('stack "layers" must be a list of layer objects')
        return cls(d["layers"], materials)

    def __repr__(self):
        if not val.is_concrete((self.thickness_nm, self.al_fraction, self.doping_cm3)):
            return f"Stack(<traced>, n_layers={self.n_layers})"
        try:
            return f"Stack({self.layers!r})"
        except ValueError:
            return "Stack.from_arrays(" + ", ".join(f"{n}={getattr(self, n)!r}" for n in LAYER_FIELDS) + ")"


#: Al fraction above which a layer counts as a barrier (the emitter side ends in the first one).
BARRIER_THRESHOLD = 0.02


def first_barrier_centre_nm(stack: Stack, threshold: float = BARRIER_THRESHOLD):
    """Centre (nm) of the first layer with Al fraction > ``threshold``; 0 if there is none.

    Where the emitter side of a stack ends (physics.md §11.1: the notch states left of it are
    filled from the emitter). Traceable in the stack's arrays.
    """
    is_barrier = stack.al_fraction > threshold
    k = jnp.argmax(is_barrier)
    starts = jnp.concatenate([jnp.zeros(1), jnp.cumsum(stack.thickness_nm)[:-1]])
    return jnp.where(jnp.any(is_barrier), starts[k] + 0.5 * stack.thickness_nm[k], 0.0)


def _layer_from_dict(d: dict) -> Layer:
    unknown = sorted(set(d) - set(LAYER_FIELDS))
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(LAYER_FIELDS)}")
    # JSON input: every field is required (a missing al_fraction must not silently become GaAs)
    val.require_fields("the layer", d, LAYER_FIELDS, "every layer needs " + ", ".join(LAYER_FIELDS))
    return Layer(**d)


def check_stack(stack, materials=ALGAAS, name: str = "stack") -> Stack:
    """Validate the arrays of a :class:`Stack` (concrete values only; shapes always).

    Raises ``ValueError`` naming ``<name>.<field>``: the three arrays must be 1-D of one
    common length K ≥ 1, thicknesses finite and > 0, doping finite and ≥ 0, compositions
    in [0, x_max) of ``materials``.
    """
    if not isinstance(stack, Stack):
        raise ValueError(f"{name} must be a Stack, got {type(stack).__name__}")
    sizes = {}
    for field in LAYER_FIELDS:
        value = getattr(stack, field)
        val.check_ndim(f"{name}.{field}", value, (1,))
        sizes[f"{name}.{field}"] = np.shape(value)[0]
    if len(set(sizes.values())) != 1 or 0 in sizes.values():
        raise ValueError(
            "the arrays of a stack must have one common non-zero length (one entry per layer), got "
            + ", ".join(f"{k}: {v}" for k, v in sizes.items())
        )
    val.check_positive(f"{name}.thickness_nm", stack.thickness_nm)
    val.check_nonnegative(f"{name}.doping_cm3", stack.doping_cm3)
    check_composition(stack.al_fraction, materials, f"{name}.al_fraction")
    return stack


# --------------------------------------------------------------------------------------
# Profiles on the grid
# --------------------------------------------------------------------------------------
class Profiles(NamedTuple):
    """Material profiles of a stack on the grid x_j = j·L/(N−1) (physics.md §9).

    Attributes:
      x_nm: (N,) grid positions (nm).
      band_edge_eV: (N,) conduction-band offset ΔE_c (eV; 0 for GaAs), no bias.
      m_eff: (N,) effective masses (m0), the per-site masses of physics.md eq. 9.3.
      eps_r: (N,) relative permittivity.
      doping_cm3: (N,) donor density (cm⁻³).
      al_fraction: (N,) composition.
    """

    x_nm: jax.Array
    band_edge_eV: jax.Array
    m_eff: jax.Array
    eps_r: jax.Array
    doping_cm3: jax.Array
    al_fraction: jax.Array


def grid_nm(stack: Stack, n_points: int):
    """x_j = j·L/(N−1), j = 0 … N−1, L = stack.length_nm (physics.md eq. 3.1); traceable in L."""
    return jnp.arange(n_points, dtype=jnp.float64) * (stack.length_nm / (n_points - 1))


#: The default grid keeps the lattice's relative wavenumber error (q·a)²/24 below this
#: for the largest wavenumber or decay constant q of the device (physics.md eq. 9.13).
GRID_WAVENUMBER_ERROR = 5e-5
#: … and puts at least this many cells in the thinnest layer …
GRID_CELLS_PER_LAYER = 8
#: … and never spaces the points further apart than this (nm).
GRID_MAX_SPACING_NM = 0.25
#: Electrons above E_F + SUPPLY_WINDOW_KT·k_BT carry < e⁻¹⁰ of the supply (physics.md eq. 9.13).
SUPPLY_WINDOW_KT = 10.0


def largest_wavenumber_per_nm(stack: Stack, fermi_level_eV: float, temperature_K: float, materials=ALGAAS) -> float:
    """q_max of physics.md eq. 9.13 (concrete stacks only), in 1/nm.

    The largest of the decay constants κ = √(m_k ΔE_c,k/C₀) under each layer's band edge at
    the emitter band edge (E = 0, the deepest tunnelling) and the wavenumbers
    k = √(m_k (E_top − ΔE_c,k)/C₀) at the top of the supply, E_top = max(E_F, 0) + 10 k_BT.
    """
    x = np.asarray(stack.al_fraction, float)
    mass = np.asarray(materials.mass(x), float)
    edge = np.asarray(materials.band_edge_eV(x), float)
    e_top = max(float(fermi_level_eV), 0.0) + SUPPLY_WINDOW_KT * K_B_EV_PER_K * float(temperature_K)
    kinetic = np.maximum(np.abs(edge), np.abs(e_top - edge))
    return float(np.sqrt(np.max(mass * kinetic) / HBAR2_OVER_2M0_EV_NM2))


def default_spacing_nm(stack: Stack, fermi_level_eV: float, temperature_K: float, materials=ALGAAS) -> float:
    """The default grid spacing (physics.md eq. 9.13), in nm, of a concrete stack:

        a = min( √(24·ε_q)/q_max,  d_min/8,  0.25 nm ),   ε_q = 5·10⁻⁵,

    q_max from :func:`largest_wavenumber_per_nm`, d_min the thinnest layer. The spatial error
    this leaves is then measured (:mod:`.convergence`), not assumed.
    """
    check_stack(stack, materials)
    q = largest_wavenumber_per_nm(stack, fermi_level_eV, temperature_K, materials)
    a = min(math.sqrt(24.0 * GRID_WAVENUMBER_ERROR) / q if q > 0 else math.inf,
            float(np.min(np.asarray(stack.thickness_nm))) / GRID_CELLS_PER_LAYER, GRID_MAX_SPACING_NM)
    return a


def default_n_points(stack: Stack, fermi_level_eV: float, temperature_K: float, materials=ALGAAS) -> int:
    """N of the default grid: the odd N whose spacing L/(N − 1) is the largest ≤ :func:`default_spacing_nm`."""
    return odd_points(float(stack.length_nm), default_spacing_nm(stack, fermi_level_eV, temperature_K, materials))


def default_interface_width_nm(stack: Stack, n_points: int):
    """δ = a/2 with a = L/(N−1): the default smooth-step width (module docstring)."""
    return 0.5 * stack.length_nm / (n_points - 1)


def _from_composition(x_nm, comp, doping, materials) -> Profiles:
    return Profiles(
        x_nm=x_nm,
        band_edge_eV=materials.band_edge_eV(comp),
        m_eff=materials.mass(comp),
        eps_r=materials.eps_r(comp),
        doping_cm3=doping,
        al_fraction=comp,
    )


def profiles_unchecked(stack: Stack, n_points: int, interface_width_nm=None, materials=ALGAAS) -> Profiles:
    """:func:`profiles` without validation (for use inside jit/grad by other modules)."""
    x = grid_nm(stack, n_points)
    width = default_interface_width_nm(stack, n_points) if interface_width_nm is None else interface_width_nm
    steps = smooth_step(x[:, None] - stack.interfaces_nm[None, :], width)  # (N, K−1), s(x_j − z_k)
    comp = stack.al_fraction[0] + steps @ jnp.diff(stack.al_fraction)
    doping = stack.doping_cm3[0] + steps @ jnp.diff(stack.doping_cm3)
    return _from_composition(x, comp, doping, materials)


def _check_common(stack, n_points, materials):
    check_table(materials)
    check_stack(stack, materials)
    if isinstance(n_points, bool) or not isinstance(n_points, (int, np.integer)) or n_points < 3:
        raise ValueError(f"n_points must be an integer >= 3, got {n_points!r}")
    return int(n_points)


def profiles(stack: Stack, n_points: int, interface_width_nm=None, materials=ALGAAS) -> Profiles:
    """Profiles of ``stack`` on N = ``n_points`` grid points with smooth interfaces (physics.md §9).

    x(ξ) = x_0 + Σ_k (x_k − x_{k−1})·s(ξ − z_k), s(z) = 1/(1 + e^{−z/δ}) (physics.md
    eq. 4.1), likewise N_D(ξ); then ΔE_c, m*, ε_r = table(x(ξ)) (physics.md eq. 9.1).
    O(N·K); jit/vmap/grad-safe in the stack's arrays and in δ.

    Args:
      stack: the :class:`Stack`.
      n_points: N ≥ 3 (static).
      interface_width_nm: δ in nm (> 0); default a/2 = L/(2(N−1)), which keeps the
        profiles smooth functions of the thicknesses (module docstring).
      materials: the materials table (default :data:`~diffsim_jax.physics.materials.ALGAAS`).
    Returns:
      :class:`Profiles` of (N,) arrays.
    """
    n_points = _check_common(stack, n_points, materials)
    if interface_width_nm is not None:
        val.check_ndim("interface_width_nm", interface_width_nm, (0,))
        if val.is_concrete(interface_width_nm):
            val.check_positive("interface_width_nm", interface_width_nm)
    return profiles_unchecked(stack, n_points, interface_width_nm, materials)


def abrupt_profiles(stack: Stack, n_points: int, materials=ALGAAS) -> Profiles:
    """Profiles with abrupt interfaces (the δ → 0 limit of :func:`profiles`; physics.md §9).

    Site j takes the values of the layer it lies in, z_k ≤ x_j < z_{k+1} (a site exactly
    on an interface, up to rounding, goes to the layer on its right; the last site to the
    last layer). Piecewise constant in the thicknesses — for validation, not design.
    With the bond masses (m_j + m_{j+1})/2 of physics.md eq. 9.3 the discrete interface
    then sits at the midpoint of the bond it cuts.
    """
    n_points = _check_common(stack, n_points, materials)
    x = grid_nm(stack, n_points)
    layer = jnp.sum(x[:, None] >= stack.interfaces_nm[None, :], axis=1)  # index k of the layer holding x_j
    return _from_composition(x, stack.al_fraction[layer], stack.doping_cm3[layer], materials)


def abrupt_double_barrier(bias_V, barrier_nm=3.0, al_fraction=0.3, well_nm=5.0, lead_nm=10.0, spacing_nm=0.183,
                          materials=ALGAAS):
    """A validation device: GaAs lead / AlₓGa₁₋ₓAs barrier / GaAs well / barrier / GaAs lead
    with abrupt interfaces (:func:`abrupt_profiles`) and the bias dropped linearly over the
    whole length, U = U_band − V·x/L (physics.md §9, §10). N = round(L/spacing) + 1.

    Returns:
      (U (N,) in eV, L in nm, m (N,) in m0) as NumPy arrays — the arguments of
      ``transmission`` and ``current_density``. The defaults give N = 170.
    """
    stack = Stack([Layer(lead_nm), Layer(barrier_nm, al_fraction), Layer(well_nm), Layer(barrier_nm, al_fraction),
                   Layer(lead_nm)])
    length = float(stack.length_nm)
    prof = abrupt_profiles(stack, int(round(length / spacing_nm)) + 1, materials)
    x = np.asarray(prof.x_nm)
    return np.asarray(prof.band_edge_eV) - bias_V * x / length, length, np.asarray(prof.m_eff)
