"""Save and load a :class:`PINNResult` as ``result.npz`` (arrays) + ``result.json`` (the rest).

The JSON file holds the configuration, the scalars, the stage boundaries and the figure-2
metrics, so that a reader sees what was run without NumPy; the NPZ file holds every array.
``load_result(save_result(r, d))`` gives back arrays equal to the saved ones, the same
config and the same scalars.
"""

from __future__ import annotations

import json
import os

import numpy as np

from .config import PINNConfig
from .result import PINNResult, fig2_metrics

NPZ_NAME = "result.npz"
JSON_NAME = "result.json"
FORMAT_VERSION = 1

_ARRAYS = ("x", "potential", "energies", "target_transmission", "pinn_transmission", "fd_transmission",
           "ramp_transmission", "reference_potential", "history_step", "history_seconds",
           "fourier_matrix_psi", "fourier_matrix_u")
_DICTS = ("loss_history", "monitor")


def save_result(result: PINNResult, directory) -> str:
    """Write ``result.npz`` and ``result.json`` into ``directory`` (created if needed); return it."""
    directory = os.fspath(directory)
    os.makedirs(directory, exist_ok=True)
    arrays = {name: np.asarray(getattr(result, name)) for name in _ARRAYS}
    for group in _DICTS:
        for key, value in getattr(result, group).items():
            arrays[f"{group}/{key}"] = np.asarray(value)
    np.savez_compressed(os.path.join(directory, NPZ_NAME), **arrays)
    meta = {
        "format_version": FORMAT_VERSION,
        "config": result.config.to_dict(),
        "train_seconds": float(result.train_seconds),
        "stage_starts": {k: int(v) for k, v in result.stage_starts.items()},
        "metrics": fig2_metrics(result),
        "hyperparameters": [list(row) for row in result.config.hyperparameter_rows()],
    }
    with open(os.path.join(directory, JSON_NAME), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=2)
    return directory


def load_result(directory) -> PINNResult:
    """Read a result written by :func:`save_result`; ``ValueError`` if the files are incomplete."""
    directory = os.fspath(directory)
    npz_path = os.path.join(directory, NPZ_NAME)
    json_path = os.path.join(directory, JSON_NAME)
    for path in (npz_path, json_path):
        if not os.path.isfile(path):
            raise ValueError(f"no saved PINN result: {path} is missing")
    with open(json_path, encoding="utf-8") as f:
        meta = json.load(f)
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{json_path}: unsupported format_version {meta.get('format_version')!r}")
    with np.load(npz_path) as data:
        missing = [name for name in _ARRAYS if name not in data.files]
        if missing:
            raise ValueError(f"{npz_path} lacks array(s) {', '.join(missing)}")
        fields = {name: np.array(data[name]) for name in _ARRAYS}
        for group in _DICTS:
            prefix = f"{group}/"
            fields[group] = {k[len(prefix):]: np.array(data[k]) for k in data.files if k.startswith(prefix)}
    return PINNResult(
        **fields,
        stage_starts=dict(meta["stage_starts"]),
        config=PINNConfig.from_dict(meta["config"]),
        train_seconds=float(meta["train_seconds"]),
    )
