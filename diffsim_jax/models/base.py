"""Device models: what the solver sees, and the models that produce it (physics.md §4, §9, §12).

The simulator is layered so that each layer can be read, tested and swapped alone:

1. **Solver input** (:class:`SolverInput`): the on-site potential U_j (eV) and the
   effective mass (scalar or per site, m0) on the uniform grid x_j = j·L/(N−1) over
   [0, L]. This is all :func:`diffsim_jax.physics.qtbm.transmission` and the currents need.
2. **Device models** map (parameters, bias) to a solver input. A model is a small frozen
   object with four methods:

   * ``solver_input(params, bias_V) -> SolverInput`` — pure and jit/vmap/grad-safe;
   * ``fermi_level_eV(params)`` — the emitter's Fermi level for these parameters;
   * ``normalization(init_params)`` — the optimiser's coordinates for this model, an
     object with ``zeros()`` and ``to_physical(z)`` (z = 0 is ``init_params``);
   * ``penalty(params)`` — a non-negative design penalty (0 when the design is valid).

   :class:`~diffsim_jax.models.box.BoxModel` is the paper's model (smooth boxes in a window, linear bias drop,
   physics.md §4). The layer-stack model (physics.md §9), the self-consistent model
   (§11) and free-form potentials (§12) implement the same four methods.
3. **Observables** (currents, I–V curves) take a model and parameters; **design**
   (:func:`diffsim_jax.design.design_model`) takes a model, a loss and an Optax optimiser.

Static numerics (grid size, window, quadrature) are plain hashable fields of the model;
physical quantities (device length, mass, edge width) are pytree leaves and can be
traced and differentiated.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

import jax


class SolverInput(NamedTuple):
    """What the QTBM solver needs (physics.md §3, §9).

    Attributes:
      potential_eV: (N,) total potential energy U_j on x_j = j·L/(N−1), bias drop included.
      m_eff: effective mass in units of m0: a scalar, or (N,) per-site masses.
      length_nm: the device length L.
    """

    potential_eV: jax.Array
    m_eff: Any
    length_nm: Any


class Normalization(Protocol):
    """Optimiser coordinates of a model: z (a pytree like the parameters, z = 0 at the start)."""

    def zeros(self) -> Any: ...

    def to_physical(self, z) -> Any: ...


class DeviceModel(Protocol):
    """What :func:`diffsim_jax.design.design_model` and the observables need of a model."""

    def solver_input(self, params, bias_V) -> SolverInput: ...

    def fermi_level_eV(self, params): ...

    def normalization(self, init_params) -> Normalization: ...

    def penalty(self, params): ...
