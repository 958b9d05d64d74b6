"""Observables of device models: currents and I–V curves (physics.md §5, §10, §12).

The layer between the models and design: each function takes a device model (or the
paper's box parameters) and returns what is measured.

* The paper's box model: :func:`current`, :func:`iv_curve` (validated, physics.md §5, §8)
  and their unvalidated, jit/vmap/grad-safe forms :func:`current_unchecked`,
  :func:`iv_curve_unchecked`.
* Any device model at 0 K: :func:`transmission_of`, :func:`model_current`,
  :func:`model_iv_curve`, :func:`iv_observable` — the same quadrature
  (:func:`~diffsim_jax.physics.current.zero_temperature_current`) on the model's solver input.
* Layer stacks at a temperature: :func:`current_density_curve` (Tsu–Esaki, A/cm²) and
  :func:`stack_observable`.

An ``observable(model, params, biases)`` is what :func:`diffsim_jax.design.iv_loss` fits.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from . import validation as val
from .models.box import BarrierParams, DeviceConfig, as_params, check_config, potential_unchecked
from .models.stack import StackModel, StackParams, check_params
from .models.stack_fem import StackFemModel, current_density_curve_fem
from .physics.constants import kinetic_prefactor
from .physics.current import zero_temperature_current
from .physics.energy_grid import EnergyGridConfig
from .physics.qtbm import transmission_sweep
from .physics.statistics import thermal_energy_eV
from .physics.thermal import current_density_unchecked


# --------------------------------------------------------------------------------------
# The paper's box model at 0 K (physics.md §5)
# --------------------------------------------------------------------------------------
def current_unchecked(params: BarrierParams, bias, cfg: DeviceConfig):
    """I(V; θ) in µA (physics.md §5, paper eq. 20), without validation; jit/vmap/grad-safe."""
    u = potential_unchecked(params, bias, cfg)
    return zero_temperature_current(u, cfg.m_eff, cfg.length_nm, params.fermi_level, bias, cfg)


def iv_curve_unchecked(params: BarrierParams, biases, cfg: DeviceConfig):
    """I(V_i; θ) in µA for a 1-D array of biases, without validation."""
    return jax.vmap(current_unchecked, in_axes=(None, 0, None))(params, biases, cfg)


_current_jit = jax.jit(current_unchecked, static_argnums=2)
_iv_curve_jit = jax.jit(iv_curve_unchecked, static_argnums=2)


#: Bytes per complex number and lattice site, times the intermediate arrays a transmission
#: solve keeps alive at once (forward pass; a rough upper estimate for the memory check).
BYTES_PER_SITE_AND_ENERGY = 16 * 4
#: Energies (k_BT) above the highest Fermi level that the thermal energy grid reaches,
#: for the lattice-band check of :func:`validate_stack_inputs`.
THERMAL_TAIL_KT = 10.0


def box_curve_bytes(cfg: DeviceConfig, n_biases: int) -> float:
    """Estimated working memory (bytes) of :func:`iv_curve` on ``n_biases`` biases (vmapped at once)."""
    return float(n_biases) * max(cfg.n_energy, cfg.n_interp) * cfg.n_points * BYTES_PER_SITE_AND_ENERGY


def validate_iv_inputs(params, biases, cfg, ndims=(1,), name="biases"):
    """Validate (params, biases, cfg) for the current functions; returns converted values."""
    cfg = check_config(cfg)
    params = as_params(params)
    val.check_ndim(name, biases, ndims)
    biases = val.check_biases(name, biases, allow_scalar=True)
    val.check_memory(f"the current at {np.size(biases)} biases on {cfg.n_points} grid points",
                     box_curve_bytes(cfg, np.size(biases)), "use fewer biases or config.n_points")
    if val.is_concrete(params.fermi_level):
        ef = float(params.fermi_level)
        e1 = cfg.energy_window_eV[1]
        if cfg.quadrature == "hermite" and ef > e1:
            raise ValueError(
                f"params.fermi_level = {ef:.4g} eV lies above the tabulated energy window "
                f"cfg.energy_window_eV = {cfg.energy_window_eV}; widen the window"
            )
        # physics.md §3: every energy must lie below the lattice band top of the right lead,
        # U_R + 4t = −V + 4t; beyond it the discrete model does not apply.
        e_top = e1 if cfg.quadrature == "hermite" else ef
        v_max = 4.0 * kinetic_prefactor(cfg.m_eff) / cfg.grid_spacing_nm**2 - e_top
        if val.is_concrete(biases) and np.max(biases, initial=0.0) > v_max:
            raise ValueError(
                f"{name} up to {np.max(biases):.4g} V exceed the range of the lattice model: energies "
                f"up to {e_top:.4g} eV must stay below the right lead's band top 4t − V, so V ≤ {v_max:.4g} V "
                f"with N = {cfg.n_points} over {cfg.length_nm} nm (are the biases in volts?)"
            )
    return params, jnp.asarray(biases, jnp.float64), cfg


def current(params: BarrierParams, bias, cfg: DeviceConfig = DeviceConfig()):
    """0 K current I(V; θ) in µA at one bias ``bias`` (V, ≥ 0) (physics.md §5, §8). I(0) = 0."""
    params, bias, cfg = validate_iv_inputs(params, bias, cfg, (0,), "bias")
    return _current_jit(params, bias, cfg)


def iv_curve(params: BarrierParams, biases, cfg: DeviceConfig = DeviceConfig()):
    """I–V curve: currents in µA, shape (K,), at the 1-D array ``biases`` (V, each ≥ 0) (physics.md §8)."""
    params, biases, cfg = validate_iv_inputs(params, biases, cfg)
    return _iv_curve_jit(params, biases, cfg)


def default_biases(n: int = 25, max_bias_V: float = 0.6) -> np.ndarray:
    """The paper's sweep: ``n`` biases from 0 to ``max_bias_V`` (physics.md §5)."""
    return np.linspace(0.0, max_bias_V, n)


# --------------------------------------------------------------------------------------
# Any device model at 0 K (physics.md §5, §12)
# --------------------------------------------------------------------------------------
def transmission_of(model, params, bias_V, energies_eV):
    """T(E) of ``model`` at one bias (physics.md §3): unvalidated, jit/vmap/grad-safe."""
    si = model.solver_input(params, bias_V)
    return transmission_sweep(si.potential_eV, energies_eV, si.length_nm, si.m_eff)


def model_current(model, params, bias_V, cfg: DeviceConfig):
    """I(V) in µA of any device model (physics.md eq. 5.1) with the quadrature of ``cfg``; unvalidated."""
    si = model.solver_input(params, bias_V)
    return zero_temperature_current(si.potential_eV, si.m_eff, si.length_nm, model.fermi_level_eV(params), bias_V,
                                    cfg)


def model_iv_curve(model, params, biases_V, cfg: DeviceConfig):
    """(K,) currents in µA at ``biases_V`` of any device model (physics.md §5); unvalidated."""
    return jax.vmap(lambda v: model_current(model, params, v, cfg))(biases_V)


def iv_observable(cfg: DeviceConfig):
    """``observable(model, params, biases)`` = :func:`model_iv_curve` with ``cfg``'s quadrature,
    for :func:`diffsim_jax.design.iv_loss` and :func:`diffsim_jax.design.spec_loss`."""

    def observable(model, params, biases):
        return model_iv_curve(model, params, biases, cfg)

    return observable


# --------------------------------------------------------------------------------------
# Layer stacks at a temperature (physics.md §10)
# --------------------------------------------------------------------------------------
def stack_curve_bytes(n_points: int, n_biases: int, grid: EnergyGridConfig = EnergyGridConfig()) -> float:
    """Estimated working memory (bytes) of a stack J(V) on ``n_biases`` biases solved at once:
    every bias holds its search and quadrature energies (physics.md §10) on ``n_points`` sites."""
    energies = grid.n_nodes + grid.n_coarse + 2 * grid.n_resonances * (grid.refine_steps + 1)
    return float(n_biases) * energies * n_points * BYTES_PER_SITE_AND_ENERGY


def validate_stack_inputs(model: StackModel, params: StackParams, biases, temperature_K,
                          grid: EnergyGridConfig = EnergyGridConfig(), *, n_points: int | None = None,
                          at_once: bool = True):
    """Check a stack J(V) before any work (``ValueError`` naming the argument); returns
    ``(biases, temperature_K)``.

    * ``params`` by :func:`~diffsim_jax.models.stack.check_params`, every layer thickness
      in (0, 1000] nm (:func:`diffsim_jax.validation.check_thicknesses`);
    * ``biases``: 1-D, finite, ≥ 0 V, strictly increasing (values only when concrete);
    * ``temperature_K``: a Python number in [0, 1000] K;
    * the grid (``n_points``, default ``model.n_points``, or the device-following grid of
      :meth:`~diffsim_jax.models.stack.StackModel.with_grid` when that is None) must carry the electrons: the
      highest energy, E_F + 10 k_BT, must lie below the collector's lattice band top
      4t − V, t = ħ²/(2m*a²), a = L/(N − 1) (physics.md §3); a 1 mm layer on 170 points
      fails this;
    * the estimated memory (:func:`stack_curve_bytes`, all biases at once unless
      ``at_once=False``, as in the self-consistent sweep) must fit
      (:func:`diffsim_jax.validation.check_memory`).
    """
    temperature_K = val.check_temperature("temperature_K", temperature_K)
    params = check_params(params, model)
    val.check_thicknesses("params.stack.thickness_nm", params.stack.thickness_nm)
    biases = val.check_biases("biases", biases)
    n = model.n_points if n_points is None else n_points
    if n is None and val.is_concrete(params):  # the device-following default grid (physics.md eq. 9.13)
        n = model.with_grid(params, temperature_K).n_points
    if n is None:  # traced parameters and no grid yet: the model itself refuses to run
        return biases, temperature_K
    n_at_once = np.size(biases) if at_once else 1
    val.check_memory(f"a J(V) of {np.size(biases)} biases on {n} grid points", stack_curve_bytes(n, n_at_once, grid),
                     "use fewer biases or fewer grid points (model.n_points)")
    if val.is_concrete((params, biases)):
        length = float(np.sum(np.asarray(params.stack.thickness_nm)))
        spacing = length / (n - 1)
        masses = [float(model.materials.mass(float(x))) for x in np.asarray(params.stack.al_fraction)]
        band_top = 4.0 * kinetic_prefactor(max(masses)) / spacing**2
        e_top = float(params.fermi_level) + THERMAL_TAIL_KT * float(thermal_energy_eV(temperature_K))
        v_max = float(np.max(biases))
        if e_top > band_top - v_max:
            raise ValueError(
                f"the grid is too coarse for this stack: {n} points over {length:g} nm (spacing {spacing:.3g} nm) "
                f"carry energies only up to 4t - V = {band_top - v_max:.3g} eV, below E_F + 10 k_BT = {e_top:.3g} eV "
                f"(physics.md §3); use more grid points (model.n_points) or thinner layers"
            )
    return biases, temperature_K


def current_density_curve(model: StackModel, params: StackParams, biases, temperature_K: float,
                          grid: EnergyGridConfig = EnergyGridConfig()):
    """J(V_i) in A/cm² at ``temperature_K`` (Tsu–Esaki, physics.md eq. 10.3).

    ``model`` is the one switch of the discretisation: a :class:`StackModel` (finite differences,
    smoothed interfaces) or a :class:`~diffsim_jax.models.stack_fem.StackFemModel` (finite elements,
    abrupt interfaces; T > 0; traceable in ``params`` once its mesh is fixed, :meth:`~StackFemModel.with_mesh`).

    ``temperature_K`` is static (a Python float in [0, 1000] K; 0 gives the exact T → 0
    limit, eq. 10.4). jit/vmap/grad-safe in ``params`` and ``biases``; the inputs are
    checked by :func:`validate_stack_inputs` (values only where they are concrete, so
    under ``jit`` only shapes, sizes and the temperature).
    """
    if isinstance(model, StackFemModel):  # abrupt interfaces on finite elements (physics.md §14.7)
        temperature_K = val.check_temperature("temperature_K", temperature_K)
        check_params(params, model.fd_model())
        val.check_thicknesses("params.stack.thickness_nm", params.stack.thickness_nm)
        return current_density_curve_fem(model, params, val.check_biases("biases", biases), temperature_K, grid=grid)
    biases, temperature_K = validate_stack_inputs(model, params, biases, temperature_K, grid)
    biases = jnp.asarray(biases, jnp.float64)
    kT = thermal_energy_eV(temperature_K)

    def one(bias):
        inp = model.solver_input(params, bias)
        return current_density_unchecked(inp.potential_eV, params.fermi_level, bias, inp.length_nm, inp.m_eff, kT,
                                         grid)

    return jax.vmap(one)(biases)


def stack_observable(temperature_K: float, grid: EnergyGridConfig = EnergyGridConfig()):
    """An ``observable(model, params, biases)`` for :func:`diffsim_jax.design.iv_loss`: J(V) in A/cm²."""

    def observable(model, params, biases):
        return current_density_curve(model, params, biases, temperature_K, grid)

    return observable
