"""Differentiable QTBM simulator in JAX (paper section II-B; docs/physics.md §3–6, §8–12).

Layers (see :mod:`.models`): the solver (:mod:`.qtbm`: transmission with scalar or
per-site masses); device models that map (parameters, bias) to the solver's input — the
paper's boxes (:mod:`.device`), layer stacks (:mod:`.stack`, :mod:`.heterostructure`),
the self-consistent Schrödinger–Poisson RTD (:mod:`.selfconsistent`) and free-form network
potentials (:mod:`.freeform`); observables — the paper's 0 K current (:mod:`.current`),
finite-temperature currents (:mod:`.thermal`) on a resonance-adapted energy grid
(:mod:`.energy_grid`), electron densities (:mod:`.density`); and design with any model,
loss and Optax optimiser (:mod:`.design`, :mod:`.spec_design`). Plots in :mod:`.plotting`,
the command-line tool in :mod:`.cli`. Float64 is enabled on import (the only place).
"""

import jax

jax.config.update("jax_enable_x64", True)

from .constants import CURRENT_UA_PER_EV, DEFAULT_M_EFF, HBAR2_OVER_2M0_EV_NM2, kinetic_prefactor  # noqa: E402
from .current import current, default_biases, iv_curve  # noqa: E402
from .density import electron_density, fermi_dirac_half, fermi_level_from_doping  # noqa: E402
from .design import DesignConfig, DesignResult, OptimizeResult, design, design_model, iv_loss, optimize  # noqa: E402
from .device import BarrierParams, BoxModel, DeviceConfig, as_params, default_params, potential  # noqa: E402
from .energy_grid import EnergyGridConfig  # noqa: E402
from .freeform import FitConfig, FitResult, FreeformModel, FreeformParams, fit, model_iv_curve  # noqa: E402
from .heterostructure import StackModel, StackParams, contact_fermi_level, current_density_curve  # noqa: E402
from .materials import ALGAAS, LinearAlloy  # noqa: E402
from .models import SolverInput  # noqa: E402
from .poisson import solve_poisson  # noqa: E402
from .qtbm import QTBMSolution, lead_phase, solve_qtbm, transmission  # noqa: E402
from .selfconsistent import SelfConsistentSolution, self_consistent_iv, solve_self_consistent  # noqa: E402
from .spec_design import DesignSpec, load_spec, spec_loss  # noqa: E402
from .stack import Layer, Stack, profiles  # noqa: E402
from .thermal import current_density, landauer_current  # noqa: E402

__version__ = "0.2.0"

__all__ = [
    "ALGAAS",
    "BarrierParams",
    "BoxModel",
    "CURRENT_UA_PER_EV",
    "DEFAULT_M_EFF",
    "DesignConfig",
    "DesignResult",
    "DesignSpec",
    "DeviceConfig",
    "EnergyGridConfig",
    "FitConfig",
    "FitResult",
    "FreeformModel",
    "FreeformParams",
    "HBAR2_OVER_2M0_EV_NM2",
    "Layer",
    "LinearAlloy",
    "OptimizeResult",
    "QTBMSolution",
    "SelfConsistentSolution",
    "SolverInput",
    "Stack",
    "StackModel",
    "StackParams",
    "as_params",
    "contact_fermi_level",
    "current",
    "current_density",
    "current_density_curve",
    "default_biases",
    "default_params",
    "design",
    "design_model",
    "electron_density",
    "fermi_dirac_half",
    "fermi_level_from_doping",
    "fit",
    "iv_curve",
    "iv_loss",
    "kinetic_prefactor",
    "landauer_current",
    "lead_phase",
    "load_spec",
    "model_iv_curve",
    "optimize",
    "potential",
    "profiles",
    "self_consistent_iv",
    "solve_poisson",
    "solve_qtbm",
    "solve_self_consistent",
    "spec_loss",
    "transmission",
]
