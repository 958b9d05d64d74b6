"""The finite-element layer-stack model (physics.md §14.7): abrupt interfaces as moving nodes,
J(V) at 300 K, exact thickness gradients, and the continuum limit of the finite-difference model."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffsim_jax.models.stack import StackModel, StackParams, contact_fermi_level
from diffsim_jax.models.stack_fem import StackFemModel, current_density_curve_fem
from diffsim_jax.observables import current_density_curve
from diffsim_jax.physics.layers import Layer, Stack

T_K = 300.0
BIASES = np.array([0.0, 0.12, 0.3])


def rtd(barrier_nm=3.0, well_nm=5.0):
    """The Fig. 8 RTD: 30 nm n+ GaAs contacts, 5 nm spacers, Al0.3Ga0.7As barriers around a GaAs well."""
    return Stack([Layer(30.0, 0.0, 2e18), Layer(5.0), Layer(barrier_nm, 0.3), Layer(well_nm), Layer(barrier_nm, 0.3),
                  Layer(5.0), Layer(30.0, 0.0, 2e18)])


@pytest.fixture(scope="module")
def setup():
    stack = rtd()
    params = StackParams(stack, jnp.asarray(contact_fermi_level(stack, T_K)))
    model = StackFemModel(order=3, tol=1e-5)
    mesh = model.mesh(params, float(BIASES.max()), T_K)
    j = jax.jit(lambda p, b: current_density_curve_fem(model, p, b, T_K, mesh))
    return params, model, mesh, j


def test_zero_bias_zero_current_and_order_independence(setup):
    params, model, mesh, j = setup
    j3 = np.asarray(j(params, BIASES))
    assert j3[0] == 0.0 and np.all(j3[1:] > 0)
    model4 = StackFemModel(order=4, tol=1e-7)
    j4 = np.asarray(current_density_curve_fem(model4, params, BIASES, T_K))
    np.testing.assert_allclose(j3, j4, rtol=1e-6)


def test_finite_differences_converge_to_the_abrupt_fem_current(setup):
    """The smooth-interface FD model (δ = a/2) converges to the abrupt continuum at second order."""
    params, model, mesh, j = setup
    j_fem = np.asarray(j(params, BIASES))[1:]
    errors = []
    for n in (400, 800):
        fd = StackModel(n_points=n)
        errors.append(np.asarray(current_density_curve(fd, params, BIASES[1:], T_K)) - j_fem)
    ratio = errors[0] / errors[1]
    assert np.all((ratio > 3.0) & (ratio < 5.5)), (errors, ratio)


def test_thickness_gradient_is_exact(setup):
    """d J/d(barrier, well thickness) with element ends that move with the interfaces: AD equals
    central differences of the same abrupt model."""
    params, model, mesh, j = setup
    bias = jnp.array([0.12])

    def current(d):
        thick = params.stack.thickness_nm
        thick = thick.at[2].set(d[0]).at[4].set(d[0]).at[3].set(d[1])
        p = StackParams(Stack.from_arrays(thick, params.stack.al_fraction, params.stack.doping_cm3), params.fermi_level)
        return current_density_curve_fem(model, p, bias, T_K, mesh)[0]

    d0 = jnp.array([3.0, 5.0])
    grad = jax.jit(jax.grad(current))(d0)
    f = jax.jit(current)
    h = 1e-4
    central = np.array([(f(d0 + h * e) - f(d0 - h * e)) / (2 * h) for e in np.eye(2)])
    np.testing.assert_allclose(grad, central, rtol=2e-5)
    assert np.all(np.abs(grad) > 1e-3 * abs(float(f(d0))))


def test_bad_model_settings_raise():
    with pytest.raises(ValueError, match="order"):
        StackFemModel(order=9)
    with pytest.raises(ValueError, match="tol"):
        StackFemModel(tol=0.0)
    with pytest.raises(ValueError, match="bias_drop"):
        StackFemModel(bias_drop="quadratic")
    stack = rtd()
    params = StackParams(stack, jnp.asarray(0.05))
    with pytest.raises(ValueError, match="temperature_K"):
        current_density_curve_fem(StackFemModel(), params, BIASES, 0.0)


def test_the_model_is_the_one_switch_of_the_observable_and_the_design_loss(setup):
    """observables.current_density_curve (and so stack_observable / iv_loss) with a StackFemModel whose mesh is
    fixed is the finite-element J(V), traceable in the parameters: its gradient through iv_loss equals the
    gradient of the direct finite-element curve; T = 0 and bad biases are refused before any work."""
    from diffsim_jax.design.losses import iv_loss
    from diffsim_jax.observables import stack_observable

    params, model, mesh, j = setup
    fixed = model.with_mesh(params, float(BIASES.max()), T_K)
    np.testing.assert_allclose(np.asarray(current_density_curve(fixed, params, BIASES, T_K)),
                               np.asarray(j(params, BIASES)), rtol=1e-13)  # same mesh, same arithmetic
    target = 1.05 * np.asarray(j(params, BIASES))
    loss = iv_loss(fixed, stack_observable(T_K), jnp.asarray(BIASES), jnp.asarray(target))
    grad = jax.jit(jax.grad(loss))(params)
    direct = jax.grad(lambda p: jnp.mean((current_density_curve_fem(model, p, BIASES, T_K, mesh) - target) ** 2))(params)
    scale2 = float(np.max(np.abs(target))) ** 2  # iv_loss divides by max|target|² (physics.md eq. 6.2)
    np.testing.assert_allclose(np.asarray(grad.stack.thickness_nm)[2:5], np.asarray(direct.stack.thickness_nm)[2:5] / scale2,
                               rtol=1e-9)
    with pytest.raises(ValueError, match="temperature_K"):
        current_density_curve(fixed, params, BIASES, 0.0)
    with pytest.raises(ValueError, match="biases"):
        current_density_curve(fixed, params, np.array([0.2, 0.1]), T_K)
