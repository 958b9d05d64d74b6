"""Quiet, offline import of TensorFlow and SciANN (the only place either is imported).

SciANN 0.7.0.1 was written for the standalone Keras 2.x API (``import keras``,
``keras.engine``-era module paths). Keras 3 (the ``keras`` that TensorFlow ≥ 2.16 installs)
has a different API, so SciANN cannot import it. The Keras 2 code lives on as the
``tf_keras`` package (same version as TensorFlow); its implementation modules are under
``tf_keras.src`` with exactly the old ``keras.*`` layout (``keras.backend``,
``keras.utils.data_utils``, ``keras.layers`` …). :func:`install_keras_alias` puts an import
hook at the front of ``sys.meta_path`` that makes ``keras`` and every ``keras.X`` resolve to
``tf_keras.src`` and ``tf_keras.src.X`` — the very same module objects, nothing patched on
disk — and sets ``TF_USE_LEGACY_KERAS=1`` so that ``tensorflow.keras`` is tf_keras as well.
The hook is installed by :func:`import_sciann`, before SciANN is imported, and stays for the
life of the process (SciANN imports Keras modules lazily). In that process ``import keras``
gives Keras 2 (tf_keras), not Keras 3; nothing else in this project imports Keras.

SciANN also imports ``parse_version`` from ``pkg_resources``, which Python ≥ 3.12 venvs
(no setuptools) and setuptools ≥ 82 no longer have; :func:`ensure_pkg_resources` supplies
that one name from ``packaging`` when the module is missing.

Besides, SciANN's ``import`` has three side effects that a library must not have:

* it prints a welcome banner to stdout (suppressed by ``SCIANN_WELCOME_MSG=-1``);
* it asks PyPI over the network whether a newer SciANN exists (``urllib`` with a 1 s
  timeout; blocked here by making that single call fail at once);
* TensorFlow's C++ logging floods stderr with graph-mode warnings
  (``TF_CPP_MIN_LOG_LEVEL=2`` keeps errors, drops INFO and WARNING); the INFO lines that
  TensorFlow ≥ 2.17 prints while it loads, before that setting is read, are filtered out of
  file descriptor 2 during the import (:func:`native_stderr_filtered`).

The log level must be in the environment before *JAX* is imported, not only before
TensorFlow: jaxlib's copy of the C++ logging reads ``TF_CPP_MIN_LOG_LEVEL`` once and
TensorFlow then uses that value (measured with TF 2.12: importing ``diffsim_jax`` first and
setting the variable afterwards left 13 ``c_api.cc`` warnings in a two-step training;
setting it first left none). :func:`quiet_logging_env` is therefore called when
``pinn_sciann`` is imported, and ``reproduce.py`` calls it before it imports anything else.

SciANN also switches TensorFlow to graph mode (``disable_eager_execution``) for the whole
process; nothing else in this project uses TensorFlow, and ``diffsim_jax`` never imports it.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.abc
import importlib.util
import io
import os
import re
import sys
import tempfile
from unittest import mock

_SCIANN = None
TF_LOG_LEVEL = "2"
#: The package whose implementation modules stand in for ``keras`` (see module docstring).
KERAS2_PACKAGE = "tf_keras.src"


def quiet_logging_env() -> None:
    """Set TensorFlow's C++ log level (and SciANN's banner switch) unless the user set them."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", TF_LOG_LEVEL)
    os.environ.setdefault("SCIANN_WELCOME_MSG", "-1")


class KerasAlias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Import hook: ``keras`` → ``tf_keras.src`` and ``keras.X`` → ``tf_keras.src.X``.

    ``find_spec`` answers only for ``keras`` and its submodules; ``create_module`` imports
    the real module and returns that very object, so ``keras.layers.Dense is
    tf_keras.src.layers.Dense``; ``exec_module`` restores the real module's ``__spec__``
    (the import system overwrote it with the alias's spec).
    """

    def __init__(self, target: str = KERAS2_PACKAGE):
        self.target = target
        self._real_specs: dict = {}

    def real_name(self, name: str) -> str:
        return self.target + name[len("keras"):]

    def find_spec(self, name, path=None, target=None):
        if name != "keras" and not name.startswith("keras."):
            return None
        real = importlib.util.find_spec(self.real_name(name))
        if real is None:
            return None
        return importlib.util.spec_from_loader(name, self, is_package=real.submodule_search_locations is not None)

    def create_module(self, spec):
        module = importlib.import_module(self.real_name(spec.name))
        self._real_specs[module.__name__] = module.__spec__
        return module

    def exec_module(self, module):
        module.__spec__ = self._real_specs.pop(module.__name__, module.__spec__)


def ensure_pkg_resources() -> None:
    """Give SciANN the one name it imports from ``pkg_resources`` (``parse_version``) when
    that module is absent: venvs of Python ≥ 3.12 have no setuptools, and setuptools ≥ 82
    no longer ships ``pkg_resources``. SciANN uses it only to sort PyPI release strings in
    its (here disabled) version check; ``packaging.version.Version`` does the same. A real
    ``pkg_resources`` is always preferred."""
    if "pkg_resources" in sys.modules or importlib.util.find_spec("pkg_resources") is not None:
        return
    import types  # noqa: PLC0415

    from packaging.version import Version  # noqa: PLC0415

    shim = types.ModuleType("pkg_resources", "pinn_sciann.compat stand-in: parse_version only")
    shim.parse_version = Version
    sys.modules["pkg_resources"] = shim


def keras_alias_active() -> bool:
    return any(isinstance(f, KerasAlias) for f in sys.meta_path)


def install_keras_alias() -> None:
    """Make ``import keras`` give Keras 2 (tf_keras) in this process; idempotent.

    Raises ``ImportError`` naming the missing package when ``tf_keras`` is not installed.
    Modules already imported as ``keras.*`` (Keras 3) are dropped from ``sys.modules`` so
    that later imports see the alias.
    """
    if keras_alias_active():
        return
    if importlib.util.find_spec("tf_keras") is None:
        raise ImportError("pinn_sciann needs the tf-keras package (Keras 2 for TensorFlow >= 2.16); "
                          "install the pinned requirements.txt")
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    for name in [m for m in sys.modules if m == "keras" or m.startswith("keras.")]:
        if not getattr(sys.modules[name], "__name__", "").startswith(KERAS2_PACKAGE):
            del sys.modules[name]
    sys.meta_path.insert(0, KerasAlias())


#: Lines of TensorFlow's native (absl) logger that carry no information for a CPU run:
#: INFO and WARNING records ("I0000 00:00:… port.cc:153] oneDNN custom operations are on …"),
#: absl's notice that it was not initialised yet, and the error record of the CUDA probe
#: ("E0000 … cuda_platform.cc:52] failed call to cuInit …") that the `tensorflow` wheel
#: prints on a machine without a GPU. TensorFlow ≥ 2.17 prints them while it loads and
#: when it first lists its devices, before its logging reads ``TF_CPP_MIN_LOG_LEVEL``, so
#: no environment variable silences them.
_NATIVE_INFO = re.compile(
    r"^([IW]\d{4} \d\d:\d\d:\d+\.\d+ |E\d{4} \d\d:\d\d:\d+\.\d+ .*cuda_platform\.cc:\d+\] failed call to cuInit"
    r"|WARNING: All log messages before absl::InitializeLog)"
)


@contextlib.contextmanager
def native_stderr_filtered():
    """Run the block with file descriptor 2 captured; afterwards write every captured line
    that is not :data:`_NATIVE_INFO` to ``sys.stderr`` (errors and anything unexpected stay visible)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            text = tmp.read().decode("utf-8", errors="replace")
    kept = [line for line in text.splitlines(keepends=True) if not _NATIVE_INFO.match(line)]
    if kept:
        sys.stderr.write("".join(kept))


def import_sciann():
    """Import and return the ``sciann`` module, silently and without network access."""
    global _SCIANN
    if _SCIANN is not None:
        return _SCIANN
    quiet_logging_env()
    install_keras_alias()
    ensure_pkg_resources()

    def _no_network(*_args, **_kwargs):
        raise OSError("pinn_sciann: SciANN's PyPI version check is disabled")

    with native_stderr_filtered():
        import tensorflow as tf  # noqa: PLC0415

        tf.config.list_physical_devices()  # the device probe (and its CUDA message) happens here

        with mock.patch("urllib.request.urlopen", _no_network), contextlib.redirect_stdout(io.StringIO()):
            import sciann  # noqa: PLC0415

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
