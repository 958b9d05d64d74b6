"""Physics of the 2-D transport solver (physics.md §13): exact limits, conservation laws,
symmetries, an independent dense solve, gradients against finite differences, sharding."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

import diffsim_jax  # noqa: F401  (enables float64)
from diffsim_jax.physics import transport2d as t2
from diffsim_jax.physics.constants import kinetic_prefactor
from diffsim_jax.physics.qtbm import transmission

A_NM = 2.0
HOP = kinetic_prefactor(0.067) / A_NM**2  # t ≈ 0.1422 eV
NX, NY = 10, 5
PHI0 = 4135.667696  # h/e in T·nm², written out independently of the module


def random_potential(seed, nx=NX, ny=NY, amp=0.3):
    rng = np.random.default_rng(seed)
    return amp * HOP * rng.standard_normal((nx, ny))


ENERGIES = np.array([0.37, 0.81, 1.23, 1.71, 2.29]) * HOP


# --------------------------------------------------------------------------------------
# Independent dense reference (Caroli, modes from scipy's generalized eigensolver)
# --------------------------------------------------------------------------------------
def dense_self_energy(h0, prev, nxt, energy):
    """Σ = C·U Λ U⁻¹ of the retarded modes of a lead with rows (h0 − E)ψ_i + Aψ_{i−1} + Cψ_{i+1} = 0."""
    n = h0.shape[0]
    a, c = np.diag(prev), np.diag(nxt)
    # [u; λu]: [[0, 1], [−A, −(h0 − E)]] x = λ [[1, 0], [0, C]] x
    lhs = np.block([[np.zeros((n, n)), np.eye(n)], [-a, -(h0 - energy * np.eye(n))]])
    rhs = np.block([[np.eye(n), np.zeros((n, n))], [np.zeros((n, n)), c]])
    lam, x = scipy.linalg.eig(lhs, rhs)
    u = x[:n]
    keep = []
    for k in range(2 * n):
        if abs(abs(lam[k]) - 1.0) < 1e-9:
            vel = -2.0 * np.imag(lam[k] * np.conj(u[:, k]) @ c @ u[:, k])
            keep.append(vel > 0)
        else:
            keep.append(abs(lam[k]) < 1.0)
    keep = np.array(keep)
    assert keep.sum() == n
    uu, ll = u[:, keep], lam[keep]
    return c @ uu @ np.diag(ll) @ np.linalg.inv(uu)


def dense_transmission(potential, energy, field_T=0.0, gauge_origin_nm=0.0):
    nx, ny = potential.shape
    y = (np.arange(ny) + 1) * A_NM - gauge_origin_nm
    v = -HOP * np.exp(-2j * np.pi * field_T * A_NM * y / PHI0)  # H_{i+1,i}
    size = nx * ny
    h = np.zeros((size, size), complex)
    cols = []
    for i in range(nx):
        hc = np.diag(4 * HOP + potential[i]) - HOP * (np.eye(ny, k=1) + np.eye(ny, k=-1))
        cols.append(hc)
        h[i * ny:(i + 1) * ny, i * ny:(i + 1) * ny] = hc
        if i + 1 < nx:
            h[(i + 1) * ny:(i + 2) * ny, i * ny:(i + 1) * ny] = np.diag(v)
            h[i * ny:(i + 1) * ny, (i + 1) * ny:(i + 2) * ny] = np.diag(np.conj(v))
    sig_r = dense_self_energy(cols[-1], v, np.conj(v), energy)
    sig_l = dense_self_energy(cols[0], np.conj(v), v, energy)
    m = energy * np.eye(size) - h
    m[:ny, :ny] -= sig_l
    m[-ny:, -ny:] -= sig_r
    g = np.linalg.inv(m)
    g_n0 = g[-ny:, :ny]
    gam_l = 1j * (sig_l - sig_l.conj().T)
    gam_r = 1j * (sig_r - sig_r.conj().T)
    return np.real(np.trace(gam_r @ g_n0 @ gam_l @ g_n0.conj().T))


# --------------------------------------------------------------------------------------
# Exact limits
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("ny, lead_u", [(2, 0.0), (7, 0.05)])
def test_uniform_strip_transmits_its_open_modes(ny, lead_u):
    energies = lead_u + np.linspace(0.013, 7.9, 23) * HOP  # from below the first mode to above most
    potential = np.full((6, ny), lead_u)
    t = np.asarray(t2.transmission_2d(potential, energies, A_NM))
    count = t2.open_mode_count(ny, energies, HOP, lead_u)
    assert count.min() == 0 and count.max() >= ny - 1  # the sweep crosses many thresholds
    np.testing.assert_allclose(t, count, atol=1e-10)


def test_uniform_strip_in_a_field_transmits_every_open_mode():
    """With B ≠ 0 the lead modes mix y and x, but a uniform strip still has T = N_open."""
    potential = np.zeros((NX, NY))
    m = t2.transmission_matrix_2d(potential, ENERGIES * 1.3, A_NM, magnetic_field_T=4.0)
    n = np.asarray(m.n_open_left)
    assert n.max() >= 3
    np.testing.assert_allclose(np.asarray(m.transmission), n, atol=1e-10)
    np.testing.assert_array_equal(n, np.asarray(m.n_open_right))


def test_uniform_across_y_reduces_to_the_1d_solver_mode_by_mode():
    """U_ij = u_i separates: T_2D(E) = Σ_n T_1D(E − ε_n), ε_n = 2t(1 − cos(nπ/(N_y+1)))."""
    x = np.linspace(0.0, 1.0, NX)
    u = 0.6 * HOP * np.exp(-((x - 0.5) / 0.2) ** 2) - 0.1 * HOP * x
    potential = np.repeat(u[:, None], NY, axis=1)
    energies = np.linspace(0.05, 3.5, 5) * HOP  # below the 1-D band top 4t + min(u0, u_end)
    t2d = np.asarray(t2.transmission_2d(potential, energies, A_NM))
    n = np.arange(1, NY + 1)
    eps = 2 * HOP * (1 - np.cos(n * np.pi / (NY + 1)))
    length = (len(u) - 1) * A_NM
    t1d = sum(np.asarray(transmission(u, energies - e, length)) for e in eps)
    assert t1d.max() > 1.0
    np.testing.assert_allclose(t2d, t1d, atol=1e-12)


@pytest.mark.parametrize("field_T", [0.0, 3.0])
def test_agrees_with_an_independent_dense_caroli_solve(field_T):
    potential = random_potential(3)
    t = np.asarray(t2.transmission_2d(potential, ENERGIES, A_NM, magnetic_field_T=field_T))
    ref = np.array([dense_transmission(potential, e, field_T) for e in ENERGIES])
    assert ref.max() > 1.0
    np.testing.assert_allclose(t, ref, atol=1e-10)


# --------------------------------------------------------------------------------------
# Conservation laws and symmetries
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("field_T", [0.0, 2.5])
def test_unitarity_t_plus_r_is_the_number_of_open_modes(field_T):
    potential = random_potential(4)
    m = t2.transmission_matrix_2d(potential, ENERGIES, A_NM, magnetic_field_T=field_T)
    n_l = np.asarray(m.n_open_left)
    assert n_l.max() >= 3
    np.testing.assert_allclose(np.asarray(m.transmission + m.reflection), n_l, atol=1e-10)
    # the mode-resolved total is the Caroli total, and t is contracting (singular values ≤ 1)
    np.testing.assert_allclose(
        np.asarray(m.transmission), np.asarray(t2.transmission_2d(potential, ENERGIES, A_NM, magnetic_field_T=field_T)),
        atol=1e-11,
    )
    assert np.linalg.svd(np.asarray(m.t), compute_uv=False).max() <= 1 + 1e-10


def test_reciprocity_t_is_even_in_the_field():
    potential = random_potential(5)  # no mirror symmetry: T(B) = T(−B) is Onsager's, not geometry's
    plus = np.asarray(t2.transmission_2d(potential, ENERGIES, A_NM, magnetic_field_T=3.0))
    minus = np.asarray(t2.transmission_2d(potential, ENERGIES, A_NM, magnetic_field_T=-3.0))
    zero = np.asarray(t2.transmission_2d(potential, ENERGIES, A_NM))
    assert np.abs(plus - zero).max() > 1e-3  # the field matters here
    np.testing.assert_allclose(plus, minus, atol=1e-11)


def test_gauge_invariance_under_a_shift_of_the_landau_gauge_origin():
    potential = random_potential(6)
    solve = jax.jit(lambda y0: t2.transmission_local(t2.lattice_2d(potential, A_NM, 0.067, 3.0, y0), jnp.asarray(ENERGIES)))
    base = solve(0.0)
    for y0 in (3.7, -11.0):
        shifted = solve(y0)
        np.testing.assert_allclose(np.asarray(shifted), np.asarray(base), atol=1e-11)
        # the shift is a real change of the Hamiltonian (all x-bonds get an extra phase)
        assert abs(dense_transmission(potential, ENERGIES[2], 3.0, y0) - float(base[2])) < 1e-10


# --------------------------------------------------------------------------------------
# Lead modes: degeneracies
# --------------------------------------------------------------------------------------
lead_modes = jax.jit(t2.outgoing_bloch_matrix)


def chain_sigma(u, phase, energy):
    """Σ of a single chain (N_y = 1) with hopping −t·e^{−iθ} (non-degenerate: one mode each way)."""
    return lead_modes(np.array([[2 * HOP + u]]), -HOP * np.exp(-1j * np.array([phase])),
                      -HOP * np.exp(1j * np.array([phase])), energy).self_energy[0, 0]


@pytest.mark.parametrize("opposite", [False, True])
def test_degenerate_lead_modes(opposite):
    """Two decoupled chains whose modes share λ: with equal phases (same velocity) or with
    phases (0, 2k₀) at E = 2t(1 − cos k₀), where chain 2's left-mover has chain 1's λ = e^{ik₀}
    (opposite velocities). Σ must be the direct sum of the chains' self-energies."""
    k0 = 1.1
    energy = 2 * HOP * (1 - np.cos(k0))
    phases = np.array([0.0, 0.0 if not opposite else 2 * k0])
    h0 = np.diag([2 * HOP, 2 * HOP])
    prev = -HOP * np.exp(-1j * phases)
    modes = lead_modes(h0, prev, np.conj(prev), energy)
    expected = np.diag([chain_sigma(0.0, p, energy) for p in phases])
    np.testing.assert_allclose(np.asarray(modes.self_energy), expected, atol=1e-12)
    assert float(modes.n_open) == 2
    np.testing.assert_allclose(expected[0, 0], -HOP * np.exp(1j * k0), atol=1e-12)  # outgoing e^{ik₀}


# --------------------------------------------------------------------------------------
# Gradients against central differences (Richardson-extrapolated)
# --------------------------------------------------------------------------------------
def central(f, x, d, h):
    def diff(s):
        return (f(x + s * d) - f(x - s * d)) / (2 * s)

    return (4 * diff(h / 2) - diff(h)) / 3


WEIGHTS = np.array([0.7, -1.1, 0.4, 1.3, -0.6])


def objective(potential, field, energies):
    return jnp.sum(WEIGHTS * t2.transmission_2d(potential, energies, A_NM, magnetic_field_T=field))


def test_gradients_match_central_differences(monkeypatch):
    """Checked on the chunked backward pass (2 energies per chunk, one padding energy); the
    one-chunk default is compared with it in the sharding test."""
    monkeypatch.setattr(t2, "BACKWARD_CHUNK_BYTES", 2 * t2.backward_bytes_per_energy(NX, NY))
    assert t2.backward_chunk(NX, NY, len(ENERGIES), t2.BACKWARD_CHUNK_BYTES) == 2
    potential = random_potential(7)
    field = 2.0
    g_u, g_b, g_e = jax.grad(objective, argnums=(0, 1, 2))(potential, field, ENERGIES)
    rng = np.random.default_rng(8)
    d = rng.standard_normal(potential.shape)
    fd = central(lambda p: float(objective(p, field, ENERGIES)), potential, d, 1e-4)
    assert abs(float(jnp.sum(g_u * d)) - fd) < 1e-7 * max(1.0, abs(fd))
    lead = np.zeros_like(d)
    lead[0], lead[-1] = d[0], d[-1]  # the lead potentials alone (self-energies' custom JVP)
    fd = central(lambda p: float(objective(p, field, ENERGIES)), potential, lead, 1e-4)
    assert abs(float(jnp.sum(g_u * lead)) - fd) < 1e-7 * max(1.0, abs(fd))
    fd = central(lambda b: float(objective(potential, b, ENERGIES)), field, 1.0, 1e-2)
    assert abs(float(g_b) - fd) < 1e-7 * max(1.0, abs(fd))
    de = rng.standard_normal(ENERGIES.shape)
    fd = central(lambda e: float(objective(potential, field, e)), ENERGIES, de, 1e-5)
    assert abs(float(jnp.sum(g_e * de)) - fd) < 1e-7 * max(1.0, abs(fd))


def test_composes_with_jit_and_vmap():
    pots = np.stack([random_potential(s) for s in (10, 11)])
    batched = jax.jit(jax.vmap(lambda p: t2.transmission_2d(p, ENERGIES, A_NM, magnetic_field_T=1.0)))(pots)
    for p, row in zip(pots, batched):
        np.testing.assert_allclose(np.asarray(row), np.asarray(t2.transmission_2d(p, ENERGIES, A_NM, magnetic_field_T=1.0)),
                                   atol=1e-12)


# --------------------------------------------------------------------------------------
# Sharding over devices
# --------------------------------------------------------------------------------------
SHARDED = textwrap.dedent(
    """
    import json, sys
    import jax, jax.numpy as jnp, numpy as np
    import diffsim_jax
    from diffsim_jax.physics import transport2d as t2
    assert len(jax.devices()) == 2, jax.devices()
    p = np.array(json.loads(sys.argv[1]))
    e = np.array(json.loads(sys.argv[2]))
    def f(p):
        t = t2.transmission_2d(p, e, 2.0, magnetic_field_T=1.0)
        return jnp.sum(jnp.array([0.7, -1.1, 0.4, 1.3, -0.6]) * t), t
    g, t = jax.grad(f, has_aux=True)(p)
    print(json.dumps({"t": np.asarray(t).tolist(), "g": np.asarray(g).tolist()}))
    """
)


def test_sharded_over_two_devices_equals_unsharded():
    potential = random_potential(12)
    energies = ENERGIES[:5]  # 5 energies on 2 devices: one padding energy
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", SHARDED, json.dumps(potential.tolist()), json.dumps(energies.tolist())],
        check=False, capture_output=True, text=True, env=env, cwd=root, timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(jax.devices()) == 1
    t = t2.transmission_2d(potential, energies, 2.0, magnetic_field_T=1.0)
    g = jax.grad(objective)(potential, 1.0, energies)  # the module's default: one chunk
    np.testing.assert_allclose(res["t"], np.asarray(t), atol=1e-13)
    np.testing.assert_allclose(res["g"], np.asarray(g), atol=1e-12)


# --------------------------------------------------------------------------------------
# Conductance
# --------------------------------------------------------------------------------------
def test_conductance_zero_and_finite_temperature():
    potential = random_potential(13)
    mu = np.array([1.6 * HOP])  # 0.22t = 31 meV from the nearest lead threshold: T(E) smooth at 4 K
    g0 = np.asarray(t2.conductance_2d(potential, mu, A_NM))
    np.testing.assert_allclose(g0, 77.48091729 * np.asarray(t2.transmission_2d(potential, mu, A_NM)), rtol=1e-14)
    # thermal smearing: converged in the node spacing, and the built-in estimate bounds the error
    g, err = t2.conductance_2d(potential, mu, A_NM, temperature_K=4.0, with_error=True)
    fine = np.asarray(t2.conductance_2d(potential, mu, A_NM, temperature_K=4.0, step_kT=0.125))
    assert np.all(np.abs(np.asarray(g) - fine) < 1e-9 * fine)
    assert np.all(np.abs(np.asarray(g) - fine) <= np.asarray(err) + 1e-12)
    assert np.all(np.abs(np.asarray(g) - g0) > 1e-6 * g0)  # the smearing is seen
    # T → 0 K: second order in k_BT, G(4 K) − G(0) ≈ 16·(G(1 K) − G(0))
    cold = np.asarray(t2.conductance_2d(potential, mu, A_NM, temperature_K=1.0))
    np.testing.assert_allclose((np.asarray(g) - g0) / (cold - g0), 16.0, rtol=0.02)


# --------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"spacing_nm": 0.0}, "spacing_nm"),
        ({"potential": np.zeros((4, 1))}, "N_y"),
        ({"potential": np.zeros((0, 3))}, "N_x"),
        ({"potential": np.full((4, 3), np.nan)}, "potential"),
        ({"energies": np.array([0.1, np.inf])}, "energies"),
        ({"m_eff": -0.067}, "m_eff"),
        ({"magnetic_field_T": 1000.0}, "magnetic_field_T"),
        ({"potential": np.zeros((10, 40000))}, "potential"),
    ],
)
def test_bad_inputs_raise_naming_the_argument(kwargs, name):
    args = {"potential": np.zeros((4, 3)), "energies": np.array([0.1]), "spacing_nm": A_NM}
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        t2.transmission_2d(**args)


def test_magnetic_length_threshold():
    assert abs(t2.magnetic_length_nm(1.0) - 25.656) < 1e-3
    b_max = PHI0 / (2 * np.pi * (2 * A_NM) ** 2)  # l_B = 2a
    t2.transmission_2d(np.zeros((3, 3)), [0.1], A_NM, magnetic_field_T=0.99 * b_max)
    with pytest.raises(ValueError, match="magnetic_field_T"):
        t2.transmission_2d(np.zeros((3, 3)), [0.1], A_NM, magnetic_field_T=-1.01 * b_max)
