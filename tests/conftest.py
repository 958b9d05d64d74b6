"""Test-session set-up shared by all test modules."""

# Sets TensorFlow's C++ log level before any test module imports JAX (see pinn_sciann.compat);
# otherwise the PINN tests print graph-mode warnings. Imports neither TensorFlow nor SciANN.
import pinn_sciann  # noqa: F401

import sys

import pytest


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_code():
    """Drop JAX's compiled executables after each test module.

    One pytest process runs ~600 tests that compile thousands of XLA programs; kept alive,
    they grew the process past 10 GB and XLA's compiler crashed late in the run (a
    segmentation fault in ``backend_compile_and_load``). Recompiling per module costs little.
    """
    yield
    jax = sys.modules.get("jax")
    if jax is not None:
        jax.clear_caches()
