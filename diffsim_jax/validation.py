"""Input checks for the public API.

Every public function validates its inputs here, *before* anything is traced, so that a
bad argument raises a ``ValueError`` naming the argument instead of producing a NaN or a
traceback from deep inside XLA. Values that are JAX tracers (the caller is already
inside ``jit``/``grad``/``vmap``) cannot be inspected; for those only static properties
(shapes, sizes) are checked and value checks are skipped.
"""

from __future__ import annotations

import numpy as np
import jax


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
        raise ValueError(f"{name} must be real numbers, got {x!r}") from err
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf")
    return arr


def check_positive(name: str, x) -> None:
    """Raise if a concrete ``x`` is not finite and strictly positive."""
    arr = as_float_array(name, x)
    if is_concrete(arr) and not np.all(np.asarray(arr) > 0):
        raise ValueError(f"{name} must be > 0, got {x!r}")


def check_nonnegative(name: str, x) -> None:
    """Raise if a concrete ``x`` is not finite and >= 0."""
    arr = as_float_array(name, x)
    if is_concrete(arr) and not np.all(np.asarray(arr) >= 0):
        raise ValueError(f"{name} must be >= 0, got {x!r}")


def check_ndim(name: str, x, ndims: tuple[int, ...]) -> None:
    """Raise if ``x`` does not have one of the allowed numbers of dimensions."""
    nd = np.ndim(x)
    if nd not in ndims:
        allowed = " or ".join(f"{d}-D" for d in ndims)
        raise ValueError(f"{name} must be {allowed}, got shape {np.shape(x)}")
