"""Differentiable QTBM simulator in JAX (paper section II-B; docs/physics.md §3–14).

The public face of the package: every name below is imported from its layer
(docs/architecture.md), lowest first —

* :mod:`.numerics` — quadrature nodes, GMRES, Anderson mixing (no physics);
* :mod:`.physics` — arrays in, arrays out: constants, materials, the QTBM solver,
  statistics, energy grids, currents, density, Poisson;
* :mod:`.models` — device models mapping (parameters, bias) to the solver's input: the
  paper's boxes, layer stacks, the self-consistent RTD, free-form networks;
* :mod:`.observables` — currents and I–V curves of any model;
* :mod:`.design` — the one optimisation loop, losses, the paper's and spec designs;
* :mod:`.cli` — the ``qtbm`` command.

Float64 is enabled on import (the only place). The 0.2 module paths
(``diffsim_jax.physics.qtbm``, ``diffsim_jax.models.box``, …) still import, with a deprecation
warning naming the new place (:mod:`._compat`).
"""

import jax

jax.config.update("jax_enable_x64", True)

from . import _compat  # noqa: E402
from .design import (  # noqa: E402
    DesignConfig,
    DesignResult,
    DesignSpec,
    FitConfig,
    FitResult,
    OptimizeResult,
    design,
    design_model,
    fit,
    iv_loss,
    load_spec,
    optimize,
    spec_loss,
)
from .models import (  # noqa: E402
    BarrierParams,
    BoxModel,
    DeviceConfig,
    FreeformModel,
    FreeformParams,
    SolverInput,
    StackModel,
    StackParams,
    as_params,
    contact_fermi_level,
    default_params,
    potential,
)
from .models.selfconsistent import SelfConsistentSolution, self_consistent_iv, solve_self_consistent  # noqa: E402
from .observables import current, current_density_curve, default_biases, iv_curve, model_iv_curve  # noqa: E402
from .physics.constants import CURRENT_UA_PER_EV, DEFAULT_M_EFF, HBAR2_OVER_2M0_EV_NM2, kinetic_prefactor  # noqa: E402
from .physics.density import electron_density  # noqa: E402
from .physics.energy_grid import EnergyGridConfig  # noqa: E402
from .physics.layers import Layer, Stack, profiles  # noqa: E402
from .physics.materials import ALGAAS, LinearAlloy  # noqa: E402
from .physics.poisson import solve_poisson  # noqa: E402
from .physics.qtbm import QTBMSolution, lead_phase, solve_qtbm, transmission  # noqa: E402
from .physics.statistics import fermi_dirac_half, fermi_level_from_doping  # noqa: E402
from .physics.thermal import current_density, landauer_current  # noqa: E402

_compat.install()

__version__ = "0.3.0"

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
