"""The SciANN import helper: silent (no banner on stdout) and offline (no network connection)."""

import subprocess
import sys

CODE = r"""
import socket
calls = []
real = socket.create_connection
def spy(*a, **k):
    calls.append(a)
    return real(*a, **k)
socket.create_connection = spy
from pinn_sciann.compat import import_sciann
sn = import_sciann()
import tensorflow as tf
assert hasattr(sn, "SciModel") and not tf.executing_eagerly()
print("CONNECTIONS", len(calls))
"""


def test_import_sciann_is_quiet_and_offline():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "CONNECTIONS 0", out.stdout


LOG_LEVEL_CODE = r"""
import os, sys
seen = {}

class Spy:
    # records TF_CPP_MIN_LOG_LEVEL at the moment JAX is first imported
    def find_spec(self, name, path=None, target=None):
        if name in ("jax", "jaxlib") and name not in seen:
            seen[name] = os.environ.get("TF_CPP_MIN_LOG_LEVEL")
        return None

sys.meta_path.insert(0, Spy())
import pinn_sciann
import diffsim_jax
print("LEVEL", seen.get("jax"), seen.get("jaxlib"))
"""


def test_log_level_is_set_before_jax_is_imported():
    """jaxlib fixes TensorFlow's C++ log level when it loads, so pinn_sciann must set it first."""
    import os

    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    out = subprocess.run([sys.executable, "-c", LOG_LEVEL_CODE], capture_output=True, text=True,
                         check=True, env=env)
    assert out.stdout.strip() == "LEVEL 2 2", out.stdout
