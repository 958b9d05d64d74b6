"""The layer-stack device model on finite elements: abrupt interfaces as moving mesh nodes (physics.md §14.7).

A sibling of :class:`~diffsim_jax.models.stack.StackModel` (same :class:`StackParams`, the
same materials table and bias drop) whose solver is :mod:`diffsim_jax.physics.fem`:

* every interface z_k of the stack is an element end (a breakpoint), so the band offset
  ΔE_c(x_k) and the mass m*(x_k) are *abrupt* — no smoothing width δ;
* inside layer k, U(x) = ΔE_c(x_k) + U_V(x) with the bias drop U_V of
  :meth:`StackModel.bias_potential` (linear in x, so its quadrature is exact), and
  m(x) = m*(x_k);
* the mesh topology (:class:`~diffsim_jax.physics.fem.FemMesh`) is fixed once from
  concrete reference parameters (:meth:`StackFemModel.mesh`); the element ends follow the
  interfaces, so J and T are smooth functions of every thickness and d J/d thickness is
  the exact derivative of the discrete model.

The current (:func:`current_density_curve_fem`) is the Tsu–Esaki integral of physics.md
eq. 10.3 on the project's resonance-adapted energy grid (:mod:`.physics.energy_grid`,
:func:`.physics.thermal.integration_window`, :func:`.physics.statistics.supply_function`),
with 𝒯 from finite elements at the grid's nodes. The grid's resonance search (which only
decides where the energy nodes go, under ``stop_gradient``) runs on the finite-difference
lattice of the smooth-interface profile of the same stack (``search_points`` points).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ..physics import fem
from ..physics.constants import TSU_ESAKI_A_PER_CM2_EV2
from ..physics.energy_grid import EnergyGridConfig, locate_resonances, mapped_grid
from ..physics.layers import Stack
from ..physics.materials import ALGAAS
from ..physics.statistics import supply_function, thermal_energy_eV
from ..physics.thermal import integration_window
from .stack import StackModel, StackParams

#: The mesh resolves 𝒯 to ``tol`` up to E_F + MESH_TAIL_KT·k_BT (the supply there is e^{−15} of its peak).
MESH_TAIL_KT = 15.0


@dataclasses.dataclass(frozen=True)
class StackFemModel:
    """Finite-element layer-stack model (module docstring). All fields are static.

    Attributes:
      order: element degree p (physics.md §14.2).
      tol: target |ΔT| of the graded mesh (physics.md eq. 14.8) at energies up to
        E_F + MESH_TAIL_KT·k_BT (above that the Tsu–Esaki supply is below e^{−15}).
      materials, bias_drop, contact_layers: as in :class:`StackModel`.
      search_points: grid points of the smooth finite-difference lattice on which the
        energy grid's resonance search runs (node placement only).
      fixed_mesh: a mesh topology fixed once (:meth:`with_mesh`), so J(V) is jit/grad-safe in the
        parameters without concrete values — the model a design passes to :func:`.design.iv_loss`
        and :func:`.observables.current_density_curve` (one switch with :class:`StackModel`); None:
        built from the concrete parameters at each call (:meth:`mesh`).
    """

    order: int = 3
    tol: float = 1e-6
    materials: Any = ALGAAS
    bias_drop: str = "active"
    contact_layers: tuple = (1, 1)
    search_points: int = 400
    fixed_mesh: fem.FemMesh | None = None

    def __post_init__(self):
        if self.order not in fem.SUPPORTED_ORDERS:
            raise ValueError(f"order must be one of {fem.SUPPORTED_ORDERS}, got {self.order!r}")
        if not self.tol > 0:
            raise ValueError(f"tol must be > 0, got {self.tol!r}")
        if not (isinstance(self.search_points, int) and self.search_points >= 3):
            raise ValueError(f"search_points must be an integer >= 3, got {self.search_points!r}")
        object.__setattr__(self, "contact_layers", tuple(self.contact_layers))
        self.fd_model()  # validates bias_drop and contact_layers

    def fd_model(self, n_points: int | None = None) -> StackModel:
        """The finite-difference :class:`StackModel` with the same materials and bias drop."""
        return StackModel(n_points=n_points or self.search_points, materials=self.materials, bias_drop=self.bias_drop,
                          contact_layers=self.contact_layers)

    # ---------------------------------------------------------------- fields on [0, L]
    def fields(self, stack: Stack, bias_V):
        """(U(x) in eV, m(x) in m0) as vectorised callables: abrupt per layer, plus the bias drop."""
        interfaces = stack.interfaces_nm
        band = self.materials.band_edge_eV(stack.al_fraction)
        mass = self.materials.mass(stack.al_fraction)
        drop = self.fd_model()

        def layer(x):
            return jnp.sum(x[..., None] > interfaces, axis=-1)

        return (lambda x: band[layer(x)] + drop.bias_potential(stack, x, bias_V)), (lambda x: mass[layer(x)])

    def mesh(self, params: StackParams, max_bias_V: float, temperature_K: float) -> fem.FemMesh:
        """The graded mesh (physics.md eq. 14.8) for biases 0 … ``max_bias_V`` and energies up to
        E_F + MESH_TAIL_KT·k_BT, from concrete ``params``: graded on the zero-bias profile over an energy
        range widened by the largest bias, which bounds |E − U| at every bias."""
        stack = params.stack
        u, m = self.fields(stack, 0.0)
        kT = float(thermal_energy_eV(temperature_K))
        e_hi = float(params.fermi_level) + MESH_TAIL_KT * kT + abs(float(max_bias_V))
        energies = np.array([-abs(float(max_bias_V)), e_hi])
        return fem.graded_mesh(u, m, energies, float(stack.length_nm), np.asarray(stack.interfaces_nm), self.order, self.tol)

    def with_mesh(self, params: StackParams, max_bias_V: float, temperature_K: float) -> "StackFemModel":
        """This model with its mesh topology fixed from concrete ``params`` (:meth:`mesh`): the element ends then
        follow the thicknesses of any later parameters, so J and its gradient are exact and traceable."""
        return dataclasses.replace(self, fixed_mesh=self.mesh(params, max_bias_V, temperature_K))

    def penalty(self, params: StackParams):
        """The design loss's constraint term (:func:`.design.iv_loss`): none, as :meth:`StackModel.penalty`."""
        return self.fd_model().penalty(params)

    def problem(self, params: StackParams, bias_V, energies, mesh: fem.FemMesh) -> fem.FemProblem:
        """The validated finite-element problem at one bias (traceable in params, bias and energies)."""
        u, m = self.fields(params.stack, bias_V)
        return fem.prepare(u, energies, params.stack.length_nm, m, self.order, breakpoints_nm=params.stack.interfaces_nm,
                           mesh=mesh)

    def transmission(self, params: StackParams, bias_V, energies, mesh: fem.FemMesh):
        """𝒯(E) (M,) at one bias (physics.md eq. 14.4)."""
        p = self.problem(params, bias_V, energies, mesh)
        return fem.transmission_on_mesh(p.nodes, p.u_q, p.c_q, p.leads, p.energies, self.order)


def current_density_fem(model: StackFemModel, params: StackParams, bias_V, kT, mesh: fem.FemMesh,
                        grid: EnergyGridConfig = EnergyGridConfig()):
    """Tsu–Esaki J in A/cm² at one bias (physics.md eq. 10.3) with 𝒯 from finite elements; kT > 0 in eV."""
    stack = params.stack
    u, m = model.fields(stack, bias_V)
    ends = jnp.stack([u(jnp.zeros(())), u(stack.length_nm)])
    e_lo, e_hi, mu_l, mu_r = integration_window(ends, params.fermi_level, bias_V, kT)
    fd = model.fd_model().solver_input(params, bias_V)
    sg = lax.stop_gradient

    def importance(e):
        return jnp.abs(supply_function(e, sg(mu_l), sg(mu_r), sg(kT)))

    res = locate_resonances(fd.potential_eV, fd.length_nm, fd.m_eff, e_lo, e_hi, (mu_l, mu_r), kT, importance, grid)
    nodes, weights = mapped_grid(e_lo, e_hi, res, (mu_l, mu_r), kT, grid)
    p = fem.prepare(u, nodes, stack.length_nm, m, model.order, breakpoints_nm=stack.interfaces_nm, mesh=mesh)
    trans = fem.transmission_on_mesh(p.nodes, p.u_q, p.c_q, p.leads, p.energies, model.order)
    m_left = model.materials.mass(stack.al_fraction[0])
    return TSU_ESAKI_A_PER_CM2_EV2 * m_left * jnp.sum(weights * trans * supply_function(nodes, mu_l, mu_r, kT))


def current_density_curve_fem(model: StackFemModel, params: StackParams, biases, temperature_K: float,
                              mesh: fem.FemMesh | None = None, grid: EnergyGridConfig = EnergyGridConfig()):
    """J(V_i) in A/cm² at ``temperature_K`` > 0 (static) on finite elements; jit/vmap/grad-safe in ``params``
    and ``biases`` once the mesh is fixed (``mesh``, else ``model.fixed_mesh``, else :meth:`StackFemModel.mesh`
    at concrete ``params``)."""
    if not float(temperature_K) > 0:
        raise ValueError(f"temperature_K must be > 0 (the finite-element current has no T = 0 path), got {temperature_K!r}")
    mesh = model.fixed_mesh if mesh is None else mesh
    if mesh is None:
        mesh = model.mesh(params, float(np.max(np.abs(np.asarray(biases)))), float(temperature_K))
    return _curve(model, params, jnp.asarray(biases, jnp.float64), thermal_energy_eV(float(temperature_K)), mesh, grid)


@functools.partial(jax.jit, static_argnames=("model", "mesh", "grid"))
def _curve(model, params, biases, kT, mesh, grid):
    return jax.vmap(lambda v: current_density_fem(model, params, v, kT, mesh, grid))(biases)

