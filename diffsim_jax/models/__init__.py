"""Device models: (parameters, bias) -> what the solver sees (physics.md §4, §9, §11, §12).

One file per model, each implementing the protocol of :mod:`.base` and nothing else:

* :mod:`.box` — the paper's smooth boxes in a window with a linear bias drop (§4);
* :mod:`.stack` — a grown AlGaAs/GaAs layer stack (§9);
* :mod:`.selfconsistent` — the stack with its Hartree potential (Schrödinger–Poisson, §11);
* :mod:`.freeform` — a Fourier-feature network potential (§12);
* :mod:`.stack_fem` — a layer stack on finite elements, interfaces as mesh nodes (§14);
* :mod:`.qpc` — gate-defined 2-D devices (point contacts) on the 2-D lattice (§13).
"""

from .base import DeviceModel, Normalization, SolverInput
from .box import BarrierParams, BoxModel, DeviceConfig, as_params, default_params, modified_params, original_params, potential
from .freeform import FreeformModel, FreeformParams
from .qpc import GatedDevice, GateParams
from .stack import StackModel, StackParams, contact_fermi_level
from .stack_fem import StackFemModel

__all__ = [
    "BarrierParams", "BoxModel", "DeviceConfig", "DeviceModel", "GateParams", "GatedDevice", "StackFemModel", "FreeformModel", "FreeformParams", "Normalization",
    "SolverInput", "StackModel", "StackParams", "as_params", "contact_fermi_level", "default_params",
    "modified_params", "original_params", "potential",
]
