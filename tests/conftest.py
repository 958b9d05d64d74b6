"""Test-session set-up shared by all test modules."""

# Sets TensorFlow's C++ log level before any test module imports JAX (see pinn_sciann.compat);
# otherwise the PINN tests print graph-mode warnings. Imports neither TensorFlow nor SciANN.
import pinn_sciann  # noqa: F401
