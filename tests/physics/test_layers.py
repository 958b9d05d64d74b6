"""Layer stacks, materials tables and their profiles on the grid (physics.md §9)."""

import dataclasses
import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import diffsim_jax  # noqa: F401  (enables float64)
from diffsim_jax.physics.shapes import smooth_step
from diffsim_jax.physics.materials import ALGAAS, LinearAlloy, check_composition, load_table
from diffsim_jax.physics.layers import Layer, Profiles, Stack, abrupt_profiles, profiles

FIELDS = ("thickness_nm", "al_fraction", "doping_cm3")


def rtd_stack():
    return Stack(
        [
            Layer(8.0, 0.0, 1e18),
            Layer(2.5, 0.3),
            Layer(5.0, 0.0),
            Layer(2.5, 0.3),
            Layer(8.0, 0.05, 2e18),
        ]
    )


def bumped(stack, field, k, h):
    arrays = {name: np.array(getattr(stack, name)) for name in FIELDS}
    arrays[field][k] += h
    return Stack.from_arrays(*(jnp.asarray(arrays[name]) for name in FIELDS))


# --------------------------------------------------------------------------------------
# Materials table (physics.md eq. 9.1)
# --------------------------------------------------------------------------------------
def test_default_algaas_table():
    for x in (0.0, 0.1, 0.3, 0.44):
        assert math.isclose(ALGAAS.mass(x), 0.067 + 0.083 * x, rel_tol=1e-15)
        assert math.isclose(ALGAAS.band_edge_eV(x), 0.67 * 1.247 * x, rel_tol=1e-4)  # 0.8355 = 0.67·1.247 rounded
        assert math.isclose(ALGAAS.eps_r(x), 12.90 - 2.84 * x, rel_tol=1e-15)
    assert ALGAAS.x_max == 0.45 and "Adachi" in ALGAAS.reference and "Vurgaftman" in ALGAAS.reference
    hash(ALGAAS)  # a valid static argument under jit
    # traceable and differentiable
    np.testing.assert_allclose(jax.grad(ALGAAS.mass)(0.2), 0.083)
    np.testing.assert_allclose(jax.jit(ALGAAS.band_edge_eV)(jnp.array([0.0, 0.2])), [0.0, 0.8355 * 0.2])


def test_check_composition():
    check_composition(np.array([0.0, 0.2, 0.4499]))
    for bad in (-0.01, 0.45, 0.9, np.nan, np.inf, np.array([0.1, 0.5])):
        with pytest.raises(ValueError, match=r"my_x .*0\.45|my_x contains NaN"):
            check_composition(bad, ALGAAS, "my_x")
    wide = LinearAlloy(name="wide", x_max=0.9)
    check_composition(0.6, wide)


def test_table_dict_and_json_round_trip(tmp_path):
    d = ALGAAS.to_dict()
    assert LinearAlloy.from_dict(json.loads(json.dumps(d))) == ALGAAS
    path = tmp_path / "materials.json"
    path.write_text(json.dumps(d))
    assert load_table(str(path)) == ALGAAS


@pytest.mark.parametrize(
    "change, field",
    [
        ({"mass_coeffs_m0": [0.067]}, "mass_coeffs_m0"),
        ({"mass_coeffs_m0": [-0.01, 0.083]}, "mass_coeffs_m0"),
        ({"mass_coeffs_m0": [0.067, -0.2]}, "mass_coeffs_m0"),  # m* <= 0 at x_max
        ({"band_offset_coeffs_eV": [0.0, float("nan")]}, "band_offset_coeffs_eV"),
        ({"band_offset_coeffs_eV": "0.8"}, "band_offset_coeffs_eV"),
        ({"eps_r_coeffs": [12.9, -40.0]}, "eps_r_coeffs"),
        ({"x_max": 0.0}, "x_max"),
        ({"x_max": 1.5}, "x_max"),
        ({"x_max": "big"}, "x_max"),
        ({"name": ""}, "name"),
        ({"masss_coeffs_m0": [0.067, 0.083]}, "masss_coeffs_m0"),  # typo: unknown field
    ],
)
def test_bad_tables_are_rejected(change, field):
    d = {**ALGAAS.to_dict(), **change}
    with pytest.raises(ValueError, match=field):
        LinearAlloy.from_dict(d)


def test_table_missing_field_and_bad_file(tmp_path):
    d = ALGAAS.to_dict()
    del d["eps_r_coeffs"]
    with pytest.raises(ValueError, match="eps_r_coeffs"):
        LinearAlloy.from_dict(d)
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="bad.json"):
        load_table(str(path))


# --------------------------------------------------------------------------------------
# Layers and stacks
# --------------------------------------------------------------------------------------
def test_stack_properties():
    stack = rtd_stack()
    assert stack.n_layers == 5
    np.testing.assert_allclose(stack.length_nm, 26.0)
    np.testing.assert_allclose(stack.interfaces_nm, [8.0, 10.5, 15.5, 18.0])
    assert stack.layers[1] == Layer(2.5, 0.3, 0.0) and stack.layers[4] == Layer(8.0, 0.05, 2e18)
    assert all(getattr(stack, f).dtype == jnp.float64 for f in FIELDS)
    with pytest.raises(dataclasses.FrozenInstanceError):
        stack.thickness_nm = jnp.ones(5)
    leaves, tree = jax.tree_util.tree_flatten(stack)
    assert len(leaves) == 3
    rebuilt = jax.tree_util.tree_unflatten(tree, leaves)
    np.testing.assert_array_equal(rebuilt.al_fraction, stack.al_fraction)


def test_stack_json_round_trip():
    stack = rtd_stack()
    text = json.dumps(stack.to_dict())
    assert set(json.loads(text)["layers"][0]) == set(FIELDS)
    again = Stack.from_dict(json.loads(text))
    for f in FIELDS:
        np.testing.assert_array_equal(getattr(again, f), getattr(stack, f))
    assert again.layers == stack.layers


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"thickness_nm": 0.0}, "thickness_nm"),
        ({"thickness_nm": -1.0}, "thickness_nm"),
        ({"thickness_nm": float("nan")}, "thickness_nm"),
        ({"thickness_nm": float("inf")}, "thickness_nm"),
        ({"thickness_nm": "3"}, "thickness_nm"),  # JSON strings are not numbers
        ({"thickness_nm": [1.0, 2.0]}, "thickness_nm"),
        ({"thickness_nm": 1.0, "doping_cm3": -1e17}, "doping_cm3"),
        ({"thickness_nm": 1.0, "doping_cm3": float("nan")}, "doping_cm3"),
        ({"thickness_nm": 1.0, "al_fraction": -0.1}, "al_fraction"),
        ({"thickness_nm": 1.0, "al_fraction": float("nan")}, "al_fraction"),
        ({"thickness_nm": 1.0, "al_fraction": 1.2}, "al_fraction"),
        ({"thickness_nm": True}, "thickness_nm"),
    ],
)
def test_bad_layers_are_rejected(kwargs, field):
    with pytest.raises(ValueError, match=field):
        Layer(**kwargs)


def test_stack_rejects_compositions_outside_the_table_range():
    for x in (0.45, 0.6):
        with pytest.raises(ValueError, match=r"layers\[1\].*al_fraction.*0\.45"):
            Stack([Layer(5.0), Layer(2.0, x), Layer(5.0)])
    Stack([Layer(5.0), Layer(2.0, 0.6)], materials=LinearAlloy(x_max=0.9))  # allowed by a wider table
    with pytest.raises(ValueError, match=r"layers\[0\].*thickness_nm"):
        Stack.from_dict({"layers": [{"thickness_nm": -2.0}]})
    with pytest.raises(ValueError, match=r"layers\[0\].*thicknes_nm"):
        Stack.from_dict({"layers": [{"thicknes_nm": 2.0}]})
    with pytest.raises(ValueError, match="layers"):
        Stack([])
    with pytest.raises(ValueError, match="layers"):
        Stack(Layer(1.0))


def test_profiles_reject_bad_input():
    good = rtd_stack()
    arrays = {f: np.asarray(getattr(good, f)) for f in FIELDS}
    for field, bad in (
        ("thickness_nm", np.r_[8.0, 0.0, 5.0, 2.5, 8.0]),
        ("thickness_nm", np.r_[8.0, np.nan, 5.0, 2.5, 8.0]),
        ("doping_cm3", np.r_[0.0, -1.0, 0.0, 0.0, 0.0]),
        ("al_fraction", np.r_[0.0, 0.45, 0.0, 0.3, 0.0]),
        ("al_fraction", np.r_[0.0, -0.1, 0.0, 0.3, 0.0]),
        ("al_fraction", np.r_[0.0, 0.3, 0.0]),  # wrong length
    ):
        stack = Stack.from_arrays(*(bad if f == field else arrays[f] for f in FIELDS))
        for func in (profiles, abrupt_profiles):
            with pytest.raises(ValueError, match=f"stack.{field}"):
                func(stack, 100)
    for n in (2, 0, 10.0, True):
        with pytest.raises(ValueError, match="n_points"):
            profiles(good, n)
    for width in (0.0, -0.1, np.nan):
        with pytest.raises(ValueError, match="interface_width_nm"):
            profiles(good, 100, interface_width_nm=width)
    with pytest.raises(ValueError, match="stack"):
        profiles([Layer(1.0)], 100)
    with pytest.raises(ValueError, match="materials"):
        profiles(good, 100, materials=object())


# --------------------------------------------------------------------------------------
# Profiles (physics.md §9)
# --------------------------------------------------------------------------------------
def test_profiles_inside_layers_equal_layer_values():
    stack = rtd_stack()
    n = 521  # a = 0.05 nm, δ = 0.025 nm
    prof = profiles(stack, n)
    assert isinstance(prof, Profiles) and all(np.shape(v) == (n,) for v in prof)
    np.testing.assert_allclose(prof.x_nm, np.linspace(0, 26.0, n), atol=1e-12)
    edges = np.concatenate([[0.0], np.asarray(stack.interfaces_nm), [26.0]])
    x = np.asarray(prof.x_nm)
    distance = np.min(np.abs(x[:, None] - np.asarray(stack.interfaces_nm)[None, :]), axis=1)
    for k, layer in enumerate(stack.layers):
        inside = (x > edges[k]) & (x < edges[k + 1]) & (distance > 40 * 0.025)  # s(−40) ≈ 4e-18
        assert inside.sum() >= 5
        np.testing.assert_allclose(prof.al_fraction[inside], layer.al_fraction, atol=1e-14)
        np.testing.assert_allclose(prof.band_edge_eV[inside], ALGAAS.band_edge_eV(layer.al_fraction), atol=1e-14)
        np.testing.assert_allclose(prof.m_eff[inside], ALGAAS.mass(layer.al_fraction), rtol=1e-14)
        np.testing.assert_allclose(prof.eps_r[inside], ALGAAS.eps_r(layer.al_fraction), rtol=1e-14)
        np.testing.assert_allclose(prof.doping_cm3[inside], layer.doping_cm3, rtol=1e-14, atol=1e-3)
    # abrupt profiles: every site carries exactly the values of the layer it lies in
    abrupt = abrupt_profiles(stack, n)
    k_of_site = np.searchsorted(edges[1:-1], x + 1e-9 * 0.1, side="right")  # sites on an interface go right
    np.testing.assert_array_equal(abrupt.al_fraction, np.asarray(stack.al_fraction)[k_of_site])
    np.testing.assert_array_equal(abrupt.doping_cm3, np.asarray(stack.doping_cm3)[k_of_site])
    np.testing.assert_array_equal(abrupt.m_eff, ALGAAS.mass(np.asarray(stack.al_fraction)[k_of_site]))


def test_profile_is_the_sum_of_smooth_steps():
    """x(ξ) = x_0 + Σ_k (x_k − x_{k−1})·s(ξ − z_k) with the device's s (physics.md eq. 4.1)."""
    stack = rtd_stack()
    width = 0.3
    prof = profiles(stack, 150, interface_width_nm=width)
    x = np.asarray(prof.x_nm)
    xs, z = np.asarray(stack.al_fraction), np.asarray(stack.interfaces_nm)
    expected = xs[0] + sum((xs[k + 1] - xs[k]) * np.asarray(smooth_step(x - z[k], width)) for k in range(len(z)))
    np.testing.assert_allclose(prof.al_fraction, expected, rtol=1e-13, atol=1e-15)
    # the default width is half the grid spacing
    a = 26.0 / 149
    np.testing.assert_allclose(profiles(stack, 150).al_fraction, profiles(stack, 150, interface_width_nm=a / 2).al_fraction, rtol=1e-14)


def test_gaas_only_stack_is_flat():
    stack = Stack([Layer(3.0), Layer(4.0, 0.0, 1e17), Layer(2.0)])
    for prof in (profiles(stack, 57), abrupt_profiles(stack, 57)):
        np.testing.assert_array_equal(prof.band_edge_eV, 0.0)
        np.testing.assert_array_equal(prof.m_eff, 0.067)
        np.testing.assert_array_equal(prof.eps_r, 12.90)


def test_thin_layers_stay_inside_the_composition_range():
    """The profile is a convex combination of the layer compositions, even for layers much
    thinner than δ, so it never leaves [0, x_max) and the masses stay positive."""
    rng = np.random.default_rng(4)
    for _ in range(5):
        xs = rng.uniform(0, 0.4499, 8)
        stack = Stack([Layer(t, x) for t, x in zip(rng.uniform(0.01, 1.0, 8), xs)])
        prof = profiles(stack, 40, interface_width_nm=0.5)
        assert np.all(prof.al_fraction >= xs.min() - 1e-15) and np.all(prof.al_fraction <= xs.max() + 1e-15)


def test_custom_table_is_used():
    table = LinearAlloy(
        name="toy", mass_coeffs_m0=(0.04, 0.1), band_offset_coeffs_eV=(0.1, 0.5), eps_r_coeffs=(14.0, -1.0), x_max=0.8
    )
    stack = Stack([Layer(5.0, 0.1), Layer(3.0, 0.7), Layer(5.0, 0.1)], materials=table)
    prof = profiles(stack, 131, materials=table)
    comp = np.asarray(prof.al_fraction)
    np.testing.assert_allclose(prof.m_eff, 0.04 + 0.1 * comp, rtol=1e-14)
    np.testing.assert_allclose(prof.band_edge_eV, 0.1 + 0.5 * comp, rtol=1e-14)
    np.testing.assert_allclose(prof.eps_r, 14.0 - comp, rtol=1e-14)
    with pytest.raises(ValueError, match="al_fraction"):  # 0.7 is outside the default table
        profiles(stack, 131)

    class Quadratic:
        """Duck-typed, nonlinear table (with a bowing term)."""

        x_max = 0.45

        def mass(self, x):
            return 0.067 + 0.083 * x + 0.05 * x**2

        def band_edge_eV(self, x):
            return 0.8 * x + 0.2 * x**2

        def eps_r(self, x):
            return 12.9 - 2.84 * x

    quad = Quadratic()
    prof = profiles(rtd_stack(), 131, materials=quad)
    comp = np.asarray(prof.al_fraction)
    np.testing.assert_allclose(prof.band_edge_eV, 0.8 * comp + 0.2 * comp**2, rtol=1e-14)
    np.testing.assert_allclose(prof.m_eff, quad.mass(comp), rtol=1e-14)


# --------------------------------------------------------------------------------------
# Differentiability and smoothness
# --------------------------------------------------------------------------------------
def test_profile_derivatives_match_finite_differences():
    # every field away from its bound, so that both one-sided bumps are valid stacks
    stack = Stack([Layer(8.0, 0.01, 1e18), Layer(2.5, 0.3, 1e16), Layer(5.0, 0.02, 3e16), Layer(2.5, 0.3, 1e16), Layer(8.0, 0.05, 2e18)])
    n = 120

    def f(s):
        p = profiles(s, n)
        return jnp.concatenate([p.band_edge_eV, p.m_eff, p.eps_r, 1e-18 * p.doping_cm3])

    jac = jax.jacfwd(f)(stack)
    jac_rev = jax.jacrev(f)(stack)
    f = jax.jit(f)
    h = 1e-6
    for field in FIELDS:
        for k in range(stack.n_layers):
            step = h * (1e18 if field == "doping_cm3" else 1.0)
            fd = (f(bumped(stack, field, k, step)) - f(bumped(stack, field, k, -step))) / (2 * step)
            np.testing.assert_allclose(getattr(jac, field)[:, k], fd, rtol=1e-6, atol=1e-8, err_msg=f"{field}[{k}]")
            np.testing.assert_allclose(getattr(jac_rev, field)[:, k], getattr(jac, field)[:, k], rtol=1e-12, atol=1e-14)


@jax.jit
def _al_content_smooth(stack):
    return _al_content(stack, 71)


def _al_content(stack, n, abrupt=False):
    """∫ x(ξ) dξ on the grid by the trapezoid rule (nm): the amount of barrier material."""
    p = abrupt_profiles(stack, n) if abrupt else profiles(stack, n)
    a = stack.length_nm / (n - 1)
    return a * (jnp.sum(p.al_fraction) - 0.5 * (p.al_fraction[0] + p.al_fraction[-1]))


def test_barrier_material_follows_thickness_without_staircase():
    """With δ = a/2 the barrier content ∫x dξ on the grid grows like x_b·d when a barrier
    thickens by sub-grid steps (continuum: d/dd_k ∫x dξ = x_k), with no steps where an
    interface crosses a grid point; abrupt profiles move in steps of x_b·a instead.
    Predicted ripple for δ = a/2: 2π²/sinh(π²) ≈ 2e-3 of the slope (stack.py docstring)."""
    base = Stack([Layer(6.0), Layer(2.0, 0.3), Layer(6.0)])
    n = 71  # a = 0.2 nm
    a = 14.0 / (n - 1)
    widths = 2.0 + np.linspace(0.0, 3 * a, 61)  # the barrier's far interface sweeps three grid cells
    stacks = [Stack([Layer(6.0), Layer(w, 0.3), Layer(6.0)]) for w in widths]
    smooth = np.array([float(_al_content_smooth(s)) for s in stacks])
    slope = np.diff(smooth) / np.diff(widths)
    np.testing.assert_allclose(slope, 0.3, rtol=1e-2)
    grad_fn = jax.jit(jax.grad(_al_content_smooth))
    grads = np.array([grad_fn(s).thickness_nm[1] for s in stacks[::10]])
    np.testing.assert_allclose(grads, 0.3, rtol=1e-2)
    abrupt = np.array([float(_al_content(s, n, abrupt=True)) for s in stacks])
    abrupt_slope = np.diff(abrupt) / np.diff(widths)
    assert np.max(abrupt_slope) > 3.0 and np.min(abrupt_slope) < 0.1  # staircase: jumps and flats
    grad_abrupt = jax.grad(lambda s: _al_content(s, n, abrupt=True))(base).thickness_nm[1]
    assert abs(float(grad_abrupt)) < 0.3 * 0.5  # no useful gradient


def test_profiles_compose_with_jit_vmap_grad():
    stack = rtd_stack()
    eager = profiles(stack, 90)
    jitted = jax.jit(profiles, static_argnames=("n_points", "materials"))(stack, n_points=90, materials=ALGAAS)
    for a, b in zip(eager, jitted):
        np.testing.assert_allclose(a, b, rtol=1e-13)
    # a batch of stacks: vmap over the pytree's leaves
    batch = jax.tree_util.tree_map(lambda v: jnp.stack([v, v * 1.01]), stack)
    many = jax.vmap(lambda s: profiles(s, 90).m_eff)(batch)
    np.testing.assert_allclose(many[0], eager.m_eff, rtol=1e-13)
    np.testing.assert_allclose(many[1], profiles(jax.tree_util.tree_map(lambda v: v * 1.01, stack), 90).m_eff, rtol=1e-13)
    # gradient with respect to the whole stack, and with respect to δ
    g = jax.jit(jax.grad(lambda s: jnp.sum(profiles(s, 90).band_edge_eV ** 2)))(stack)
    assert isinstance(g, Stack) and all(np.all(np.isfinite(getattr(g, f))) for f in FIELDS)
    gw = jax.grad(lambda w: jnp.sum(profiles(stack, 90, interface_width_nm=w).m_eff))(0.2)
    assert np.isfinite(gw)
