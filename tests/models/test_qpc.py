"""Gate-defined 2-D devices (physics.md §13.10): the Davies–Larkin–Sukhorukov gate potential,
the 2DEG Fermi energy, smooth disorder, Büttiker's saddle, gradients and validation."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import diffsim_jax  # noqa: F401  (float64)
from diffsim_jax.models.qpc import (
    GatedDevice,
    buttiker_transmission,
    fermi_energy_eV,
    finger_array_edges,
    gate_params,
    gate_potential_fraction,
    saddle_potential,
    smooth_disorder,
    split_gate_edges,
)
from diffsim_jax.physics.transport2d import transmission_2d

# SI constants for independent checks (CODATA 2018)
HBAR = 1.054571817e-34
M0 = 9.1093837015e-31
QE = 1.602176634e-19


# --------------------------------------------------------------------------------------
# the gate closed form
# --------------------------------------------------------------------------------------
def test_gate_potential_tends_to_gate_voltage_under_a_large_gate_as_depth_vanishes():
    edges = jnp.array([-500.0, 500.0, -300.0, 300.0])
    values = [float(gate_potential_fraction(0.0, 0.0, edges, d)) for d in (50.0, 5.0, 0.5)]
    gaps = [1.0 - v for v in values]
    assert gaps[0] > gaps[1] > gaps[2] > 0.0
    assert gaps[2] < 2e-3


def test_a_long_gate_is_the_two_dimensional_strip():
    """A gate much longer than wide: φ/V = (1/π)[arctan((w − y)/d) + arctan((w + y)/d)], the
    potential of a strip |y| < w held at V in a grounded plane (2-D electrostatics)."""
    w, d = 40.0, 25.0
    edges = jnp.array([-1e7, 1e7, -w, w])
    y = np.linspace(-150, 150, 31)
    exact = (np.arctan((w - y) / d) + np.arctan((w + y) / d)) / math.pi
    np.testing.assert_allclose(gate_potential_fraction(0.0, y, edges, d), exact, atol=1e-9)


def test_gate_potential_symmetries_and_its_maximum_at_the_centre():
    edges = jnp.array([10.0, 70.0, -5.0, 35.0])  # centre (40, 15)
    x = np.linspace(-60, 140, 41)
    y = np.linspace(-70, 100, 35)
    phi = np.asarray(gate_potential_fraction(x[:, None], y[None, :], edges, 20.0))
    mirror_x = np.asarray(gate_potential_fraction(80.0 - x[:, None], y[None, :], edges, 20.0))
    mirror_y = np.asarray(gate_potential_fraction(x[:, None], 30.0 - y[None, :], edges, 20.0))
    np.testing.assert_allclose(phi, mirror_x, atol=1e-14)
    np.testing.assert_allclose(phi, mirror_y, atol=1e-14)
    # a square gate: swapping x and y about its centre leaves φ unchanged
    sq = jnp.array([-20.0, 20.0, -20.0, 20.0])
    u, v = np.meshgrid(np.linspace(-50, 50, 11), np.linspace(-30, 60, 10), indexing="ij")
    np.testing.assert_allclose(gate_potential_fraction(u, v, sq, 15.0), gate_potential_fraction(v, u, sq, 15.0),
                               atol=1e-14)
    assert np.all(phi > 0) and np.all(phi < 1)
    assert float(gate_potential_fraction(40.0, 15.0, edges, 20.0)) == pytest.approx(phi.max(), abs=1e-3)


def test_gate_potential_far_field_is_that_of_a_small_patch():
    """A small gate of area A far away: φ/V → A·d/(2π r³) (the dipole layer of the grounded plane)."""
    s, d = 2.0, 10.0
    edges = jnp.array([-s / 2, s / 2, -s / 2, s / 2])
    for r in (200.0, 400.0):
        for angle in (0.0, 0.7, 2.0):
            x, y = r * math.cos(angle), r * math.sin(angle)
            exact = s * s * d / (2 * math.pi * (r * r + d * d) ** 1.5)
            assert float(gate_potential_fraction(x, y, edges, d)) == pytest.approx(exact, rel=2e-3)
    # and it vanishes along the gate's own axis too (no strip-like tail)
    long_gate = jnp.array([0.0, 100.0, 0.0, 100.0])
    assert abs(float(gate_potential_fraction(5000.0, 50.0, long_gate, 30.0))) < 1e-6


def test_gate_potential_superposes_touching_rectangles_exactly():
    d = 25.0
    x, y = np.meshgrid(np.linspace(-40, 140, 19), np.linspace(-30, 90, 13), indexing="ij")
    whole = gate_potential_fraction(x, y, jnp.array([0.0, 100.0, 10.0, 60.0]), d)
    parts = (gate_potential_fraction(x, y, jnp.array([0.0, 37.0, 10.0, 60.0]), d)
             + gate_potential_fraction(x, y, jnp.array([37.0, 100.0, 10.0, 60.0]), d))
    np.testing.assert_allclose(parts, whole, atol=1e-13)
    # a finger array at equal voltages is its split gate
    dev = GatedDevice(30, 12, 6.0, depth_nm=d)
    fingers = gate_params(np.full(8, -0.02), finger_array_edges(dev, 30.0, 120.0, 4))
    split = gate_params(np.full(2, -0.02), split_gate_edges(dev, 30.0, 120.0))
    np.testing.assert_allclose(dev.gate_potential_eV(fingers), dev.gate_potential_eV(split), atol=1e-15)
    # U = −eφ: a negative gate voltage raises the electron's energy, linearly
    u1 = np.asarray(dev.gate_potential_eV(split))
    u2 = np.asarray(dev.gate_potential_eV(split._replace(voltages_V=2 * split.voltages_V)))
    assert np.all(u1 > 0)
    np.testing.assert_allclose(u2, 2 * u1, rtol=1e-14)


# --------------------------------------------------------------------------------------
# Fermi energy, disorder
# --------------------------------------------------------------------------------------
def test_fermi_energy_from_sheet_density_is_the_2d_density_of_states():
    """n_s = D·E_F with D = m*/(πħ²) (spin-degenerate 2-D density of states), in SI units."""
    for ns_cm2, m in ((1e11, 0.067), (3.2e11, 0.067), (5e12, 0.19)):
        dos = m * M0 / (math.pi * HBAR**2)  # states / (J m²)
        expected = ns_cm2 * 1e4 / dos / QE
        assert fermi_energy_eV(ns_cm2, m) == pytest.approx(expected, rel=1e-6)
    assert GatedDevice(10, 4, 5.0, sheet_density_cm2=2e11).fermi_energy_eV == pytest.approx(
        2 * fermi_energy_eV(1e11), rel=1e-14)


def test_smooth_disorder_has_the_stated_rms_mean_and_correlation_length():
    a, ell = 2.0, 10.0
    u = smooth_disorder((400, 400), a, ell, 1e-3, seed=3)
    assert np.mean(u) == pytest.approx(0.0, abs=1e-15)
    assert np.sqrt(np.mean(u**2)) == pytest.approx(1e-3, rel=1e-12)
    np.testing.assert_array_equal(u, smooth_disorder((400, 400), a, ell, 1e-3, seed=3))
    assert not np.allclose(u, smooth_disorder((400, 400), a, ell, 1e-3, seed=4))
    # C(r)/C(0) = exp(−r²/(2ℓ²)) along x and y
    lag = int(ell / a)
    c0 = np.mean(u * u)
    cx = np.mean(u[:-lag] * u[lag:]) / c0
    cy = np.mean(u[:, :-lag] * u[:, lag:]) / c0
    assert cx == pytest.approx(math.exp(-0.5), abs=0.06)
    assert cy == pytest.approx(math.exp(-0.5), abs=0.06)
    dev = GatedDevice(20, 10, 5.0, disorder_rms_eV=2e-3, disorder_seed=7)
    assert np.sqrt(np.mean(dev.disorder_eV() ** 2)) == pytest.approx(2e-3, rel=1e-12)
    np.testing.assert_array_equal(GatedDevice(20, 10, 5.0).disorder_eV(), 0.0)


# --------------------------------------------------------------------------------------
# Büttiker's saddle point
# --------------------------------------------------------------------------------------
def _saddle_error(a, hw_x=1e-3, hw_y=3e-3, xp=100.0, width=160.0):
    n_x = int(round(4 * xp / a)) + 1
    n_y = int(round(width / a)) - 1
    x = np.arange(n_x) * a
    y = (np.arange(n_y) + 1.0) * a
    pot = np.asarray(saddle_potential(x[:, None] - x[-1] / 2, y[None, :] - (n_y + 1) * a / 2, 0.0, hw_x, hw_y, xp))
    e = hw_y * np.linspace(0.2, 2.8, 11)
    t = np.asarray(transmission_2d(pot, e, a))
    return np.max(np.abs(t - np.asarray(buttiker_transmission(e, 0.0, hw_x, hw_y))))


def test_saddle_point_transmission_converges_to_buttiker_with_the_lattice_spacing():
    errors = [_saddle_error(a) for a in (10.0, 6.0)]
    assert errors[1] < 0.6 * errors[0]
    assert errors[1] < 0.25


def test_buttiker_formula_limits():
    hw_x, hw_y = 1e-3, 4e-3
    e = hw_y * (np.arange(5) + 0.5)  # at each threshold: n modes open + one half
    np.testing.assert_allclose(buttiker_transmission(e, 0.0, hw_x, hw_y), np.arange(5) + 0.5, atol=1e-9)
    x = np.linspace(-300, 300, 61)
    u = np.asarray(saddle_potential(x, 0.0, 0.01, hw_x, hw_y, 100.0))
    c = 0.0380998 / 0.067
    inner = np.abs(x) <= 100
    np.testing.assert_allclose(u[inner], 0.01 - hw_x**2 * x[inner] ** 2 / (4 * c), rtol=1e-14)
    assert np.all(u[np.abs(x) >= 200] == u[0])  # flat beyond 2x_p
    assert np.all(np.diff(u[x >= 0]) <= 0)  # monotone descent from the saddle


# --------------------------------------------------------------------------------------
# gradients with respect to gate voltages, gate edges and B (central differences)
# --------------------------------------------------------------------------------------
def _small():
    dev = GatedDevice(14, 7, 8.0, depth_nm=20.0, sheet_density_cm2=1.5e11, disorder_rms_eV=5e-4,
                      disorder_correlation_nm=15.0, disorder_seed=2)
    edges = np.array([[30.0, 70.0, 0.0, 22.0], [40.0, 90.0, 40.0, 64.0]])
    return dev, gate_params([-0.012, -0.009], edges, 0.6)


def test_gradients_wrt_gate_voltages_edges_and_field_match_central_differences():
    dev, p = _small()
    energy = jnp.asarray([dev.fermi_energy_eV])

    @jax.jit
    def t_of(params):
        return dev.transmission(params, energy)[0]

    grad = jax.jit(jax.grad(t_of))(p)
    h = {"voltages_V": 1e-6, "edges_nm": 1e-4, "magnetic_field_T": 1e-5}
    checks = [("voltages_V", (0,)), ("voltages_V", (1,)), ("edges_nm", (0, 1)), ("edges_nm", (1, 2)),
              ("magnetic_field_T", ())]
    for name, idx in checks:
        leaf = getattr(p, name)
        step = jnp.zeros_like(leaf).at[idx].set(h[name])
        plus = t_of(p._replace(**{name: leaf + step}))
        minus = t_of(p._replace(**{name: leaf - step}))
        fd = (plus - minus) / (2 * h[name])
        g = getattr(grad, name)[idx]
        assert abs(float(fd)) > 1e-4, (name, idx)  # a derivative that matters
        assert float(g) == pytest.approx(float(fd), rel=1e-5, abs=1e-8), (name, idx)


# --------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------
def test_validation_errors_name_the_argument():
    with pytest.raises(ValueError, match="spacing_nm"):
        GatedDevice(10, 5, 0.0)
    with pytest.raises(ValueError, match="spacing_nm"):
        GatedDevice(10, 5, -1.0)
    with pytest.raises(ValueError, match="n_y"):
        GatedDevice(10, 1, 5.0)
    with pytest.raises(ValueError, match="depth_nm"):
        GatedDevice(10, 5, 5.0, depth_nm=float("nan"))
    with pytest.raises(ValueError, match="background_eV"):
        GatedDevice(10, 5, 5.0, background_eV=float("inf"))
    dev = GatedDevice(10, 5, 5.0)  # x in [0, 45], y in [0, 30]
    ok = np.array([[0.0, 20.0, 0.0, 10.0]])
    dev.validate(gate_params([-0.01], ok))
    with pytest.raises(ValueError, match="edges_nm.*outside the device"):
        dev.potential_eV(gate_params([-0.01], [[30.0, 50.0, 0.0, 10.0]]))
    with pytest.raises(ValueError, match="edges_nm.*outside the device"):
        dev.potential_eV(gate_params([-0.01], [[0.0, 20.0, -3.0, 10.0]]))
    with pytest.raises(ValueError, match="edges_nm.*x1 < x2"):
        dev.potential_eV(gate_params([-0.01], [[20.0, 10.0, 0.0, 10.0]]))
    with pytest.raises(ValueError, match="edges_nm.*shape"):
        dev.potential_eV(gate_params([-0.01, 0.0], ok))
    with pytest.raises(ValueError, match="voltages_V"):
        dev.potential_eV(gate_params([float("nan")], ok))
    # l_B = 25.66 nm/sqrt(B/T) below 2a = 10 nm: B > 6.6 T
    with pytest.raises(ValueError, match="magnetic_field_T"):
        dev.transmission(gate_params([-0.01], ok, 7.0), 0.01)
    dev.validate(gate_params([-0.01], ok, 6.0))
    with pytest.raises(ValueError, match="sheet_density_cm2"):
        fermi_energy_eV(-1e11)
    with pytest.raises(ValueError, match="correlation_nm"):
        smooth_disorder((4, 4), 1.0, 0.0, 1e-3, 0)
    with pytest.raises(ValueError, match="gap_nm"):
        finger_array_edges(dev, 40.0, 20.0, 2)


def test_normalization_starts_at_the_initial_design_and_moves_only_free_gates():
    dev, p = _small()
    norm = dev.normalization(p, voltage_scale_V=0.01, free_gates=[1], edge_scale_nm=2.0)
    z = norm.zeros()
    p0 = norm.to_physical(z)
    for a, b in zip(jax.tree_util.tree_leaves(p0), jax.tree_util.tree_leaves(p)):
        np.testing.assert_array_equal(a, b)
    z = {"voltages": jnp.array([1.0]), "edges": jnp.ones((1, 4))}
    p1 = norm.to_physical(z)
    np.testing.assert_allclose(p1.voltages_V, [-0.012, -0.009 + 0.01])
    np.testing.assert_allclose(p1.edges_nm[0], p.edges_nm[0])
    np.testing.assert_allclose(p1.edges_nm[1], p.edges_nm[1] + 2.0)
    assert float(dev.penalty(p)) == 0.0
    assert float(dev.penalty(p._replace(edges_nm=p.edges_nm.at[0, 0].set(-8.0)))) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="free_gates"):
        dev.normalization(p, free_gates=[5])
