"""Current at finite temperature: 1-D Landauer and 3-D Tsu–Esaki (physics.md §10).

Energies are measured from the left contact's band edge; the potential array U includes
the bias drop (U_{N−1} = U_0 − V for the paper's model). μ_L = E_F, μ_R = E_F − V and
f(E; μ) = 1/(1 + e^{(E−μ)/k_BT}), k_B = 8.617333262e-5 eV/K (physics.md eq. 10.1).

* 1-D Landauer (the paper's observable, µA; physics.md eq. 10.2)

      I = (2q/h) ∫ 𝒯(E) [f(E; μ_L) − f(E; μ_R)] dE,          (2q/h)·1 eV = 77.48091729 µA.

* 3-D Tsu–Esaki (planar device, A/cm²; physics.md eq. 10.3), m_t = m* of the left contact

      J = A*·m_t·(T/k_B) ∫ 𝒯(E_z) ln[(1 + e^{(μ_L−E_z)/k_BT}) / (1 + e^{(μ_R−E_z)/k_BT})] dE_z
        = (A*/k_B²)·m_t ∫ 𝒯(E_z)·k_BT·[softplus((μ_L − E_z)/k_BT) − softplus((μ_R − E_z)/k_BT)] dE_z,

  A* = q m₀ k_B²/(2π²ħ³) = 120.173 A cm⁻² K⁻², A*/k_B² = 1.61831e10 A cm⁻² eV⁻². The
  softplus form never overflows and has the exact limit (μ_L − E)₊ − (μ_R − E)₊.

  Approximation: the transverse motion is assumed to separate with the contact's mass, so
  that 𝒯 depends on E_z only and the E_t integral gives the supply function. That is exact
  for a uniform mass. With the position-dependent mass of physics.md §9 the transverse
  kinetic energy in a layer of mass m(x) is E_t·m_t/m(x), i.e. the longitudinal problem
  really sees U(x) + E_t·(m_t/m(x) − 1): the barriers are lowered by E_t·(1 − m_t/m(x))
  (0.27·E_t in Al₀.₃Ga₀.₇As, ≈ 7 meV for E_t = k_BT at 300 K, 0.1 meV at 4 K). This
  E_t-dependence of 𝒯 is neglected (it would need a 2-D integral over E_z and E_t).

* Zero temperature (``temperature_K=0.0``): the exact limits (physics.md eqs. 5.1, 10.4)

      I = (2q/h)·sgn(V) ∫_{max(E_lo, min μ)}^{max μ} 𝒯 dE,
      J = 1.61831e10·m_t ∫ 𝒯(E)·[(μ_L − E)₊ − (μ_R − E)₊] dE,

  with E_lo = max(U_0, U_{N−1}). The ends move with E_F and V, so the gradient carries the
  exact Leibniz terms; the kink of the Tsu–Esaki kernel at min μ gets a geometrically graded
  node cluster (energy_grid). temperature_K < 0, NaN or inf raise ValueError; a traced
  temperature (inside the caller's jit/grad) is taken as > 0 and cannot select this path.

Integration range: from the higher lead band edge E_lo = max(U_0, U_{N−1}) (𝒯 = 0 below it)
to max(μ_L, μ_R) + 40 k_BT, beyond which the integrand is below e^{−40} ≈ 4e-18 of its
peak. The quadrature is the resonance-adapted grid of :mod:`.energy_grid`
(``grid=EnergyGridConfig(...)``).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .. import validation as val
from .constants import CURRENT_UA_PER_EV, DEFAULT_M_EFF, K_B_EV_PER_K, TSU_ESAKI_A_PER_CM2_EV2
from .energy_grid import EnergyGridConfig, mapped_grid, locate_resonances
from .qtbm import band_top_eV, check_mass, transmission_sweep
from .statistics import landauer_window, supply_function

#: Upper limit of the energy integral above the highest chemical potential, in k_BT.
TAIL_KT = 40.0

DEFAULT_GRID = EnergyGridConfig()


# --------------------------------------------------------------------------------------
# Integration (no validation; jit/vmap/grad-safe)
# --------------------------------------------------------------------------------------
def _kernel(kind, energy, mu_l, mu_r, kT):
    return supply_function(energy, mu_l, mu_r, kT) if kind == "tsu_esaki" else landauer_window(energy, mu_l, mu_r, kT)


def integration_window(potential, fermi_level, bias, kT):
    """(E_lo, E_hi, μ_L, μ_R): E_lo = max(U_0, U_{N−1}), E_hi = max(μ_L, μ_R) + 40 kT (≥ E_lo)."""
    mu_l = fermi_level
    mu_r = fermi_level - bias
    e_lo = jnp.maximum(potential[0], potential[-1])
    e_hi = jnp.maximum(jnp.maximum(mu_l, mu_r) + TAIL_KT * kT, e_lo)
    return e_lo, e_hi, mu_l, mu_r


def energy_integral(kind, potential, fermi_level, bias, length, m_eff, kT, config: EnergyGridConfig):
    """∫ 𝒯(E)·K(E) dE in eV (K the Landauer window or the Tsu–Esaki supply in eV).

    ``kind`` ("landauer" | "tsu_esaki") and ``config`` are static; ``kT`` is a traced
    value (> 0) or the Python number 0 (the exact T → 0 forms of the module docstring).
    """
    zero_t = isinstance(kT, (int, float)) and kT == 0
    e_lo, e_hi, mu_l, mu_r = integration_window(potential, fermi_level, bias, kT)

    def kernel_abs(e):
        sg = lax.stop_gradient
        return jnp.abs(_kernel(kind, e, sg(mu_l), sg(mu_r), kT if zero_t else sg(kT)))

    if not zero_t:
        mus = (mu_l, mu_r)
        res = locate_resonances(potential, length, m_eff, e_lo, e_hi, mus, kT, kernel_abs, config)
        nodes, weights = mapped_grid(e_lo, e_hi, res, mus, kT, config)
        trans = transmission_sweep(potential, nodes, length, m_eff)
        return jnp.sum(weights * trans * _kernel(kind, nodes, mu_l, mu_r, kT))

    mu_lo, mu_hi = jnp.minimum(mu_l, mu_r), jnp.maximum(mu_l, mu_r)
    top = jnp.maximum(mu_hi, e_lo)
    res = locate_resonances(potential, length, m_eff, e_lo, top, (), 0.0, kernel_abs, config)
    if kind == "landauer":
        # sgn(V) ∫_{max(E_lo, min μ)}^{max μ} 𝒯 dE: one panel, no kink inside.
        lo = jnp.minimum(jnp.maximum(e_lo, mu_lo), top)
        nodes, weights = mapped_grid(lo, top, res, (), 0.0, config)
        trans = transmission_sweep(potential, nodes, length, m_eff)
        return jnp.sign(bias) * jnp.sum(weights * trans)
    # Tsu–Esaki: one panel [E_lo, max μ]; the kernel's kink at min μ gets a node cluster.
    kink = jnp.clip(mu_lo, e_lo, top)
    nodes, weights = mapped_grid(e_lo, top, res, (), 0.0, config, kinks=(kink,))
    trans = transmission_sweep(potential, nodes, length, m_eff)
    return jnp.sum(weights * trans * supply_function(nodes, mu_l, mu_r, 0.0))


def _left_mass(m_eff):
    return m_eff if jnp.ndim(m_eff) == 0 else m_eff[0]


def current_density_unchecked(potential, fermi_level, bias, length, m_eff, kT, config=DEFAULT_GRID):
    """Tsu–Esaki J in A/cm² (physics.md eq. 10.3/10.4) without validation; kT in eV (or Python 0)."""
    integral = energy_integral("tsu_esaki", potential, fermi_level, bias, length, m_eff, kT, config)
    return TSU_ESAKI_A_PER_CM2_EV2 * _left_mass(m_eff) * integral


def landauer_current_unchecked(potential, fermi_level, bias, length, m_eff, kT, config=DEFAULT_GRID):
    """Landauer I in µA (physics.md eq. 10.2 / 5.1) without validation; kT in eV (or Python 0)."""
    return CURRENT_UA_PER_EV * energy_integral("landauer", potential, fermi_level, bias, length, m_eff, kT, config)


@partial(jax.jit, static_argnames=("kind", "zero_t", "config"))
def _jitted(kind, potential, fermi_level, bias, length, m_eff, kT, zero_t, config):
    fn = current_density_unchecked if kind == "tsu_esaki" else landauer_current_unchecked
    return fn(potential, fermi_level, bias, length, m_eff, 0.0 if zero_t else kT, config)


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------
def _validate(potential, fermi_level, bias, length, m_eff, temperature_K, grid):
    val.check_ndim("potential", potential, (1,))
    n = np.shape(potential)[0]
    if n < 3:
        raise ValueError(f"potential needs at least 3 grid points, got {n}")
    potential = val.as_float_array("potential", potential)
    for name, value in (("fermi_level", fermi_level), ("bias", bias), ("temperature_K", temperature_K)):
        val.check_ndim(name, value, (0,))
    fermi_level = val.as_float_array("fermi_level", fermi_level)
    bias = val.as_float_array("bias", bias)
    val.check_positive("length", length)
    check_mass(m_eff, n)
    val.check_nonnegative("temperature_K", temperature_K)
    val.check_range("temperature_K", temperature_K, *val.TEMPERATURE_RANGE_K, "K")
    if grid is None:
        grid = DEFAULT_GRID
    if not isinstance(grid, EnergyGridConfig):
        raise ValueError(f"grid must be an EnergyGridConfig or None, got {type(grid).__name__}")
    zero_t = val.is_concrete(temperature_K) and float(temperature_K) == 0.0
    if val.is_concrete((potential, fermi_level, bias, length, m_eff, temperature_K)):
        kT = K_B_EV_PER_K * float(temperature_K)
        e_top = max(float(fermi_level), float(fermi_level) - float(bias)) + TAIL_KT * kT
        top = float(band_top_eV(np.asarray(potential), float(length), np.asarray(m_eff, float)))
        if e_top > top:
            raise ValueError(
                f"the energy window reaches {e_top:.4g} eV (max(fermi_level, fermi_level − bias) + 40 k_B·temperature_K), "
                f"above the lattice band top of the leads ({top:.4g} eV; physics.md §3): lower temperature_K, "
                "fermi_level or |bias|, or refine the grid"
            )
    as64 = lambda x: jnp.asarray(x, jnp.float64)  # noqa: E731
    kT = K_B_EV_PER_K * as64(temperature_K)
    return (as64(potential), as64(fermi_level), as64(bias), as64(length), as64(m_eff), kT, zero_t, grid)


def current_density(potential, fermi_level, bias, length, m_eff=DEFAULT_M_EFF, temperature_K=300.0, *, grid=None):
    """Tsu–Esaki current density J in A/cm² of a planar device (physics.md §10, eq. 10.3).

    Args:
      potential: (N,) total potential U_j in eV on the uniform grid spanning [0, length],
        including the bias drop (U_{N−1} = U_0 − V for a linear drop). Energies, E_F and
        the band edges are all on this scale.
      fermi_level: E_F = μ_L in eV (scalar).
      bias: V in volts (scalar, any sign): μ_R = E_F − V.
      length: L in nm.
      m_eff: effective mass in units of m₀, scalar or (N,) per-site masses (physics.md §9);
        the transverse mass is the left contact's, m_eff[0].
      temperature_K: lattice/contact temperature in K, ≥ 0. 0.0 selects the exact T → 0
        limit (physics.md eq. 10.4) instead of the Fermi functions. Must be concrete to be
        validated; a traced value is taken as > 0.
      grid: :class:`~diffsim_jax.physics.energy_grid.EnergyGridConfig` (default ``EnergyGridConfig()``).
    Returns:
      J (scalar) in A/cm²; positive when electrons flow from left to right (V > 0).

    Works under ``jax.jit``, ``jax.vmap`` (e.g. over biases with one U per bias) and
    ``jax.grad`` with respect to the potential, E_F, V, the masses and L. Concrete inputs
    are validated (``ValueError`` naming the argument). The quadrature is the
    resonance-adapted grid of :mod:`.energy_grid`, converged to < 0.5 % on the tested
    devices (physics.md §10); 𝒯 is taken to depend on E_z only (module docstring).
    """
    args = _validate(potential, fermi_level, bias, length, m_eff, temperature_K, grid)
    return _jitted("tsu_esaki", *args[:6], zero_t=args[6], config=args[7])


def landauer_current(potential, fermi_level, bias, length, m_eff=DEFAULT_M_EFF, temperature_K=300.0, *, grid=None):
    """1-D Landauer current I in µA at finite temperature (physics.md §10, eq. 10.2).

    I = (2q/h) ∫ 𝒯(E)[f(E; E_F) − f(E; E_F − V)] dE — the paper's observable (physics.md §5)
    with Fermi functions; ``temperature_K=0.0`` gives exactly the 0 K formula
    I = (2q/h)∫_{max(E_lo, E_F − V)}^{E_F} 𝒯 dE (eq. 5.1; E_lo = max(U_0, U_{N−1})).
    Arguments, validation and differentiability as for :func:`current_density`.
    """
    args = _validate(potential, fermi_level, bias, length, m_eff, temperature_K, grid)
    return _jitted("landauer", *args[:6], zero_t=args[6], config=args[7])
