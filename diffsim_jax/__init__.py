"""Differentiable QTBM simulator in JAX (paper section II-B; physics.md §3–6, §8).

Physics lives in :mod:`.qtbm` (transmission), :mod:`.device` (potential) and
:mod:`.current` (0 K current); gradient-based design in :mod:`.design`; plots in
:mod:`.plotting`; the command-line tool in :mod:`.cli`. Float64 is enabled on import.
"""

import jax

jax.config.update("jax_enable_x64", True)

from .constants import CURRENT_UA_PER_EV, DEFAULT_M_EFF, HBAR2_OVER_2M0_EV_NM2, kinetic_prefactor  # noqa: E402
from .current import current, default_biases, iv_curve  # noqa: E402
from .design import DesignConfig, DesignResult, design  # noqa: E402
from .device import BarrierParams, DeviceConfig, as_params, default_params, potential  # noqa: E402
from .qtbm import QTBMSolution, lead_phase, solve_qtbm, transmission  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "BarrierParams",
    "CURRENT_UA_PER_EV",
    "DEFAULT_M_EFF",
    "DesignConfig",
    "DesignResult",
    "DeviceConfig",
    "HBAR2_OVER_2M0_EV_NM2",
    "QTBMSolution",
    "as_params",
    "current",
    "default_biases",
    "default_params",
    "design",
    "iv_curve",
    "kinetic_prefactor",
    "lead_phase",
    "potential",
    "solve_qtbm",
    "transmission",
]
