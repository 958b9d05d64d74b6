"""Layer-stack files for the command-line tool (``qtbm … --model stack``; docs/cli.md).

A stack file is a JSON object::

    {"layers": [{"thickness_nm": 15, "al_fraction": 0.0, "doping_cm3": 2e18}, …],
     "fermi_level_eV": 0.079,       # optional: default from the emitter doping at the temperature
     "model": {"bias_drop": "active", …},  # optional StackModel fields (n_points: default from the device)
     "materials": {…}}              # optional materials table (LinearAlloy fields)

or the result of ``qtbm design --model stack``, whose ``params`` block holds the layers
and the Fermi level (its ``model``, ``materials``, ``temperature_K`` and ``currents`` are
used too). Every problem raises :class:`~diffsim_jax.io.InputError` naming the file and field.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np

from ..models.stack import StackModel, StackParams, check_params, contact_fermi_level
from .. import validation as val
from .io import InputError, optional_array, read_text
from ..physics.materials import ALGAAS, LinearAlloy, check_composition
from ..physics.layers import LAYER_FIELDS, Stack

STACK_KEYS = ("layers", "fermi_level_eV", "model", "materials")
MODEL_FIELDS = tuple(f.name for f in dataclasses.fields(StackModel) if f.name != "materials")


@dataclasses.dataclass(frozen=True)
class StackFile:
    """A stack read from JSON.

    Attributes:
      stack: the validated layers.
      fermi_level_eV: the file's Fermi level, or None (then it follows from the doping).
      model: the :class:`StackModel` (defaults where the file says nothing).
      temperature_K: a design result's temperature, else None.
      biases, target: a design result's biases (V) and target J (A/cm²), else None.
    """

    stack: Stack
    fermi_level_eV: float | None
    model: StackModel
    temperature_K: float | None
    biases: np.ndarray | None
    target: np.ndarray | None
    path: str = ""

    def params(self, temperature_K: float) -> StackParams:
        """:class:`StackParams` at ``temperature_K``: the file's E_F, else the emitter doping's
        (InputError naming the file when neither is available)."""
        ef = self.fermi_level_eV
        try:
            if ef is None:
                ef = contact_fermi_level(self.stack, temperature_K, self.model.materials)
            return check_params(StackParams(self.stack, np.float64(ef)), self.model)
        except ValueError as err:
            raise InputError(f"{self.path}: {err}") from None


def _model(path: str, block, materials) -> StackModel:
    if block is None:
        return StackModel(materials=materials)
    if not isinstance(block, dict):
        raise InputError(f"{path}: field model must be a JSON object of StackModel fields")
    unknown = sorted(set(block) - set(MODEL_FIELDS))
    if unknown:
        raise InputError(f"{path}: unknown field(s) {', '.join('model.' + k for k in unknown)} "
                         f"(allowed: {', '.join(MODEL_FIELDS)})")
    kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in block.items()}
    try:
        return StackModel(materials=materials, **kwargs)
    except (TypeError, ValueError) as err:
        raise InputError(f"{path}: field model: {err}") from None


def read_json_object(path: str, expected: str) -> dict:
    """The JSON object in ``path``; InputError naming the file (and the line of a syntax error,
    or ``expected`` when the JSON is not an object)."""
    try:
        data = json.loads(read_text(path))
    except json.JSONDecodeError as err:
        raise InputError(f"{path} line {err.lineno} column {err.colno}: invalid JSON ({err.msg})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: {expected}")
    return data


def read_stack_json(path: str) -> StackFile:
    """Read and validate a stack file or a ``qtbm design --model stack`` result (module docstring)."""
    data = read_json_object(path, 'expected a JSON object with a "layers" list')
    block, prefix = (data["params"], "params.") if "params" in data else (data, "")
    if not isinstance(block, dict):
        raise InputError(f"{path}: field params must be a JSON object")
    allowed = ("layers", "fermi_level_eV") if prefix else STACK_KEYS
    if "layers" not in block and "heights_eV" in block:
        raise InputError(f"{path}: a box-model design (it has heights_eV, no layers); simulate or design it "
                         "with --model box")
    unknown = sorted(set(block) - set(allowed))
    if unknown and not prefix:
        raise InputError(f"{path}: unknown field(s) {', '.join(unknown)} (allowed: {', '.join(STACK_KEYS)})")
    materials = ALGAAS
    if data.get("materials") is not None:
        try:
            materials = LinearAlloy.from_dict(data["materials"])
        except (TypeError, ValueError) as err:
            raise InputError(f"{path}: field materials: {err}") from None
    try:  # every layer field is required: a missing al_fraction must not silently become GaAs
        for k, layer in enumerate(block["layers"] if isinstance(block.get("layers"), list) else []):
            if isinstance(layer, dict):
                val.require_fields(f"layers[{k}]", layer, LAYER_FIELDS, "every layer needs " + ", ".join(LAYER_FIELDS))
                x = layer["al_fraction"]
                if isinstance(x, (int, float)) and not isinstance(x, bool):  # the table's range, in its words
                    try:
                        check_composition(x, materials, "al_fraction")
                    except ValueError as err:
                        raise ValueError(f"layers[{k}]: {err}") from None
        stack = Stack.from_dict({"layers": block.get("layers")}, materials)
    except ValueError as err:
        raise InputError(f"{path}: field {prefix}{err}") from None
    ef = block.get("fermi_level_eV")
    if ef is not None and (isinstance(ef, bool) or not isinstance(ef, (int, float)) or not np.isfinite(ef)):
        raise InputError(f"{path}: field {prefix}fermi_level_eV must be a finite number of eV, got {json.dumps(ef)}")
    model = _model(path, data.get("model"), materials)
    try:
        model.drop_ends_nm(stack)
        model.free_masks(stack)
    except ValueError as err:
        raise InputError(f"{path}: field model: {err}") from None
    temperature = data.get("temperature_K") if prefix else None
    if temperature is not None:
        try:
            val.check_temperature("temperature_K", temperature)
        except ValueError as err:
            raise InputError(f"{path}: field {err}") from None
    currents = data.get("currents") if prefix else None
    biases, target = optional_array(path, currents, "bias_V"), optional_array(path, currents, "target_Acm2")
    if target is not None and (biases is None or target.shape != biases.shape):
        target = None
    return StackFile(stack, None if ef is None else float(ef), model,
                     None if temperature is None else float(temperature), biases, target, path)


def model_to_dict(model: StackModel) -> dict:
    """The JSON "model" block of a :class:`StackModel` (materials separately)."""
    return {name: (list(v) if isinstance(v := getattr(model, name), tuple) else v) for name in MODEL_FIELDS}
