"""Test-session set-up shared by all test modules."""

# Sets TensorFlow's C++ log level before any test module imports JAX (see pinn_sciann.compat);
# otherwise the PINN tests print graph-mode warnings. Imports neither TensorFlow nor SciANN.
import pinn_sciann  # noqa: F401

import sys

import pytest


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_code():
    """Drop JAX's compiled executables after each test module.

    One pytest process runs ~600 tests that compile thousands of XLA programs. Kept alive,
    their JIT-code memory mappings grew by ~3 000 a minute towards the kernel's
    ``vm.max_map_count`` (65 530); late in the run a compile failed and the process crashed
    while unwinding its C++ exception (a segmentation fault under
    ``backend_compile_and_load``). With this, the count falls back to ~3 000 after each
    module; recompiling per module costs little.
    """
    yield
    jax = sys.modules.get("jax")
    if jax is not None:
        jax.clear_caches()
