"""The SciANN import helper: silent (no banner on stdout, no TensorFlow start-up lines on
stderr), offline (no network connection), and the keras -> tf_keras.src alias through which
SciANN 0.7.0.1 runs on TensorFlow 2.21 (import, sn.diff, a tiny training)."""

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


HOOK_CODE = r"""
import numpy as np
from pinn_sciann.compat import import_sciann
sn = import_sciann()
import keras, tf_keras
from keras import backend as K
from keras.utils import data_utils  # a submodule SciANN imports lazily
assert keras is tf_keras.src and K is tf_keras.src.backend
assert keras.layers.Dense is tf_keras.src.layers.Dense
assert keras.__spec__.name == "tf_keras.src" and data_utils.__name__ == "tf_keras.src.utils.data_utils"

# sn.diff through the hook: d/dx of a network against central differences of the same network
sn.reset_session(); sn.set_floatx("float64"); sn.set_random_seed(3)
x = sn.Variable("x", dtype="float64")
f = sn.Functional("f", x, [8, 8], "tanh")
df = sn.diff(f, x)
fn = K.function(x.outputs, [f.outputs[0], df.outputs[0]])
xs = np.linspace(-1, 1, 7).reshape(-1, 1)
h = 1e-5
val, grad = fn([xs])
fd = (fn([xs + h])[0] - fn([xs - h])[0]) / (2 * h)
assert np.max(np.abs(grad - fd)) < 1e-8, np.max(np.abs(grad - fd))

# a tiny training (Adam, then SciPy L-BFGS-B) of f(x) = sin(2x) lowers the loss
model = sn.SciModel(x, [sn.Data(f)], optimizer="adam")
xt = np.linspace(-1, 1, 64).reshape(-1, 1)
h1 = model.train(xt, np.sin(2 * xt), epochs=30, batch_size=64, verbose=0, learning_rate=0.01)
model2 = sn.SciModel(x, [sn.Data(f)], optimizer="scipy-l-bfgs-b")
h2 = model2.train(xt, np.sin(2 * xt), epochs=30, batch_size=64, verbose=0)
first, last = h1.history["loss"][0], h2.history["loss"][-1]
assert last < 0.05 * first, (first, last)
print("HOOK OK")
"""


def test_keras_alias_hook_imports_differentiates_and_trains():
    """Under the hook, `keras` IS tf_keras.src (same module objects), sn.diff matches finite
    differences, Adam and L-BFGS-B train, and TensorFlow's start-up lines stay off stderr."""
    out = subprocess.run([sys.executable, "-c", HOOK_CODE], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "HOOK OK" in out.stdout
    noisy = [line for line in out.stderr.splitlines() if line.startswith(("I0000", "W0000")) or "cuInit" in line]
    assert not noisy, noisy[:3]
