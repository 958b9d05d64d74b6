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
