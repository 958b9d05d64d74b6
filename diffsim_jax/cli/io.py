"""File input and output for the command-line tool (:mod:`diffsim_jax.cli`).

* I–V data: a CSV file with the header ``bias_V,current_uA`` (:func:`read_iv_csv`,
  :func:`write_iv_csv`).
* Designs: a JSON file holding the four barrier fields, either at the top level or under
  ``"params"`` as in a ``qtbm design`` result, optionally with a ``"config"`` block of
  :class:`~diffsim_jax.models.box.DeviceConfig` fields (:func:`read_params_json`).
* Outputs are written atomically (:class:`StagedOutputs`): each file is written to a
  temporary file in its destination directory and moved into place with ``os.replace``
  only when every output of the run has been written, so a failed run leaves no partial
  file behind and never replaces a good one.

Every problem with an input file raises :class:`InputError`, a ``ValueError`` whose
one-line message names the file and the row or field at fault.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import tempfile
from typing import IO, Callable

import numpy as np

from ..models.box import BarrierParams, DeviceConfig, as_params

#: The CSV header, in this order when written; the reader accepts either order.
IV_COLUMNS = ("bias_V", "current_uA")
#: The CSV header of current-density data (the layer-stack model, A/cm²).
JV_COLUMNS = ("bias_V", "current_density_Acm2")
#: Columns a J–V file may carry beside JV_COLUMNS, ignored on reading: the down sweep of a
#: self-consistent ``qtbm simulate`` (its current_density_Acm2 is the up sweep).
OPTIONAL_COLUMNS = ("current_density_down_Acm2",)
#: Units of the current columns, for messages.
COLUMN_UNITS = {"current_uA": "µA", "current_density_Acm2": "A/cm²"}
#: The fields of a params block, with their units.
PARAM_FIELDS = {"heights_eV": "eV", "centers_nm": "nm", "widths_nm": "nm", "fermi_level_eV": "eV"}
#: A CSV needs at least this many data rows to be fitted.
MIN_IV_POINTS = 3


class InputError(ValueError):
    """A bad input file or value; the message names the file and the row or field."""


@dataclasses.dataclass(frozen=True)
class IVData:
    """I–V points read from a CSV file: biases (V, increasing) and currents (µA)."""

    biases: np.ndarray
    currents: np.ndarray
    path: str

    @property
    def n_points(self) -> int:
        return int(self.biases.size)


@dataclasses.dataclass(frozen=True)
class ParamsFile:
    """A design read from JSON.

    Attributes:
      params: the validated barrier parameters.
      config: the device configuration (``DeviceConfig()`` when the file has no "config").
      has_config: whether the file had a "config" block.
      biases: the ``currents.bias_V`` list of a design result (V), else ``None``.
      target: the ``currents.target_uA`` list of a design result (µA), else ``None``.
    """

    params: BarrierParams
    config: DeviceConfig
    has_config: bool
    biases: np.ndarray | None
    target: np.ndarray | None


# --------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------
def read_text(path: str) -> str:
    """The UTF-8 text of ``path`` (a byte-order mark is dropped); :class:`InputError` otherwise."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            return f.read()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not a file") from None
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not a UTF-8 text file (byte {err.start})") from None
    except OSError as err:
        raise InputError(f"{path}: cannot read ({err.strerror or err})") from None


def _parse_number(path: str, row: int, column: str, cell: str, unit: str) -> float:
    try:
        value = float(cell)
    except ValueError:
        raise InputError(f"{path} row {row}: {column} is not a number ({cell!r})") from None
    if not math.isfinite(value):
        raise InputError(
            f"{path} row {row}: {column} is not finite ({cell!r}); every value must be a finite number of {unit}"
        )
    return value


def _check_header(path: str, row: int, header: list[str], columns=IV_COLUMNS) -> tuple[int, int]:
    """Column indices of the bias and current columns in ``header``."""
    expected = ",".join(columns)
    missing = [c for c in columns if c not in header]
    optional = OPTIONAL_COLUMNS if columns == JV_COLUMNS else ()
    extra = [c for c in header if c not in columns and c not in optional]
    problems = []
    if missing:
        problems.append(f"is missing column {', '.join(missing)}")
    if extra:
        problems.append(f"has unexpected column {', '.join(repr(c) for c in extra)}")
    if not problems and len(header) != len(set(header)):
        problems.append("repeats a column")
    if problems:
        raise InputError(f"{path} row {row}: header {'; '.join(problems)} (expected exactly '{expected}')")
    return header.index(columns[0]), header.index(columns[1])


def read_iv_csv(path: str, columns=IV_COLUMNS) -> IVData:
    """Read and validate I–V data; see ``docs/cli.md`` for the format.

    Rows are numbered as lines of the file (the header is normally row 1). Blank lines
    and lines starting with ``#`` are skipped. The data must hold at least
    :data:`MIN_IV_POINTS` rows of finite numbers, biases ≥ 0 and strictly increasing,
    and at least one non-zero current. ``columns`` names the (bias, current) header:
    :data:`IV_COLUMNS` (µA, the paper's model) or :data:`JV_COLUMNS` (A/cm², layer stacks).
    """
    text = read_text(path)
    header_cols = None
    biases: list[float] = []
    currents: list[float] = []
    rows: list[int] = []
    for row, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cells = [c.strip() for c in next(csv.reader([line]))]
        if header_cols is None:
            header_cols = _check_header(path, row, cells, columns)
            header, n_header = cells, len(cells)
            continue
        if len(cells) != n_header:
            raise InputError(
                f"{path} row {row}: expected {n_header} cells ({','.join(header)}), got {len(cells)}"
            )
        bias = _parse_number(path, row, columns[0], cells[header_cols[0]], "V")
        cur = _parse_number(path, row, columns[1], cells[header_cols[1]], COLUMN_UNITS[columns[1]])
        if bias < 0:
            raise InputError(f"{path} row {row}: bias_V is negative ({bias:g} V); only forward bias V >= 0 is modelled")
        if biases and bias == biases[-1]:
            raise InputError(f"{path} row {row}: bias_V {bias:g} V repeats row {rows[-1]}; biases must not repeat")
        if biases and bias < biases[-1]:
            raise InputError(
                f"{path} row {row}: bias_V {bias:g} V is below {biases[-1]:g} V on row {rows[-1]}; "
                "biases must increase down the file"
            )
        biases.append(bias)
        currents.append(cur)
        rows.append(row)
    if header_cols is None:
        raise InputError(f"{path}: no header; expected the header '{','.join(columns)}'")
    if len(biases) < MIN_IV_POINTS:
        raise InputError(f"{path}: {len(biases)} data row(s); at least {MIN_IV_POINTS} are needed")
    if not any(currents):
        raise InputError(f"{path}: every {columns[1]} is 0; there is nothing to fit")
    return IVData(np.array(biases), np.array(currents), path)


def _number(path: str, field: str, value, unit: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{path}: field {field} must be a number of {unit}, got {json.dumps(value)}")
    if not math.isfinite(value):
        raise InputError(f"{path}: field {field} is not finite ({value}); it must be a number of {unit}")
    return float(value)


def params_from_mapping(path: str, block, cfg: DeviceConfig, prefix: str = "") -> BarrierParams:
    """Validate a params block (a dict of :data:`PARAM_FIELDS`) read from ``path``.

    ``prefix`` is prepended to field names in messages (``"params."`` for a design result).
    Beyond :func:`~diffsim_jax.models.box.as_params` (finite values, widths > 0, E_F > 0,
    equal lengths) this requires every centre inside the device [0, L] and the Fermi
    level below the top of ``cfg.energy_window_eV``. Heights may have either sign.
    """
    where = prefix.rstrip(".") or "the params block"
    if not isinstance(block, dict):
        raise InputError(f"{path}: {where} must be a JSON object with fields {', '.join(PARAM_FIELDS)}")
    missing = [k for k in PARAM_FIELDS if k not in block]
    if missing:
        raise InputError(f"{path}: missing field(s) {', '.join(prefix + k for k in missing)}")
    unknown = [k for k in block if k not in PARAM_FIELDS]
    if unknown:
        raise InputError(
            f"{path}: unknown field(s) {', '.join(prefix + k for k in unknown)} (expected {', '.join(PARAM_FIELDS)})"
        )
    lists = {}
    for key in ("heights_eV", "centers_nm", "widths_nm"):
        value, unit = block[key], PARAM_FIELDS[key]
        if not isinstance(value, list) or not value:
            raise InputError(
                f"{path}: field {prefix}{key} must be a non-empty list of numbers of {unit}, one per barrier"
            )
        lists[key] = [_number(path, f"{prefix}{key}[{i}]", v, unit) for i, v in enumerate(value)]
    lengths = {k: len(v) for k, v in lists.items()}
    if len(set(lengths.values())) != 1:
        raise InputError(
            f"{path}: fields {prefix}heights_eV, {prefix}centers_nm and {prefix}widths_nm must have one entry per "
            "barrier, got " + ", ".join(f"{n} {k}" for k, n in lengths.items())
        )
    for i, w in enumerate(lists["widths_nm"]):
        if w <= 0:
            raise InputError(f"{path}: field {prefix}widths_nm[{i}] must be > 0 nm, got {w:g}")
    for i, c in enumerate(lists["centers_nm"]):
        if not 0 <= c <= cfg.length_nm:
            raise InputError(
                f"{path}: field {prefix}centers_nm[{i}] = {c:g} nm lies outside the device [0, {cfg.length_nm:g}] nm"
            )
    ef = _number(path, f"{prefix}fermi_level_eV", block["fermi_level_eV"], "eV")
    e_max = cfg.energy_window_eV[1]
    if not 0 < ef < e_max:
        raise InputError(
            f"{path}: field {prefix}fermi_level_eV = {ef:g} eV must lie in (0, {e_max:g}) eV "
            "(above the conduction band edge, below the top of config.energy_window_eV)"
        )
    try:
        return as_params(BarrierParams(lists["heights_eV"], lists["centers_nm"], lists["widths_nm"], ef))
    except ValueError as err:  # anything the package's own checks add
        raise InputError(f"{path}: {err}") from None


def config_from_mapping(path: str, block) -> DeviceConfig:
    """A :class:`DeviceConfig` from a JSON "config" block (missing fields take their defaults)."""
    if not isinstance(block, dict):
        raise InputError(f"{path}: field config must be a JSON object of DeviceConfig fields")
    fields = {f.name for f in dataclasses.fields(DeviceConfig)}
    unknown = [k for k in block if k not in fields]
    if unknown:
        raise InputError(f"{path}: unknown field(s) {', '.join('config.' + k for k in unknown)}")
    kwargs = {}
    for key, value in block.items():
        if isinstance(getattr(DeviceConfig, key, None), tuple):  # JSON has lists, the dataclass tuples
            if not isinstance(value, list) or len(value) != 2:
                raise InputError(f"{path}: field config.{key} must be a list of two numbers, got {json.dumps(value)}")
            value = tuple(_number(path, f"config.{key}[{i}]", v, "") for i, v in enumerate(value))
        kwargs[key] = value
    try:
        return DeviceConfig(**kwargs)
    except (TypeError, ValueError) as err:
        raise InputError(f"{path}: field {str(err).replace('DeviceConfig.', 'config.')}") from None


def optional_array(path: str, block, key: str) -> np.ndarray | None:
    """``block[key]`` as a finite 1-D float array, None when absent; InputError naming the field otherwise."""
    if not isinstance(block, dict) or not isinstance(block.get(key), list):
        return None
    values = block[key]
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"{path}: field currents.{key} must be a list of numbers") from None
    if arr.ndim != 1 or not np.all(np.isfinite(arr)):
        raise InputError(f"{path}: field currents.{key} must be a list of finite numbers")
    return arr


def read_params_json(path: str) -> ParamsFile:
    """Read a design: a ``qtbm design`` result, or a JSON object with the params fields.

    A top-level ``"params"`` key marks a design result (its other keys are read only for
    ``"config"`` and ``"currents"``); otherwise the object itself is the params block and
    may carry a ``"config"`` block beside the four fields.
    """
    text = read_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(f"{path} line {err.lineno} column {err.colno}: invalid JSON ({err.msg})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object with fields {', '.join(PARAM_FIELDS)}")
    if "layers" in data or (isinstance(data.get("params"), dict) and "layers" in data["params"]):
        raise InputError(f'{path}: a layer stack (it has "layers"); simulate or design it with --model stack')
    has_config = "config" in data
    cfg = config_from_mapping(path, data["config"]) if has_config else DeviceConfig()
    if "params" in data:
        params = params_from_mapping(path, data["params"], cfg, prefix="params.")
        currents = data.get("currents")
        biases, target = optional_array(path, currents, "bias_V"), optional_array(path, currents, "target_uA")
    else:
        block = {k: v for k, v in data.items() if k != "config"}
        params = params_from_mapping(path, block, cfg)
        biases = target = None
    if biases is not None and (biases.size == 0 or np.any(biases < 0)):
        raise InputError(f"{path}: field currents.bias_V must hold biases >= 0 V")
    if target is not None and (biases is None or target.shape != biases.shape):
        target = None
    return ParamsFile(params, cfg, has_config, biases, target)


# --------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------
def iv_csv_text(biases, currents, columns=IV_COLUMNS) -> str:
    """CSV text in the format :func:`read_iv_csv` reads (floats in round-trip precision)."""
    lines = [",".join(columns)]
    lines += [f"{float(v)!r},{float(i)!r}" for v, i in zip(np.asarray(biases), np.asarray(currents))]
    return "\n".join(lines) + "\n"


def json_text(obj) -> str:
    """JSON indented by object, with each list on one line; NaN/inf are refused."""

    def encode(o, level: int) -> str:
        if isinstance(o, dict) and o:
            pad = "  " * (level + 1)
            items = [f"{pad}{json.dumps(str(k))}: {encode(v, level + 1)}" for k, v in o.items()]
            return "{\n" + ",\n".join(items) + "\n" + "  " * level + "}"
        return json.dumps(o, allow_nan=False, ensure_ascii=False)

    return encode(obj, 0) + "\n"


def check_output_path(path: str, option: str) -> None:
    """Raise :class:`InputError` unless ``path`` can be created or replaced as a file."""
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise InputError(f"{option} {path}: is a directory, not a file")
    if not os.path.isdir(directory):
        raise InputError(f"{option} {path}: directory {os.path.dirname(path) or '.'} does not exist")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise InputError(f"{option} {path}: directory {os.path.dirname(path) or '.'} is not writable")


def _default_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


class StagedOutputs:
    """Write several output files so that either all of them appear or none does.

    :meth:`stage` writes one file to a temporary file beside its destination;
    :meth:`commit` moves every staged file into place with ``os.replace`` (atomic per
    file on POSIX). Leaving the ``with`` block without committing, normally or by an
    exception, deletes the temporary files and leaves existing files untouched.
    """

    def __init__(self):
        self._staged: list[tuple[str, str]] = []

    def __enter__(self) -> "StagedOutputs":
        return self

    def __exit__(self, *exc) -> None:
        self.discard()

    def stage(self, path: str, write: Callable[[IO[bytes]], None]) -> None:
        """Call ``write`` with a binary file object whose content becomes ``path`` on commit."""
        directory = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, _default_file_mode())
        except BaseException:
            _remove(tmp)
            raise
        self._staged.append((tmp, path))

    def stage_text(self, path: str, text: str) -> None:
        self.stage(path, lambda f: f.write(text.encode("utf-8")))

    def commit(self) -> list[str]:
        """Move the staged files into place; returns their paths."""
        done = []
        while self._staged:
            tmp, path = self._staged.pop(0)
            os.replace(tmp, path)
            done.append(path)
        return done

    def discard(self) -> None:
        while self._staged:
            _remove(self._staged.pop()[0])


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def write_iv_csv(path: str, biases, currents) -> None:
    """Write I–V data atomically in the format of :func:`read_iv_csv`."""
    with StagedOutputs() as out:
        out.stage_text(path, iv_csv_text(biases, currents))
        out.commit()
