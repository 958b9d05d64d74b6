"""Bad input raises a ValueError naming the argument, before anything is traced."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import diffsim_jax as ds

U = np.zeros(50)
P0 = ds.default_params()


@pytest.mark.parametrize(
    "args, match",
    [
        ((np.zeros(2), 0.1, 20.0), "at least 3 grid points"),
        ((np.zeros((3, 3)), 0.1, 20.0), "potential must be 1-D"),
        ((U, 0.1, 0.0), "length must be > 0"),
        ((U, 0.1, -5.0), "length must be > 0"),
        ((U, 0.1, 20.0, 0.0), "m_eff must be > 0"),
        ((U, 0.1, 20.0, -0.067), "m_eff must be > 0"),
        ((np.r_[U[:-1], np.nan], 0.1, 20.0), "potential contains NaN or inf"),
        ((U, np.array([0.1, np.inf]), 20.0), "energies contains NaN or inf"),
        ((U, 0.1, np.nan), "length contains NaN or inf"),
        ((U, 1e3, 20.0), "above the lattice band top"),
        ((U, "abc", 20.0), "energies must be real numbers"),
    ],
)
def test_transmission_rejects(args, match):
    with pytest.raises(ValueError, match=match):
        ds.transmission(*args)


@pytest.mark.parametrize(
    "field, value, match",
    [
        ("widths", [2.0, 0.0], "params.widths must be > 0"),
        ("widths", [2.0, -1.0], "params.widths must be > 0"),
        ("heights", [0.3, np.nan], "params.heights contains NaN or inf"),
        ("centers", [7.4], "same non-zero length"),
        ("fermi_level", -0.1, "params.fermi_level must be > 0"),
        ("fermi_level", [0.1, 0.2], "params.fermi_level must be 0-D"),
    ],
)
def test_params_rejected(field, value, match):
    bad = dataclasses.replace(P0, **{field: np.asarray(value, float)})
    with pytest.raises(ValueError, match=match):
        ds.iv_curve(bad, [0.1], ds.DeviceConfig())


@pytest.mark.parametrize(
    "biases, match",
    [
        ([0.1, -0.2], "biases must be >= 0"),
        ([0.1, np.nan], "biases contains NaN or inf"),
        ([[0.1]], "biases must be 1-D"),
        ([0.1, 100.0], "exceed the range of the lattice model"),  # e.g. mV passed as V
    ],
)
def test_biases_rejected(biases, match):
    with pytest.raises(ValueError, match=match):
        ds.iv_curve(P0, biases)


def test_bias_rejected_for_current_and_potential():
    with pytest.raises(ValueError, match="bias must be >= 0"):
        ds.current(P0, -0.1)
    with pytest.raises(ValueError, match="bias contains NaN or inf"):
        ds.potential(P0, np.inf)


def test_fermi_level_above_energy_window_rejected():
    with pytest.raises(ValueError, match="above the tabulated energy window"):
        ds.current(dataclasses.replace(P0, fermi_level=jnp.asarray(0.25)), 0.1)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_points=2), "n_points must be an integer >= 3"),
        (dict(length_nm=0.0), "length_nm must be a finite number > 0"),
        (dict(m_eff=-1.0), "m_eff must be a finite number > 0"),
        (dict(m_eff=float("nan")), "m_eff must be a finite number > 0"),
        (dict(window_frac=(0.9, 0.1)), "window_frac"),
        (dict(energy_window_eV=(0.05, 0.2)), "energy_window_eV"),
        (dict(quadrature="simpson"), "quadrature"),
    ],
)
def test_device_config_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ds.DeviceConfig(**kwargs)


def test_tracers_skip_value_checks_but_still_work():
    """Under jit the same call is traced: no value checks, same numbers."""
    e = jnp.array([0.05, 0.1])
    np.testing.assert_allclose(jax.jit(lambda u: ds.transmission(u, e, 20.0))(jnp.zeros(50)), 1.0, atol=1e-12)
    g = jax.grad(lambda p: ds.current(p, 0.2))(P0)
    assert np.all(np.isfinite(g.heights))
