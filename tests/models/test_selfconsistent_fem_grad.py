"""Implicit-function gradients through the finite-element self-consistent fixed point (physics.md eqs. 11.5,
14.15a): reverse-mode gradients of J, of the well's sheet density and of U_H in the well with respect to a
barrier thickness (moving interface nodes), an Al fraction and the contact dopings against central
differences of converged solutions on the same mesh topology; independence of the gradient from the path
the fixed-point iteration took; the traced path returns the concrete solution's values."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffsim_jax.models import selfconsistent_fem as scf
from diffsim_jax.physics import fem
from diffsim_jax.physics.fem_density import FemDensityConfig
from diffsim_jax.physics.layers import Layer, Stack

# a small double-barrier RTD: 20 nm n⁺ / 3 / 2 nm Al0.3 / 4 nm well / 2 nm Al0.3 / 3 / 20 nm n⁺, at 0.1 V
STACK = Stack([Layer(20, 0, 1e18), Layer(3, 0, 0), Layer(2, 0.3, 0), Layer(4, 0, 0), Layer(2, 0.3, 0), Layer(3, 0, 0),
               Layer(20, 0, 1e18)])
BIAS = 0.1
WELL = 3  # layer index
# a coarse mesh and energy grid (the gradient is that of the discrete model, whatever its accuracy);
# tol_eV = 1e-11 so that central differences of converged solutions are accurate
CONFIG = scf.FemSolverConfig(order=3, tol=1e-4, tol_eV=1e-11, max_iterations=100, density=FemDensityConfig(n_panels=24))
ARRAYS = (STACK.thickness_nm, STACK.al_fraction, STACK.doping_cm3)
# (field of ARRAYS, layer, central-difference step)
PARAMETERS = {
    "emitter barrier thickness": (0, 2, 1e-3),  # nm; its two interfaces are moving mesh nodes
    "emitter barrier Al fraction": (1, 2, 1e-4),
    "emitter contact doping": (2, 0, 1e15),  # cm⁻³
    "collector contact doping": (2, 6, 1e15),
}


@pytest.fixture(scope="module")
def base():
    sol = scf.solve_self_consistent_fem(STACK, BIAS, config=CONFIG)
    assert sol.converged and sol.residual_eV < 1e-11
    return sol


def _solve(arrays, base, config=CONFIG, **kw):
    return scf.solve_self_consistent_fem(Stack.from_arrays(*arrays), BIAS, config=config, mesh=base.mesh, **kw)


def _observables(arrays, base, **kw):
    """(J in A/cm², electrons per nm² in the well, U_H at a node in the well in eV): cotangents on J, n and U_H."""
    sol = _solve(arrays, base, **kw)
    thickness = arrays[0]
    nodes = fem.mesh_nodes(base.mesh, jnp.sum(thickness), jnp.cumsum(thickness)[:-1])
    in_well = np.asarray(base.mesh.segment[:-1]) == WELL
    weights = fem.reference_element(base.order).weights[None, :] * (0.5 * jnp.diff(nodes))[:, None]
    sheet = jnp.sum((sol.density_cm3 * weights)[in_well]) * 1e-21
    node = int(np.argmin(np.abs(np.asarray(base.nodes_nm) - 27.0)))  # in the well; moves with the layers
    return jnp.stack([sol.current_density_Acm2, sheet, sol.hartree_nodes_eV[node]])


@pytest.fixture(scope="module")
def jacobian(base):
    """Rows of d(observables)/d(ARRAYS) by three reverse passes through one forward solve (not jacrev: its
    vmap would compile a batched backward pass that the plain jax.grad below cannot reuse)."""
    _, pullback = jax.vjp(lambda arrays: _observables(arrays, base), ARRAYS)
    rows = [pullback(jnp.zeros(3).at[k].set(1.0))[0] for k in range(3)]
    return tuple(jnp.stack([row[field] for row in rows]) for field in range(3))


def _central(base, field, layer, step):
    def shifted(sign):
        arrays = list(ARRAYS)
        arrays[field] = arrays[field].at[layer].add(sign * step)
        return _observables(tuple(arrays), base, initial=base)

    return (shifted(1.0) - shifted(-1.0)) / (2.0 * step)


@pytest.mark.parametrize("name", list(PARAMETERS))
def test_gradients_match_central_differences(base, jacobian, name):
    """Measured (78 elements, p = 3): relative differences of dJ/dθ 1.6e-7 (barrier thickness), 7.9e-8 (Al
    fraction), 4.7e-8 (emitter doping); the bound 1e-5 leaves room for the O(h²) and tol_eV/h errors."""
    field, layer, step = PARAMETERS[name]
    fd = np.asarray(_central(base, field, layer, step))
    ad = np.asarray(jacobian[field][:, layer])
    np.testing.assert_allclose(ad, fd, rtol=1e-5)


def test_gradient_does_not_unroll_the_iteration(base, jacobian):
    """Without Anderson mixing (the plain predictor–corrector) the forward pass takes a different number of
    iterations along a different path to the same fixed point, yet dJ/dθ is the same to 1e-8: it depends on
    the fixed point only (implicit function theorem), not on the iterates (which run on stop-gradient
    inputs and are never differentiated)."""
    plain = dataclasses.replace(CONFIG, anderson_depth=0)
    slow = _solve(ARRAYS, base, config=plain)
    assert slow.converged and slow.iterations != base.iterations, (slow.iterations, base.iterations)
    grad = jax.grad(lambda arrays: _solve(arrays, base, config=plain).current_density_Acm2)(ARRAYS)
    for g, ref in zip(grad, jacobian):
        ref = np.asarray(ref[0])
        np.testing.assert_allclose(np.asarray(g), ref, rtol=1e-8, atol=1e-10 * np.max(np.abs(ref)))


def test_traced_solution_equals_the_concrete_one_and_jit_is_refused(base):
    """Through the traced path (the custom-VJP outputs at U_H*) the values are those of the concrete solve."""
    def fields(thickness):
        sol = _solve((thickness, ARRAYS[1], ARRAYS[2]), base)
        return sol.current_density_Acm2, sol.potential_eV, sol.density_cm3, sol.mu_right_eV

    (j, u, n, mu_r), _ = jax.vjp(fields, ARRAYS[0])
    np.testing.assert_allclose(float(j), base.current_density_Acm2, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(u), np.asarray(base.potential_eV), rtol=0, atol=1e-13)
    np.testing.assert_allclose(np.asarray(n), np.asarray(base.density_cm3), rtol=1e-11)
    assert float(mu_r) == pytest.approx(base.mu_right_eV, abs=1e-14)
    with pytest.raises(ValueError, match="jax.jit"):
        jax.jit(lambda th: _solve((th, ARRAYS[1], ARRAYS[2]), base).current_density_Acm2)(ARRAYS[0])
