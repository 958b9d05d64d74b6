"""Input checks for the public API and the command line: one module, one voice.

Every public function validates its inputs here, *before* anything is traced, so that a
bad argument raises a ``ValueError`` naming the argument instead of producing a NaN or a
traceback from deep inside XLA. Values that are JAX tracers (the caller is already
inside ``jit``/``grad``/``vmap``) cannot be inspected; for those only static properties
(shapes, sizes) are checked and value checks are skipped.

The command-line tool (:mod:`diffsim_jax.cli`) uses the same checks and turns their
``ValueError`` into one line on stderr and exit status 2, so the API and ``qtbm`` accept
and refuse the same things with the same words. Messages follow one pattern::

    <name> must <rule>, got <value>

with values written by :func:`fmt` (``0.6``, ``[0.1, nan]``, never ``np.float64(0.6)``).

Physical bounds (stated in docs/cli.md, "Limits"):

* temperatures in [0, 1000] K (:data:`TEMPERATURE_RANGE_K`): the materials tables are
  room-temperature parameters, and GaAs melts at 1511 K;
* layer thicknesses in (0, 1000] nm (:data:`MAX_LAYER_THICKNESS_NM`): coherent tunnelling
  devices are nanometre stacks; a thicker layer is a contact far beyond any phase
  coherence length, and no grid of a sane size resolves its electrons;
* at most :data:`MAX_BIASES` biases per sweep, and no computation whose estimated
  working memory exceeds :func:`memory_budget_bytes` (:func:`check_memory`).
"""

from __future__ import annotations

import math
import os

import numpy as np
import jax

#: Allowed temperatures (K), both ends included.
TEMPERATURE_RANGE_K = (0.0, 1000.0)
#: Largest layer thickness (nm) of a stack.
MAX_LAYER_THICKNESS_NM = 1000.0
#: Largest number of biases in one sweep.
MAX_BIASES = 100_000
#: Fraction of the physical memory one computation may plan to use.
MEMORY_FRACTION = 0.5


class InfeasibleError(ValueError):
    """Well-formed parameters the model cannot evaluate (e.g. a contact that is no longer
    charge-neutral). At the start of a design it is bad input; at a trial step of the
    optimisation loop (:func:`diffsim_jax.design.loop.optimize`) it is handled like a
    non-finite loss: the step is undone and retried shorter."""


class NotConvergedError(RuntimeError):
    """An iterative solver (e.g. the self-consistent Schrödinger–Poisson loop) did not reach its
    tolerance. At a trial step of the optimisation loop it is handled like
    :class:`InfeasibleError`; ``qtbm`` exits with status 3 for it."""


#: What the optimisation loop treats as a failed trial step (undone, retried shorter).
TRIAL_STEP_FAILURES = (InfeasibleError, NotConvergedError)


def fmt(x) -> str:
    """A value as messages show it: ``0.6``, ``1e+06``, ``[0.1, nan, …]`` (at most 6 entries),
    ``'abc'`` for text; never a NumPy repr such as ``np.float64(0.6)``."""
    if isinstance(x, (str, bytes)):
        return repr(x)
    if isinstance(x, bool) or x is None:
        return repr(x)
    if isinstance(x, jax.core.Tracer):
        return "<traced>"
    try:
        arr = np.asarray(x)
    except Exception:  # noqa: BLE001 — anything else: its plain repr
        return repr(x)
    if arr.dtype.kind in "biufc":
        if arr.ndim == 0:
            return f"{arr.item():g}" if arr.dtype.kind in "fc" else str(arr.item())
        flat = arr.ravel()
        items = [f"{v:g}" if arr.dtype.kind in "fc" else str(v) for v in flat[:6].tolist()]
        return "[" + ", ".join(items) + (", …" if flat.size > 6 else "") + "]"
    return repr(x)


def is_concrete(x) -> bool:
    """True when ``x`` holds concrete values (it is not an abstract JAX tracer)."""
    return not any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves(x))


def as_float_array(name: str, x) -> np.ndarray | jax.Array:
    """Return ``x`` as an array; for concrete input check that it is real and finite."""
    if not is_concrete(x):
        return x
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be real numbers, got {fmt(x)}") from err
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf, got {fmt(arr)}")
    return arr


def check_positive(name: str, x) -> None:
    """Raise if a concrete ``x`` is not finite and strictly positive."""
    arr = as_float_array(name, x)
    if is_concrete(arr) and not np.all(np.asarray(arr) > 0):
        raise ValueError(f"{name} must be > 0, got {fmt(x)}")


def check_nonnegative(name: str, x) -> None:
    """Raise if a concrete ``x`` is not finite and >= 0."""
    arr = as_float_array(name, x)
    if is_concrete(arr) and not np.all(np.asarray(arr) >= 0):
        raise ValueError(f"{name} must be >= 0, got {fmt(x)}")


def check_ndim(name: str, x, ndims: tuple[int, ...]) -> None:
    """Raise if ``x`` does not have one of the allowed numbers of dimensions."""
    nd = np.ndim(x)
    if nd not in ndims:
        allowed = " or ".join(f"{d}-D" for d in ndims)
        raise ValueError(f"{name} must be {allowed}, got shape {np.shape(x)}")


def check_range(name: str, x, low: float, high: float, unit: str = "", *, why: str = "") -> None:
    """Raise unless every concrete value of ``x`` is finite and lies in [low, high]."""
    arr = as_float_array(name, x)
    if not is_concrete(arr):
        return
    arr = np.asarray(arr)
    if np.all((arr >= low) & (arr <= high)):
        return
    bad = arr[(arr < low) | (arr > high)] if arr.ndim else arr
    u = f" {unit}" if unit else ""
    reason = f" ({why})" if why else ""
    raise ValueError(f"{name} must lie in [{low:g}, {high:g}]{u}{reason}, got {fmt(bad)}{u}")


def check_temperature(name: str, temperature_K) -> float:
    """A temperature in K as a Python float, inside :data:`TEMPERATURE_RANGE_K`."""
    if isinstance(temperature_K, jax.core.Tracer):
        raise ValueError(f"{name} must be a Python number (it is static), got a traced value")
    check_ndim(name, temperature_K, (0,))
    low, high = TEMPERATURE_RANGE_K
    check_range(name, temperature_K, low, high, "K", why="the materials tables hold room-temperature parameters")
    return float(temperature_K)


def check_thicknesses(name: str, thickness_nm) -> None:
    """Raise unless every concrete thickness lies in (0, :data:`MAX_LAYER_THICKNESS_NM`] nm."""
    check_positive(name, thickness_nm)
    arr = np.asarray(thickness_nm) if is_concrete(thickness_nm) else None
    if arr is not None and np.any(arr > MAX_LAYER_THICKNESS_NM):
        raise ValueError(
            f"{name} must be at most {MAX_LAYER_THICKNESS_NM:g} nm (1 µm: coherent tunnelling devices are "
            f"nanometre stacks), got {fmt(arr[arr > MAX_LAYER_THICKNESS_NM])} nm"
        )


def check_biases(name: str, biases, *, allow_scalar: bool = False):
    """Biases in V: 1-D (or 0-D with ``allow_scalar``), at most :data:`MAX_BIASES`, and for
    concrete values finite, >= 0 and strictly increasing. Returns them as an array."""
    check_ndim(name, biases, (0, 1) if allow_scalar else (1,))
    n = int(np.size(biases))
    if np.ndim(biases) == 1 and n == 0:
        raise ValueError(f"{name} must hold at least one bias, got an empty array")
    if n > MAX_BIASES:
        raise ValueError(f"{name} must be at most {MAX_BIASES} values, got {n}")
    arr = as_float_array(name, biases)
    if not is_concrete(arr):
        return arr
    arr = np.asarray(arr)
    if np.any(arr < 0):
        raise ValueError(f"{name} must be >= 0 V (forward bias), got {fmt(arr[arr < 0])} V")
    if arr.ndim == 1 and np.any(np.diff(arr) <= 0):
        k = int(np.argmax(np.diff(arr) <= 0))
        raise ValueError(
            f"{name} must be strictly increasing, got {arr[k + 1]:g} V after {arr[k]:g} V (entries {k} and {k + 1})"
        )
    return arr


def require_fields(where: str, mapping: dict, fields, hint: str = "") -> None:
    """Raise unless ``mapping`` has every key of ``fields`` (for JSON inputs: no silent defaults)."""
    missing = [f for f in fields if f not in mapping]
    if missing:
        s = "s" if len(missing) > 1 else ""
        raise ValueError(f"{where} is missing field{s} {', '.join(missing)}{'; ' + hint if hint else ''}")


def memory_budget_bytes() -> int:
    """:data:`MEMORY_FRACTION` of the machine's physical memory (bytes)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not POSIX: assume 8 GiB
        total = 8 * 2**30
    return int(MEMORY_FRACTION * total)


def human_bytes(n: float) -> str:
    """``3.2 GB`` style (powers of 1000)."""
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.3g} {unit}"
        n /= 1000.0
    return f"{n:.3g} PB"  # pragma: no cover


def check_memory(what: str, n_bytes: float, hint: str = "") -> None:
    """Refuse a computation whose estimated working memory exceeds :func:`memory_budget_bytes`."""
    budget = memory_budget_bytes()
    if not math.isfinite(n_bytes) or n_bytes > budget:
        raise ValueError(
            f"{what} needs about {human_bytes(n_bytes)} of memory, more than the {human_bytes(budget)} allowed "
            f"(half of this machine's memory){'; ' + hint if hint else ''}"
        )
