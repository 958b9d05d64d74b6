"""Differentiable QTBM simulator in JAX (paper section II-B; docs/physics.md §3–14).

The public face of the package: every name below is imported from its layer
(docs/architecture.md), lowest first —

* :mod:`.numerics` — quadrature nodes, GMRES, Anderson mixing (no physics);
* :mod:`.physics` — arrays in, arrays out: constants, materials, the QTBM solver,
  statistics, energy grids, currents, density, Poisson; finite elements (§14) and 2-D
  transport (§13);
* :mod:`.models` — device models mapping (parameters, bias) to the solver's input: the
  paper's boxes, layer stacks (finite differences or finite elements), the
  self-consistent RTD, free-form networks, gate-defined 2-D devices;
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
from .models.qpc import (  # noqa: E402
    GatedDevice,
    GateParams,
    buttiker_transmission,
    finger_array_edges,
    gate_params,
    saddle_potential,
    smooth_disorder,
    split_gate_edges,
)
from .models.selfconsistent import (  # noqa: E402
    SelfConsistentSolution,
    SolverConfig,
    SweepResult,
    self_consistent_iv,
    solve_self_consistent,
)
from .models.selfconsistent_fem import FemSelfConsistentSolution, FemSolverConfig, solve_self_consistent_fem  # noqa: E402
from .models.stack_fem import StackFemModel, current_density_curve_fem  # noqa: E402
from .observables import current, current_density_curve, default_biases, iv_curve, model_iv_curve  # noqa: E402
from .physics.constants import CURRENT_UA_PER_EV, DEFAULT_M_EFF, HBAR2_OVER_2M0_EV_NM2, kinetic_prefactor  # noqa: E402
from .physics.density import electron_density  # noqa: E402
from .physics.energy_grid import EnergyGridConfig  # noqa: E402
from .physics.fem import FemMesh, FemSolution, fem_mesh, solve_fem, transmission_fem  # noqa: E402
from .physics.layers import Layer, Stack, profiles  # noqa: E402
from .physics.materials import ALGAAS, LinearAlloy  # noqa: E402
from .physics.poisson import solve_poisson  # noqa: E402
from .physics.qtbm import QTBMSolution, lead_phase, solve_qtbm, transmission  # noqa: E402
from .physics.statistics import fermi_dirac_half, fermi_level_from_doping  # noqa: E402
from .physics.thermal import current_density, landauer_current  # noqa: E402
from .physics.transport2d import (  # noqa: E402
    TransmissionMatrix2D,
    conductance_2d,
    lead_modes_2d,
    transmission_2d,
    transmission_matrix_2d,
)

_compat.install()

__version__ = "0.3.0"

__all__ = [
    "ALGAAS",
    "as_params",
    "BarrierParams",
    "BoxModel",
    "buttiker_transmission",
    "conductance_2d",
    "contact_fermi_level",
    "current",
    "current_density",
    "current_density_curve",
    "current_density_curve_fem",
    "CURRENT_UA_PER_EV",
    "default_biases",
    "DEFAULT_M_EFF",
    "default_params",
    "design",
    "design_model",
    "DesignConfig",
    "DesignResult",
    "DesignSpec",
    "DeviceConfig",
    "electron_density",
    "EnergyGridConfig",
    "fem_mesh",
    "FemMesh",
    "FemSolution",
    "fermi_dirac_half",
    "fermi_level_from_doping",
    "finger_array_edges",
    "fit",
    "FitConfig",
    "FitResult",
    "FreeformModel",
    "FreeformParams",
    "gate_params",
    "GatedDevice",
    "GateParams",
    "HBAR2_OVER_2M0_EV_NM2",
    "iv_curve",
    "iv_loss",
    "kinetic_prefactor",
    "landauer_current",
    "Layer",
    "lead_modes_2d",
    "lead_phase",
    "LinearAlloy",
    "load_spec",
    "model_iv_curve",
    "optimize",
    "OptimizeResult",
    "potential",
    "profiles",
    "QTBMSolution",
    "saddle_potential",
    "self_consistent_iv",
    "SelfConsistentSolution",
    "SolverConfig",
    "SweepResult",
    "FemSelfConsistentSolution",
    "FemSolverConfig",
    "solve_self_consistent_fem",
    "smooth_disorder",
    "solve_fem",
    "solve_poisson",
    "solve_qtbm",
    "solve_self_consistent",
    "SolverInput",
    "spec_loss",
    "split_gate_edges",
    "Stack",
    "StackFemModel",
    "StackModel",
    "StackParams",
    "transmission",
    "transmission_2d",
    "transmission_fem",
    "transmission_matrix_2d",
    "TransmissionMatrix2D",
]
