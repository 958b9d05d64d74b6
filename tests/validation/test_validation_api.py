"""The Python API refuses what ``qtbm`` refuses, with the same words (issue #16 §2), and the
optimisation loop backs off from infeasible trial steps (§3). One validation module
(:mod:`diffsim_jax.validation`) serves both."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import diffsim_jax as ds
from diffsim_jax import validation as val
from diffsim_jax.design import loop
from diffsim_jax.models.stack import StackModel, StackParams
from diffsim_jax.observables import current_density_curve, validate_stack_inputs
from diffsim_jax.physics.layers import Layer, Stack
from diffsim_jax.physics.materials import ALGAAS, check_composition

LAYERS = [Layer(15, 0, 2e18), Layer(5, 0, 0), Layer(3, 0.3, 0), Layer(5, 0, 0), Layer(3, 0.3, 0), Layer(5, 0, 0),
          Layer(15, 0, 2e18)]
MODEL = StackModel(n_points=170)
PARAMS = StackParams(Stack(LAYERS), np.float64(0.05))
BIASES = np.linspace(0.0, 0.4, 5)


def params_with(k, layer):
    layers = list(LAYERS)
    layers[k] = layer
    return StackParams(Stack(layers), PARAMS.fermi_level)


@pytest.mark.parametrize("args, match", [
    ((MODEL, PARAMS, BIASES, -5.0), r"temperature_K must lie in \[0, 1000\] K.*got -5 K"),
    ((MODEL, PARAMS, BIASES, 1e6), r"temperature_K must lie in \[0, 1000\] K.*got 1e\+06 K"),
    ((MODEL, PARAMS, np.r_[0.0, np.nan, 0.2], 300.0), r"biases contains NaN or inf, got \[0, nan, 0.2\]"),
    ((MODEL, PARAMS, BIASES[::-1], 300.0), r"biases must be strictly increasing, got 0.3 V after 0.4 V"),
    ((MODEL, PARAMS, np.r_[0.0, 0.1, 0.1], 300.0), r"biases must be strictly increasing"),
    ((MODEL, PARAMS, np.r_[-0.1, 0.1], 300.0), r"biases must be >= 0 V \(forward bias\), got \[-0.1\] V"),
    ((MODEL, PARAMS, BIASES[:, None], 300.0), r"biases must be 1-D"),
    ((MODEL, PARAMS, np.linspace(0, 0.4, val.MAX_BIASES + 1), 300.0), r"biases must be at most 100000 values"),
    ((StackModel(n_points=100_000_000), PARAMS, BIASES, 300.0), r"100000000 grid points needs about .* of memory"),
    ((MODEL, params_with(3, Layer(1e6, 0, 0)), BIASES, 300.0), r"thickness_nm must be at most 1000 nm.*got \[1e\+06\]"),
    ((MODEL, params_with(3, Layer(900, 0, 0)), BIASES, 300.0), r"grid is too coarse .*model.n_points"),
])
def test_current_density_curve_refuses(args, match):
    with pytest.raises(ValueError, match=match):
        current_density_curve(*args)


def test_current_density_curve_checks_shapes_and_temperature_under_jit():
    """Under jit the static properties are still checked, while tracing (before any work)."""
    with pytest.raises(ValueError, match="biases must be 1-D"):
        jax.jit(lambda p, b: current_density_curve(MODEL, p, b, 300.0))(PARAMS, jnp.zeros((2, 2)))
    with pytest.raises(ValueError, match="temperature_K must lie"):
        jax.jit(lambda p, b: current_density_curve(MODEL, p, b, 2000.0))(PARAMS, jnp.asarray(BIASES))


def test_self_consistent_sweep_is_checked_one_bias_at_a_time():
    """The self-consistent sweep solves one bias at a time: many biases fit where all at once do not."""
    many = np.linspace(0, 0.4, 50_000)
    with pytest.raises(ValueError, match="of memory"):
        validate_stack_inputs(MODEL, PARAMS, many, 300.0)
    validate_stack_inputs(MODEL, PARAMS, many, 300.0, at_once=False)


@pytest.mark.parametrize("biases, match", [
    (np.r_[0.2, 0.1], "biases must be strictly increasing"),
    (np.r_[0.0, np.nan], "biases contains NaN or inf"),
    (np.r_[-0.1, 0.2], "biases must be >= 0 V"),
    (np.linspace(0, 0.6, 90_000), "needs about .* of memory"),
])
def test_iv_curve_refuses(biases, match):
    with pytest.raises(ValueError, match=match):
        ds.iv_curve(ds.default_params(), biases)


@pytest.mark.parametrize("x", [np.float64(0.6), np.float32(1.5), 0.6])
def test_one_voice_no_numpy_repr(x):
    with pytest.raises(ValueError) as err:
        check_composition(x, ALGAAS)
    assert "np.float" not in str(err.value) and f"got {float(x):g}" in str(err.value)
    with pytest.raises(ValueError) as err:
        Layer(np.float64(-1.0), 0.0, 0.0)
    assert str(err.value) == "thickness_nm must be > 0, got -1"


def test_fmt():
    assert val.fmt(np.float64(0.6)) == "0.6"
    assert val.fmt(np.array([0.1, np.nan])) == "[0.1, nan]"
    assert val.fmt(np.arange(10.0)) == "[0, 1, 2, 3, 4, 5, …]"
    assert val.fmt("abc") == "'abc'"
    assert val.fmt(np.int64(3)) == "3"


def test_require_fields():
    val.require_fields("layers[0]", {"a": 1, "b": 2}, ("a", "b"))
    with pytest.raises(ValueError, match=r"layers\[0\] is missing fields a, c; hint"):
        val.require_fields("layers[0]", {"b": 2}, ("a", "b", "c"), "hint")


# ------------------------------------------------------------------ §3: the loop
class Shift:
    """Normalisation p = 1 + z around the start p = (1, 1)."""

    def zeros(self):
        return jnp.zeros(2)

    def to_physical(self, z):
        return 1.0 + z


def bounded_quadratic(limit):
    """(p − 2)², infeasible (InfeasibleError) where p₀ > limit — checked on concrete values, as
    the self-consistent model checks a solved potential."""

    @jax.custom_vjp
    def f(p):
        return jnp.sum((p - 2.0) ** 2)

    def fwd(p):
        if float(p[0]) > limit:
            raise val.InfeasibleError(f"p0 = {float(p[0]):.4g} is beyond {limit}")
        return f(p), p

    f.defvjp(fwd, lambda p, g: (2.0 * g * (p - 2.0),))
    return f


def test_infeasible_trial_steps_back_off():
    res = loop.optimize(bounded_quadratic(1.3), Shift(), loop.adabelief(60, 0.1), jit=False, progress=False,
                        max_failed_steps=loop.MAX_FAILED_STEPS)
    assert res.skipped_steps > 0 and res.converged and res.stopped == ""
    assert "beyond 1.3" in res.failure
    p = np.asarray(res.params)
    assert p[0] <= 1.3 and p[0] > 1.29  # pressed against the feasible boundary, never beyond it
    assert np.isfinite(res.best_loss)


def test_infeasible_everywhere_gives_up_with_best_so_far():
    res = loop.optimize(bounded_quadratic(1.0 + 1e-12), Shift(), loop.adabelief(60, 0.1), jit=False, progress=False,
                        max_failed_steps=20)
    assert not res.converged and "20 consecutive trial steps failed" in res.stopped
    assert res.loss_history.size == 21 and res.skipped_steps == 20
    np.testing.assert_array_equal(res.params, [1.0, 1.0])  # the best (only feasible) iterate
    assert res.best_loss == 2.0


def test_infeasible_start_raises_its_own_message():
    with pytest.raises(val.InfeasibleError, match="beyond 0.5"):
        loop.optimize(bounded_quadratic(0.5), Shift(), loop.adabelief(10, 0.1), jit=False, progress=False)


def test_finite_steps_unchanged_by_the_failure_handling():
    """max_failed_steps does nothing to a run without failed steps: identical histories."""
    def loss(p):
        return jnp.sum((p - jnp.array([2.0, -1.0])) ** 4)

    a = loop.optimize(loss, Shift(), loop.adabelief(50, 0.1), progress=False)
    b = loop.optimize(loss, Shift(), loop.adabelief(50, 0.1), progress=False, max_failed_steps=1)
    np.testing.assert_array_equal(a.loss_history, b.loss_history)
    np.testing.assert_array_equal(a.params, b.params)
    assert a.converged and b.converged


def test_max_failed_steps_validated():
    with pytest.raises(ValueError, match="max_failed_steps must be a positive integer"):
        loop.optimize(lambda p: jnp.sum(p**2), Shift(), loop.adabelief(5), max_failed_steps=0)
