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
from .models.stack import StackModel, StackParams
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


def validate_iv_inputs(params, biases, cfg, ndims=(1,), name="biases"):
    """Validate (params, biases, cfg) for the current functions; returns converted values."""
    cfg = check_config(cfg)
    params = as_params(params)
    val.check_ndim(name, biases, ndims)
    biases = val.as_float_array(name, biases)
    val.check_nonnegative(name, biases)
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
def current_density_curve(model: StackModel, params: StackParams, biases, temperature_K: float,
                          grid: EnergyGridConfig = EnergyGridConfig()):
    """J(V_i) in A/cm² at ``temperature_K`` (Tsu–Esaki, physics.md eq. 10.3), no validation.

    ``temperature_K`` is static (a Python float; 0 gives the exact T → 0 limit, eq. 10.4).
    jit/vmap/grad-safe in ``params`` and ``biases``.
    """
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
