"""Quiet, offline import of TensorFlow and SciANN (the only place either is imported).

SciANN 0.7.0.1 works on Python 3.11 with the pinned TensorFlow/Keras 2.12 without code
changes, but its ``import`` has three side effects that a library must not have:

* it prints a welcome banner to stdout (suppressed by ``SCIANN_WELCOME_MSG=-1``);
* it asks PyPI over the network whether a newer SciANN exists (``urllib`` with a 1 s
  timeout; blocked here by pointing that single check at an unroutable URL);
* TensorFlow's C++ logging floods stderr with graph-mode warnings
  (``TF_CPP_MIN_LOG_LEVEL=2`` keeps errors, drops INFO and WARNING).

The log level must be in the environment before *JAX* is imported, not only before
TensorFlow: jaxlib's copy of the C++ logging reads ``TF_CPP_MIN_LOG_LEVEL`` once and
TensorFlow then uses that value (measured: importing ``diffsim_jax`` first and setting the
variable afterwards leaves 13 ``c_api.cc`` warnings in a two-step training; setting it first
leaves none). :func:`quiet_logging_env` is therefore called when ``pinn_sciann`` is imported,
and ``reproduce.py`` calls it before it imports anything else.

It also switches TensorFlow to graph mode (``disable_eager_execution``) for the whole
process; nothing else in this project uses TensorFlow, and ``diffsim_jax`` never imports it.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from unittest import mock

_SCIANN = None
TF_LOG_LEVEL = "2"


def quiet_logging_env() -> None:
    """Set TensorFlow's C++ log level (and SciANN's banner switch) unless the user set them."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", TF_LOG_LEVEL)
    os.environ.setdefault("SCIANN_WELCOME_MSG", "-1")


def import_sciann():
    """Import and return the ``sciann`` module, silently and without network access."""
    global _SCIANN
    if _SCIANN is not None:
        return _SCIANN
    quiet_logging_env()

    def _no_network(*_args, **_kwargs):
        raise OSError("pinn_sciann: SciANN's PyPI version check is disabled")

    with mock.patch("urllib.request.urlopen", _no_network), contextlib.redirect_stdout(io.StringIO()):
        import sciann  # noqa: PLC0415

    import tensorflow as tf  # noqa: PLC0415

    tf.get_logger().setLevel("ERROR")
    _SCIANN = sciann
    return sciann


@contextlib.contextmanager
def quiet_stdout(enabled: bool = True):
    """Swallow SciANN's unconditional prints (e.g. "Total samples: …" on every ``train``)."""
    if not enabled:
        yield
        return
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def sciann_loaded() -> bool:
    """True once SciANN has been imported (by this module or anyone else)."""
    return "sciann" in sys.modules
