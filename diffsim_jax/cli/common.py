"""Shared pieces of the ``qtbm`` commands: argument types, output checks, summaries (docs/cli.md)."""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import sys

import numpy as np

from .. import validation as val
from ..design.metrics import mean_power_uW, peak_to_valley_ratio
from ..observables import validate_stack_inputs
from .io import InputError, check_output_path
from .plot import plot_iv_and_potential, supported_formats

PROG = "qtbm"
DEFAULT_BIASES = "0:0.6:25"
DEFAULT_START = (
    "the paper's original RTD: two 0.3 eV high, 2 nm wide barriers centred at 7.4 nm and 12.6 nm, "
    "Fermi level 0.1 eV"
)
LOSS_SAMPLES = 40

#: Exit statuses (docs/cli.md, "Exit status and outputs"): bad input, a design that did not
#: converge (best-so-far written), interrupted.
EXIT_BAD_INPUT = 2
EXIT_NOT_CONVERGED = 3
EXIT_INTERRUPTED = 130



# --------------------------------------------------------------------------------------
# Argument types
# --------------------------------------------------------------------------------------
def int_at_least(minimum: int):
    """An argparse type: an integer >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}")
        return value

    return parse


def nonnegative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value


def bias_list(text: str) -> np.ndarray:
    """``START:STOP:N`` (N equally spaced biases, both ends included) or ``V1,V2,…``, in V;
    checked by :func:`diffsim_jax.validation.check_biases` (N is checked before the array is made)."""
    try:
        if ":" in text:
            start, stop, count = text.split(":")
            start, stop, n = float(start), float(stop), int(count)
            if n < 1:
                raise ValueError
        else:
            biases = np.array([float(v) for v in text.split(",")])
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected START:STOP:N (e.g. {DEFAULT_BIASES}) or a comma-separated list of biases in V, got {text!r}"
        ) from None
    try:
        if ":" in text:
            if n > val.MAX_BIASES:
                raise ValueError(f"biases must be at most {val.MAX_BIASES} values, got {n}")
            biases = np.round(np.linspace(start, stop, n), 12)  # 0.1, not 0.09999999999999999
        return val.check_biases("biases", biases)
    except ValueError as err:
        message = str(err).removeprefix("biases ")
        raise argparse.ArgumentTypeError(f"{text!r}: biases {message}") from None


# --------------------------------------------------------------------------------------
# Outputs and summaries
# --------------------------------------------------------------------------------------
def same_file(a: str, b: str) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def check_outputs(outputs: dict[str, str | None], inputs: list[str]) -> dict[str, str]:
    """Validate output paths before any work: writable location, distinct, not an input.

    ``outputs`` maps an option name ("--out") to its path (``None`` = not requested).
    Returns option → image format for the paths of "--plot".
    """
    given = [(opt, path) for opt, path in outputs.items() if path]
    formats = {}
    for k, (opt, path) in enumerate(given):
        check_output_path(path, opt)
        for src in inputs:
            if src and same_file(path, src):
                raise InputError(f"{opt} {path}: would overwrite the input file {src}")
        for other, other_path in given[:k]:
            if same_file(path, other_path):
                raise InputError(f"{opt} {path}: same file as {other}")
        if opt == "--plot":
            fmt = os.path.splitext(path)[1].lstrip(".").lower()
            if fmt not in supported_formats():
                raise InputError(f"{opt} {path}: unknown image format {fmt!r}; use a .png, .pdf or .svg name")
            formats[opt] = fmt
    return formats


def finite_or_none(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def loss_summary(history: np.ndarray, n_samples: int = LOSS_SAMPLES) -> dict:
    """First, minimum and last loss and about ``n_samples`` (iteration, loss) pairs, log-spaced."""
    n = history.size
    finite = np.isfinite(history)
    idx = np.unique(np.round(np.geomspace(1, n, min(n, n_samples))).astype(int) - 1)
    return {
        "first": finite_or_none(history[0]),
        "min": finite_or_none(np.min(history[finite])) if finite.any() else None,
        "min_iteration": int(np.argmin(np.where(finite, history, np.inf))),
        "last": finite_or_none(history[-1]),
        "non_finite_steps": int(np.sum(~finite)),
        "samples": [[int(i), finite_or_none(history[i])] for i in idx],
    }


def iv_figures_of_merit(biases, currents) -> dict:
    i = np.asarray(currents, float)
    k = int(np.argmax(i))
    return {
        "peak_uA": float(i[k]),
        "peak_bias_V": float(np.asarray(biases)[k]),
        "peak_to_valley_ratio": peak_to_valley_ratio(biases, i),
        "mean_power_uW": mean_power_uW(biases, i),
    }


def sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def params_lines(params) -> list[str]:
    d = params.to_dict()
    lines = [
        f"  barrier {j + 1}: height {h:.4f} eV, centre {c:.3f} nm, width {w:.3f} nm"
        for j, (h, c, w) in enumerate(zip(d["heights_eV"], d["centers_nm"], d["widths_nm"]))
    ]
    return lines + [f"  Fermi level {d['fermi_level_eV']:.4f} eV"]


def stage_plot(out, path, fmt, **kwargs) -> None:
    out.stage(path, lambda f: plot_iv_and_potential(f, fmt, **kwargs))


def error_status(message: str) -> int:
    """Print ``qtbm: error: MESSAGE`` (one line) on stderr and return the bad-input status 2."""
    print(f"{PROG}: error: {' '.join(str(message).split())}", file=sys.stderr)
    return EXIT_BAD_INPUT


def check_stack_work(path: str, model, params, biases, temperature_K: float, self_consistent: bool) -> None:
    """:func:`diffsim_jax.observables.validate_stack_inputs` before any work, as an InputError naming
    ``path`` (thicknesses, grid, temperature, biases, memory; the self-consistent sweep solves one
    bias at a time)."""
    try:
        validate_stack_inputs(model, params, biases, temperature_K, at_once=not self_consistent)
    except ValueError as err:
        raise InputError(f"{path}: {err}") from None


def progress_option(quiet: bool) -> bool | None:
    """``progress=`` of the library: never with --quiet, else only when stderr is a terminal."""
    return False if quiet else None


def not_converged_status(message: str, written: list[str]) -> int:
    """Print ``qtbm: design did not converge: …`` (one line) on stderr and return status 3."""
    print(f"{PROG}: design did not converge: {' '.join(str(message).split())}; best-so-far result written to "
          f"{', '.join(written)}", file=sys.stderr)
    return EXIT_NOT_CONVERGED
