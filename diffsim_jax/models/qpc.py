"""Gate-defined two-dimensional devices: quantum point contacts and gate arrays (physics.md §13.10).

The device is the (N_x, N_y) lattice of physics.md §13 (sites x_i = i·a, y_j = (j+1)·a,
hard walls at y = 0 and y = W = (N_y+1)·a). Its potential energy is built from

* surface gates: rectangles [x₁, x₂] × [y₁, y₂] at voltages V_g on the surface, a depth d
  above the 2DEG, each giving the closed-form potential of Davies, Larkin & Sukhorukov
  (physics.md eqs. 13.20–13.21); the electron's energy is U = −e·φ (eq. 13.22);
* a uniform background (eV);
* an optional smooth random disorder potential (eq. 13.23): Gaussian-filtered white noise
  from a seed, with a stated correlation length and RMS amplitude.

The 2DEG's Fermi energy follows from its sheet density, E_F = 2πC₀n_s/m* (eq. 13.24).

:class:`GatedDevice` holds the static settings (lattice, depth, mass, density, disorder)
and is hashable; :class:`GateParams` (gate voltages, gate edges, B) is a pytree and every
observable is differentiable with respect to all of it. The saddle-point constriction of
Büttiker and its analytic transmission (eqs. 13.25–13.26) are here too, as the model
against which the lattice is checked.
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from scipy import ndimage

from .. import validation as val
from ..physics.constants import DEFAULT_M_EFF, HBAR2_OVER_2M0_EV_NM2, kinetic_prefactor
from ..physics.transport2d import conductance_2d, magnetic_length_nm, transmission_2d

#: 1 cm⁻² in nm⁻² (sheet densities are given in cm⁻², physics.md eq. 13.24).
_NM2_PER_CM2 = 1e-14


# --------------------------------------------------------------------------------------
# Closed forms (physics.md eqs. 13.20–13.26)
# --------------------------------------------------------------------------------------
def _corner(u, v, depth_nm):
    """g(u, v) = arctan(uv/(dR)), R = √(u²+v²+d²) (eq. 13.21; odd in u and in v)."""
    r = jnp.sqrt(u * u + v * v + depth_nm * depth_nm)
    return jnp.arctan(u * v / (depth_nm * r))


def gate_potential_fraction(x_nm, y_nm, edges_nm, depth_nm):
    """φ/V_g of one rectangular surface gate at (x, y) in the 2DEG, depth ``depth_nm`` (eq. 13.20).

    ``edges_nm`` = (x₁, x₂, y₁, y₂) with x₁ < x₂, y₁ < y₂. Dimensionless; tends to 1 deep
    under a large gate as d → 0, and to 0 far from it (as A·d/(2πr³) for a small gate of
    area A). Pure and differentiable in the positions, the edges and the depth;
    broadcasts over ``x_nm`` and ``y_nm``.
    """
    x1, x2, y1, y2 = (edges_nm[..., k] for k in range(4))
    return (
        _corner(x_nm - x1, y_nm - y1, depth_nm)
        + _corner(x_nm - x1, y2 - y_nm, depth_nm)
        + _corner(x2 - x_nm, y_nm - y1, depth_nm)
        + _corner(x2 - x_nm, y2 - y_nm, depth_nm)
    ) / (2.0 * jnp.pi)


def fermi_energy_eV(sheet_density_cm2, m_eff=DEFAULT_M_EFF):
    """E_F = 2πC₀·n_s/m* (eV) of a spin-degenerate 2DEG of sheet density n_s (cm⁻²) (eq. 13.24)."""
    val.check_positive("sheet_density_cm2", sheet_density_cm2)
    val.check_positive("m_eff", m_eff)
    return 2.0 * math.pi * HBAR2_OVER_2M0_EV_NM2 * sheet_density_cm2 * _NM2_PER_CM2 / m_eff


def smooth_disorder(shape, spacing_nm, correlation_nm, rms_eV, seed):
    """A smooth random potential on the lattice (eV), zero mean and RMS ``rms_eV`` (eq. 13.23).

    White noise from ``numpy.random.default_rng(seed)`` on the lattice padded by 4ℓ on every
    side, filtered with a Gaussian of width σ = ℓ/√2 (so that the correlation function is
    ∝ exp(−r²/(2ℓ²)), ℓ = ``correlation_nm``), cut to ``shape``, shifted to zero mean and
    scaled to RMS ``rms_eV`` over the device. The same seed gives the same potential.
    """
    n_x, n_y = (int(n) for n in shape)
    val.check_positive("spacing_nm", spacing_nm)
    val.check_positive("correlation_nm", correlation_nm)
    val.check_nonnegative("rms_eV", rms_eV)
    sigma = correlation_nm / math.sqrt(2.0) / spacing_nm  # in sites
    pad = int(math.ceil(4.0 * sigma)) + 1
    noise = np.random.default_rng(seed).standard_normal((n_x + 2 * pad, n_y + 2 * pad))
    field = ndimage.gaussian_filter(noise, sigma, mode="wrap")[pad : pad + n_x, pad : pad + n_y]
    field = field - field.mean()
    return rms_eV * field / np.sqrt(np.mean(field**2))


def saddle_potential(x_nm, y_nm, saddle_eV, hw_x_eV, hw_y_eV, flat_nm, m_eff=DEFAULT_M_EFF):
    """Büttiker's saddle U₀ − ½m*ω_x²x² + ½m*ω_y²y² about (0, 0), flattened beyond |x| = 2x_p (eq. 13.25).

    The inverted parabola holds for |x| ≤ x_p = ``flat_nm``; for x_p < |x| < 2x_p it continues
    as −½m*ω_x²(2x_p² − (2x_p − |x|)²), which matches value and slope at x_p and reaches
    zero slope at 2x_p; beyond, the potential is constant (so the leads are uniform and the
    only deviations from the infinite parabola are far below the energies studied).
    ½m*ω² = (ħω)²/(4C), C = C₀/m*. Energies in eV, lengths in nm.
    """
    c = kinetic_prefactor(m_eff)
    kx = hw_x_eV**2 / (4.0 * c)
    ky = hw_y_eV**2 / (4.0 * c)
    ax = jnp.abs(x_nm)
    ux = jnp.where(
        ax < flat_nm,
        -kx * ax**2,
        jnp.where(ax < 2.0 * flat_nm, -kx * (2.0 * flat_nm**2 - (2.0 * flat_nm - ax) ** 2), -2.0 * kx * flat_nm**2),
    )
    return saddle_eV + ux + ky * y_nm**2


def buttiker_transmission(energies_eV, saddle_eV, hw_x_eV, hw_y_eV, n_modes: int = 50):
    """T(E) = Σ_n 1/(1 + exp(−2π(E − U₀ − ħω_y(n+½))/ħω_x)) (Büttiker 1990; eq. 13.26)."""
    e = jnp.asarray(energies_eV)[..., None]
    n = jnp.arange(n_modes)
    return jnp.sum(jax.nn.sigmoid(2.0 * jnp.pi * (e - saddle_eV - hw_y_eV * (n + 0.5)) / hw_x_eV), axis=-1)


# --------------------------------------------------------------------------------------
# The device model
# --------------------------------------------------------------------------------------
class GateParams(NamedTuple):
    """Differentiable parameters of a gated device (a pytree).

    Attributes:
      voltages_V: (n_g,) gate voltages (V); negative voltages deplete the 2DEG.
      edges_nm: (n_g, 4) gate rectangles (x₁, x₂, y₁, y₂) in the device's coordinates (nm):
        x from 0 to (N_x−1)·a, y from 0 to W = (N_y+1)·a.
      magnetic_field_T: perpendicular field B (T), scalar.
    """

    voltages_V: jax.Array
    edges_nm: jax.Array
    magnetic_field_T: jax.Array = 0.0


def gate_params(voltages_V, edges_nm, magnetic_field_T=0.0) -> GateParams:
    """:class:`GateParams` as float64 arrays (voltages (n_g,), edges (n_g, 4), B scalar)."""
    return GateParams(
        jnp.asarray(voltages_V, jnp.float64).reshape(-1),
        jnp.asarray(edges_nm, jnp.float64).reshape(-1, 4),
        jnp.asarray(magnetic_field_T, jnp.float64),
    )


@dataclasses.dataclass(frozen=True)
class GatedDevice:
    """A 2DEG strip with surface gates, background and disorder (physics.md §13.10). Hashable.

    Attributes:
      n_x, n_y: lattice sites along and across the strip (N_y ≥ 2).
      spacing_nm: lattice spacing a (nm).
      depth_nm: depth d of the 2DEG below the gates (nm).
      sheet_density_cm2: 2DEG sheet density n_s (cm⁻²); gives :attr:`fermi_energy_eV`.
      m_eff: effective mass (m₀), default GaAs 0.067.
      background_eV: uniform potential added everywhere (eV).
      disorder_rms_eV, disorder_correlation_nm, disorder_seed: the smooth disorder of
        :func:`smooth_disorder` (none when the RMS is 0).
    """

    n_x: int
    n_y: int
    spacing_nm: float
    depth_nm: float = 50.0
    sheet_density_cm2: float = 1e11
    m_eff: float = DEFAULT_M_EFF
    background_eV: float = 0.0
    disorder_rms_eV: float = 0.0
    disorder_correlation_nm: float = 20.0
    disorder_seed: int = 0

    def __post_init__(self):
        for name in ("n_x", "n_y", "disorder_seed"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
                raise ValueError(f"{name} must be an integer, got {v!r}")
        if self.n_x < 1:
            raise ValueError(f"n_x must be ≥ 1, got {self.n_x}")
        if self.n_y < 2:
            raise ValueError(f"n_y must be ≥ 2 (sites across the strip), got {self.n_y}")
        for name in ("spacing_nm", "depth_nm", "sheet_density_cm2", "m_eff", "disorder_correlation_nm"):
            v = getattr(self, name)
            if not (np.isscalar(v) and np.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be finite and > 0, got {v!r}")
        if not (np.isscalar(self.background_eV) and np.isfinite(self.background_eV)):
            raise ValueError(f"background_eV must be a finite number, got {self.background_eV!r}")
        if not (np.isscalar(self.disorder_rms_eV) and np.isfinite(self.disorder_rms_eV) and self.disorder_rms_eV >= 0):
            raise ValueError(f"disorder_rms_eV must be finite and ≥ 0, got {self.disorder_rms_eV!r}")

    # --- geometry
    @property
    def length_nm(self) -> float:
        """(N_x − 1)·a: the x-extent of the sites (nm)."""
        return (self.n_x - 1) * self.spacing_nm

    @property
    def width_nm(self) -> float:
        """W = (N_y + 1)·a: the distance between the hard walls (nm)."""
        return (self.n_y + 1) * self.spacing_nm

    @property
    def x_nm(self) -> np.ndarray:
        """(N_x,) site positions x_i = i·a."""
        return np.arange(self.n_x) * self.spacing_nm

    @property
    def y_nm(self) -> np.ndarray:
        """(N_y,) site positions y_j = (j+1)·a."""
        return (np.arange(self.n_y) + 1.0) * self.spacing_nm

    @property
    def fermi_energy_eV(self) -> float:
        """E_F of the ungated 2DEG (eq. 13.24), measured from the band bottom (U = 0)."""
        return fermi_energy_eV(self.sheet_density_cm2, self.m_eff)

    def disorder_eV(self) -> np.ndarray:
        """(N_x, N_y) disorder potential (eV) of :func:`smooth_disorder`; zeros without disorder."""
        if self.disorder_rms_eV == 0.0:
            return np.zeros((self.n_x, self.n_y))
        return smooth_disorder((self.n_x, self.n_y), self.spacing_nm, self.disorder_correlation_nm,
                               self.disorder_rms_eV, self.disorder_seed)

    # --- validation
    def validate(self, params: GateParams) -> GateParams:
        """Check ``params`` (concrete values only; tracers pass) and return it as float64 arrays.

        Raises ``ValueError`` naming the argument for non-finite values, wrong shapes, a
        gate with x₁ ≥ x₂ or y₁ ≥ y₂ or reaching outside the device [0, (N_x−1)a] × [0, W],
        and a field whose magnetic length is below two lattice spacings.
        """
        if not isinstance(params, GateParams):
            raise ValueError(f"params must be GateParams, got {type(params).__name__}")
        val.check_ndim("params.voltages_V", params.voltages_V, (1,))
        val.check_ndim("params.edges_nm", params.edges_nm, (2,))
        val.check_ndim("params.magnetic_field_T", params.magnetic_field_T, (0,))
        volts = val.as_float_array("params.voltages_V", params.voltages_V)
        edges = val.as_float_array("params.edges_nm", params.edges_nm)
        field = val.as_float_array("params.magnetic_field_T", params.magnetic_field_T)
        if np.shape(edges) != (np.shape(volts)[0], 4):
            raise ValueError(
                f"params.edges_nm must have shape (n_gates, 4) = ({np.shape(volts)[0]}, 4), got {np.shape(edges)}"
            )
        if val.is_concrete(edges):
            tol = 1e-9 * self.spacing_nm
            for k, (x1, x2, y1, y2) in enumerate(np.asarray(edges)):
                if not (x1 < x2 and y1 < y2):
                    raise ValueError(f"params.edges_nm[{k}] = {(x1, x2, y1, y2)} needs x1 < x2 and y1 < y2")
                if x1 < -tol or x2 > self.length_nm + tol or y1 < -tol or y2 > self.width_nm + tol:
                    raise ValueError(
                        f"params.edges_nm[{k}] = {(x1, x2, y1, y2)}: the gate reaches outside the device "
                        f"[0, {self.length_nm:g}] × [0, {self.width_nm:g}] nm"
                    )
        if val.is_concrete(field) and float(field) != 0.0:
            l_b = magnetic_length_nm(float(field))
            if l_b < 2.0 * self.spacing_nm:
                raise ValueError(
                    f"params.magnetic_field_T = {float(field):g} T: magnetic length {l_b:.3g} nm is below two "
                    f"lattice spacings ({2 * self.spacing_nm:g} nm); lower the field or refine the lattice"
                )
        return gate_params(volts, edges, field)

    # --- potential and observables
    def gate_potential_eV(self, params: GateParams):
        """(N_x, N_y) U = −e·Σ_g V_g·φ_g/V_g of all gates (eV, eq. 13.22); no validation."""
        x = jnp.asarray(self.x_nm)[:, None, None]
        y = jnp.asarray(self.y_nm)[None, :, None]
        frac = gate_potential_fraction(x, y, params.edges_nm, self.depth_nm)  # (N_x, N_y, n_g)
        return -frac @ params.voltages_V

    def potential_unchecked(self, params: GateParams):
        """(N_x, N_y) total potential energy (eV): background + disorder + gates (eq. 13.22)."""
        return self.background_eV + jnp.asarray(self.disorder_eV()) + self.gate_potential_eV(params)

    def potential_eV(self, params: GateParams):
        """(N_x, N_y) total potential energy (eV) after validating ``params`` (eq. 13.22)."""
        pot = self.potential_unchecked(self.validate(params))
        val.as_float_array("potential", pot)
        return pot

    def transmission(self, params: GateParams, energies_eV):
        """T(E) of the device (:func:`~diffsim_jax.physics.transport2d.transmission_2d`), with B from ``params``."""
        params = self.validate(params)
        return transmission_2d(self.potential_eV(params), energies_eV, self.spacing_nm, self.m_eff,
                               params.magnetic_field_T)

    def conductance_uS(self, params: GateParams, temperature_K=0.0, fermi_energy_eV=None):
        """G (µS) at the 2DEG's Fermi energy (or ``fermi_energy_eV``) and ``temperature_K`` (eq. 13.13)."""
        params = self.validate(params)
        mu = self.fermi_energy_eV if fermi_energy_eV is None else fermi_energy_eV
        return conductance_2d(self.potential_eV(params), mu, self.spacing_nm, self.m_eff,
                              params.magnetic_field_T, temperature_K)

    # --- design protocol (diffsim_jax.design.optimize)
    def normalization(self, init_params: GateParams, voltage_scale_V: float = 0.01, free_gates=None,
                      edge_scale_nm: float | None = None, field_scale_T: float | None = None):
        """Optimiser coordinates for a design (z = 0 at ``init_params``; see :class:`GateNormalization`)."""
        init = self.validate(init_params)
        n_g = init.voltages_V.shape[0]
        free = tuple(range(n_g)) if free_gates is None else tuple(int(k) for k in free_gates)
        if not free or min(free) < 0 or max(free) >= n_g:
            raise ValueError(f"free_gates must be indices of gates 0 … {n_g - 1}, got {free_gates!r}")
        val.check_positive("voltage_scale_V", voltage_scale_V)
        if edge_scale_nm is not None:
            val.check_positive("edge_scale_nm", edge_scale_nm)
        if field_scale_T is not None:
            val.check_positive("field_scale_T", field_scale_T)
        return GateNormalization(init, free, float(voltage_scale_V), edge_scale_nm, field_scale_T)

    def penalty(self, params: GateParams):
        """Σ_g relu(gate beyond the device)² + relu(x₁ − x₂)² + relu(y₁ − y₂)², in nm⁻²·nm² (0 if valid)."""
        x1, x2, y1, y2 = (params.edges_nm[:, k] for k in range(4))
        relu2 = lambda s: jnp.sum(jax.nn.relu(s) ** 2)  # noqa: E731
        return (relu2(-x1) + relu2(x2 - self.length_nm) + relu2(-y1) + relu2(y2 - self.width_nm)
                + relu2(x1 - x2) + relu2(y1 - y2)) / self.spacing_nm**2


@dataclasses.dataclass(frozen=True)
class GateNormalization:
    """z → parameters: V_g = V_g⁰ + ΔV·z_V on the free gates; optionally edges e = e⁰ + Δe·z_e
    and B = B⁰ + ΔB·z_B (only the parts whose scale is given are free)."""

    init: GateParams
    free_gates: tuple
    voltage_scale_V: float
    edge_scale_nm: float | None = None
    field_scale_T: float | None = None

    def zeros(self) -> dict:
        z = {"voltages": jnp.zeros(len(self.free_gates))}
        if self.edge_scale_nm is not None:
            z["edges"] = jnp.zeros((len(self.free_gates), 4))
        if self.field_scale_T is not None:
            z["field"] = jnp.zeros(())
        return z

    def to_physical(self, z: dict) -> GateParams:
        idx = jnp.asarray(self.free_gates)
        p = self.init
        volts = p.voltages_V.at[idx].add(self.voltage_scale_V * z["voltages"])
        edges = p.edges_nm
        if "edges" in z:
            edges = edges.at[idx].add(self.edge_scale_nm * z["edges"])
        field = p.magnetic_field_T + (self.field_scale_T * z["field"] if "field" in z else 0.0)
        return GateParams(volts, edges, field)


# --------------------------------------------------------------------------------------
# Gate layouts
# --------------------------------------------------------------------------------------
def split_gate_edges(device: GatedDevice, gap_nm: float, length_nm: float, center_nm: float | None = None):
    """(2, 4) edges of a split gate: two rectangles from the walls to ±gap/2 about the axis.

    ``length_nm`` along x, centred at ``center_nm`` (default: the middle of the device).
    """
    return finger_array_edges(device, gap_nm, length_nm, 1, center_nm)


def finger_array_edges(device: GatedDevice, gap_nm: float, length_nm: float, n_fingers: int,
                       center_nm: float | None = None):
    """(2·n, 4) edges of a 2 × n array of gate fingers tiling a split gate (physics.md §13.10).

    The split gate of :func:`split_gate_edges` cut into ``n_fingers`` equal, touching
    fingers along x on each side: rows (bottom fingers left to right, then top). With
    equal voltages the array is exactly that split gate (the potential is additive).
    """
    c = device.length_nm / 2.0 if center_nm is None else center_nm
    w = device.width_nm
    if not (0 < gap_nm < w):
        raise ValueError(f"gap_nm must lie in (0, W = {w:g}) nm, got {gap_nm!r}")
    if not (0 < length_nm and c - length_nm / 2 >= 0 and c + length_nm / 2 <= device.length_nm):
        raise ValueError(f"length_nm = {length_nm!r} about {c:g} nm does not fit in [0, {device.length_nm:g}] nm")
    if not isinstance(n_fingers, int) or n_fingers < 1:
        raise ValueError(f"n_fingers must be a positive integer, got {n_fingers!r}")
    xs = c - length_nm / 2 + length_nm * np.arange(n_fingers + 1) / n_fingers
    bottom = [(xs[k], xs[k + 1], 0.0, w / 2 - gap_nm / 2) for k in range(n_fingers)]
    top = [(xs[k], xs[k + 1], w / 2 + gap_nm / 2, w) for k in range(n_fingers)]
    return np.asarray(bottom + top)
