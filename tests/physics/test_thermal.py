"""Finite-temperature currents: 1-D Landauer and 3-D Tsu–Esaki (physics.md §10; diffsim_jax/thermal.py).

Physics checks: the T → 0 limits against the paper's 0 K current (diffsim_jax.physics.current) and
the analytic T = 0 Tsu–Esaki expression, a flat wire (𝒯 ≡ 1) against closed forms
(Fermi–Dirac integrals), zero current at zero bias, a mirrored device with reversed bias,
gauge invariance, gradients against central differences, jit/vmap over 25 biases, and
input validation. Grid convergence is in tests/physics/test_energy_grid.py.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import spence

import diffsim_jax as ds
from diffsim_jax.physics import thermal as th
from diffsim_jax.physics.constants import K_B_EV_PER_K
from diffsim_jax.physics import constants
from diffsim_jax.physics.qtbm import transmission_sweep
from diffsim_jax.physics.layers import abrupt_double_barrier


rtd = abrupt_double_barrier  # 3/5/3 nm Al0.3 barriers/well between 10 nm GaAs leads, N = 170: (U, L, m)


def paper(bias):
    return np.asarray(ds.potential(ds.default_params(), bias, ds.DeviceConfig())), 20.0, 0.067


# --------------------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------------------
def test_constants():
    """A* = q m₀ k_B²/(2π²ħ³) = 120.173 A cm⁻² K⁻² and A*/k_B² = 1.61831e10 A cm⁻² eV⁻² (physics.md §10)."""
    assert constants.RICHARDSON_A_PER_CM2_K2 == pytest.approx(120.173, rel=1e-5)
    assert th.TSU_ESAKI_A_PER_CM2_EV2 == pytest.approx(1.61831e10, rel=1e-5)
    assert K_B_EV_PER_K == 8.617333262e-5


# --------------------------------------------------------------------------------------
# T → 0
# --------------------------------------------------------------------------------------
PAPER_BIASES = (0.1, 0.225, 0.45)


def test_zero_temperature_landauer_is_the_papers_current():
    """temperature_K = 0 gives (2q/h)∫_{max(0, E_F − V)}^{E_F} 𝒯 dE: the package's 0 K current
    (physics.md §5) with 𝒯 evaluated directly at 4000 nodes, to 2e-5."""
    cfg = ds.DeviceConfig(quadrature="direct", n_interp=4000)
    p = ds.default_params()
    for v in PAPER_BIASES:
        u, length, m = paper(v)
        i_grid = float(th.landauer_current(u, 0.1, v, length, m, 0.0))
        assert i_grid == pytest.approx(float(ds.current(p, v, cfg)), rel=2e-5)


def test_finite_temperature_tends_to_the_zero_temperature_forms():
    """Both currents at T = 20, 5, 1 K approach the exact T → 0 forms (eqs. 5.1, 10.4) like T²
    (Sommerfeld); at 1 K they agree to 5e-5. Landauer on the paper's device, Tsu–Esaki on
    the AlGaAs RTD (per-site masses)."""
    cases = [(th.landauer_current, paper(v), 0.1, v) for v in PAPER_BIASES]
    cases += [(th.current_density, rtd(v), 0.05, v) for v in (0.06, 0.13, 0.22)]
    for fn, (u, length, m), ef, v in cases:
        zero = float(fn(u, ef, v, length, m, 0.0))
        diffs = [abs(float(fn(u, ef, v, length, m, t)) / zero - 1) for t in (20.0, 5.0, 1.0)]
        assert diffs[2] < 5e-5
        assert diffs[1] < diffs[0] / 8 and diffs[2] < diffs[1] / 8 + 1e-6


_sweep = jax.jit(transmission_sweep)


def _tsu_esaki_zero_t_brute_force(u, ef, v, length, m, panel=2e-5):
    """(10.4) by composite Gauss–Legendre on uniform panels split at the chemical potentials."""
    mu_l, mu_r = ef, ef - v
    lo = max(u[0], u[-1])
    cuts = sorted({lo, mu_l, *([mu_r] if mu_r > lo else [])})
    x, w = np.polynomial.legendre.leggauss(6)
    total = 0.0
    for a, b in zip(cuts[:-1], cuts[1:]):
        n = int(np.ceil((b - a) / panel))
        edges = np.linspace(a, b, n + 1)
        half = 0.5 * np.diff(edges)
        e = ((edges[:-1] + half)[:, None] + half[:, None] * x).ravel()
        padded = np.full(16384, e[-1])  # one compiled shape for all calls
        padded[: e.size] = e
        t = np.asarray(_sweep(jnp.asarray(u), jnp.asarray(padded), length, jnp.asarray(m)))[: e.size]
        kernel = np.maximum(mu_l - e, 0.0) - np.maximum(mu_r - e, 0.0)
        total += np.sum((half[:, None] * w).ravel() * t * kernel)
    return th.TSU_ESAKI_A_PER_CM2_EV2 * m[0] * total


def test_zero_temperature_tsu_esaki_matches_the_analytic_limit():
    """J(T = 0) = 1.61831e10·m_t ∫𝒯[(μ_L − E)₊ − (μ_R − E)₊]dE (physics.md eq. 10.4), real RTD
    with per-site masses: kink inside the window (0.03 V) and μ_R below E_lo (0.13, 0.22 V)."""
    for v in (0.03, 0.13, 0.22):
        u, length, m = rtd(v)
        j = float(th.current_density(u, 0.05, v, length, m, 0.0))
        assert j == pytest.approx(_tsu_esaki_zero_t_brute_force(u, 0.05, v, length, m), rel=1e-5)


# --------------------------------------------------------------------------------------
# Closed forms, symmetries
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("temperature_K", [300.0, 77.0, 4.0])
def test_flat_wire_against_fermi_dirac_integrals(temperature_K):
    """A uniform chain has 𝒯 ≡ 1 above its band edge, so (2q/h)·k_BT·[ln(1 + e^{μ_L/k_BT}) −
    ln(1 + e^{μ_R/k_BT})] and J = A*m_t T²[F₁(μ_L/k_BT) − F₁(μ_R/k_BT)] with F₁(η) = −Li₂(−e^η)
    are exact. Checks the prefactors, the window and the Fermi-tail quadrature."""
    kT = K_B_EV_PER_K * temperature_K
    _, length, m = rtd(0.0)
    u, m = np.zeros_like(m), np.full_like(m, 0.067)  # the RTD's grid, all GaAs: one compilation

    def f1(eta):
        return -spence(1.0 + np.exp(eta))  # −Li₂(−e^η); scipy's spence(z) = Li₂(1 − z)

    for ef, v in [(0.05, 0.03), (0.05, 0.2), (0.1, 0.05)]:
        mu_l, mu_r = ef, ef - v
        i_exact = th.CURRENT_UA_PER_EV * kT * (np.logaddexp(0, mu_l / kT) - np.logaddexp(0, mu_r / kT))
        j_exact = th.TSU_ESAKI_A_PER_CM2_EV2 * 0.067 * kT**2 * (f1(mu_l / kT) - f1(mu_r / kT))
        assert float(th.landauer_current(u, ef, v, length, m, temperature_K)) == pytest.approx(i_exact, rel=5e-5)
        assert float(th.current_density(u, ef, v, length, m, temperature_K)) == pytest.approx(j_exact, rel=5e-5)


def test_zero_bias_gives_zero_current():
    """μ_L = μ_R: the kernel vanishes identically, J = I = 0 exactly (asymmetric stack too)."""
    u, length, m = rtd(0.0, al_fraction=0.3)
    u = u + 0.05 * np.linspace(0.0, 1.0, u.size) ** 2 * (np.arange(u.size) < u.size - 1)  # break the symmetry
    assert float(th.current_density(u, 0.05, 0.0, length, m, 300.0)) == 0.0
    assert float(th.current_density(u, 0.05, 0.0, length, m, 0.0)) == 0.0
    assert float(th.landauer_current(u, 0.05, 0.0, length, m, 300.0)) == 0.0


def test_mirrored_device_with_reversed_bias_gives_minus_j():
    """Reflect the device x → L − x and shift energies so that the new left contact sits at 0:
    U'_j = U_{N−1−j} + V, bias −V, the same E_F. 𝒯 is reciprocal and the two contacts swap
    roles, so J' = −J (detailed balance). Equal contact masses keep m_t."""
    v = 0.12
    u, length, m = rtd(v)
    u_m, m_m = u[::-1] + v, m[::-1]
    for temperature_K in (77.0, 0.0):
        j = float(th.current_density(u, 0.05, v, length, m, temperature_K))
        j_m = float(th.current_density(u_m, 0.05, -v, length, m_m, temperature_K))
        assert j > 0 and j_m == pytest.approx(-j, rel=1e-8)
    i = float(th.landauer_current(u, 0.05, v, length, m, 300.0))
    assert float(th.landauer_current(u_m, 0.05, -v, length, m_m, 300.0)) == pytest.approx(-i, rel=1e-8)


def test_gauge_invariance():
    """Shifting U and E_F by the same constant changes nothing (the grid shifts with them)."""
    u, length, m = rtd(0.12)
    j = float(th.current_density(u, 0.05, 0.12, length, m, 77.0))
    assert float(th.current_density(u + 0.03, 0.08, 0.12, length, m, 77.0)) == pytest.approx(j, rel=1e-9)


def test_negative_differential_resistance_of_the_real_rtd():
    """The AlGaAs RTD shows NDR at every temperature: J(0.13 V) > 3·J(0.22 V)."""
    for t in (300.0, 77.0, 4.0):
        peak = float(th.current_density(*_args(0.13), temperature_K=t))
        valley = float(th.current_density(*_args(0.22), temperature_K=t))
        assert peak > 3 * valley > 0


def _args(v, ef=0.05):
    u, length, m = rtd(v)
    return u, ef, v, length, m


# --------------------------------------------------------------------------------------
# Differentiability
# --------------------------------------------------------------------------------------
def _j(u, ef, v, length, m, temperature_K):
    return th.current_density(u, ef, v, length, m, temperature_K)


# One compilation for every finite temperature (k_BT is traced), one for T = 0.
_grad_finite = jax.jit(jax.grad(_j, argnums=(0, 1, 2, 3, 4)))
_grad_zero = jax.jit(jax.grad(lambda u, ef, v, length, m: _j(u, ef, v, length, m, 0.0), argnums=(0, 1, 2, 3, 4)))


@pytest.mark.parametrize("temperature_K", [300.0, 4.0, 0.0])
def test_gradients_match_central_differences(temperature_K):
    """∂J/∂(U_j, E_F, V, L, m) by AD against central differences of the same function.

    The grid's nodes are frozen in the normalised window coordinate (energy_grid docstring), so
    AD differentiates the quadrature of ∂(𝒯K)/∂θ while the differences also see the nodes
    follow the resonance; both approximate the exact derivative to the grid's accuracy
    (measured ≤ 6e-6 apart), asserted to 1e-4 relative to the derivative or to J/scale for
    derivatives that vanish (∂J/∂V at fixed U once μ_R < E_lo). At T = 0 the moving limits
    give Leibniz terms."""
    v, ef = 0.12, 0.05
    u, length, m = (jnp.asarray(a) for a in rtd(v))
    if temperature_K:
        grads = _grad_finite(u, ef, v, length, m, temperature_K)
    else:
        grads = _grad_zero(u, ef, v, length, m)

    def j_of(u, ef, v, length, m):
        return float(_j(u, ef, v, length, m, temperature_K))

    j0 = j_of(u, ef, v, length, m)
    direction = jnp.asarray(np.random.default_rng(1).normal(size=u.shape[0]))
    checks = [  # (AD value, J(h), step, scale of the derivative)
        *[(grads[0][k], lambda h, k=k: j_of(u.at[k].add(h), ef, v, length, m), 1e-5, j0 / 0.1) for k in (20, 62, 85, 110)],
        (grads[1], lambda h: j_of(u, ef + h, v, length, m), 1e-5, j0 / 0.01),
        (grads[2], lambda h: j_of(u, ef, v + h, length, m), 1e-5, j0 / 0.1),
        (grads[3], lambda h: j_of(u, ef, v, length + h, m), 1e-4, j0 / length),
        (grads[4] @ direction, lambda h: j_of(u, ef, v, length, m + h * direction), 1e-6, j0 / 0.067),
    ]
    for ad, f, step, scale in checks:
        fd = (f(step) - f(-step)) / (2 * step)
        assert abs(float(ad) - fd) <= 1e-4 * max(abs(fd), scale), (float(ad), fd)


def test_jit_vmap_over_25_biases_equals_the_loop():
    """jax.jit(jax.vmap(...)) over 25 biases, one potential per bias, equals a Python loop."""
    biases = np.linspace(0.0, 0.5, 25)
    data = [rtd(b) for b in biases]
    pots = jnp.asarray(np.stack([d[0] for d in data]))
    length, m = data[0][1], jnp.asarray(data[0][2])
    batched = jax.jit(jax.vmap(lambda uu, vv: th.current_density(uu, 0.05, vv, length, m, 300.0)))(pots, jnp.asarray(biases))
    loop = [float(th.current_density(d[0], 0.05, b, length, m, 300.0)) for d, b in zip(data, biases)]
    np.testing.assert_allclose(np.asarray(batched), loop, rtol=1e-12, atol=0)
    assert np.asarray(batched)[0] == 0.0 and np.all(np.asarray(batched)[1:] > 0)


# --------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "changes, name",
    [
        (dict(temperature_K=-1.0), "temperature_K"),
        (dict(temperature_K=float("nan")), "temperature_K"),
        (dict(temperature_K=float("inf")), "temperature_K"),
        (dict(temperature_K=np.array([300.0, 4.0])), "temperature_K"),
        (dict(fermi_level=float("nan")), "fermi_level"),
        (dict(bias=np.array([0.1, 0.2])), "bias"),
        (dict(bias=float("inf")), "bias"),
        (dict(length=0.0), "length"),
        (dict(m_eff=-0.067), "m_eff"),
        (dict(m_eff=np.full(7, 0.067)), "m_eff"),
        (dict(potential=np.zeros((3, 3))), "potential"),
        (dict(potential=np.array([0.0, np.nan, 0.0])), "potential"),
        (dict(grid="fine"), "grid"),
        (dict(temperature_K=1e6), "temperature_K"),  # window beyond the lattice band top
    ],
)
def test_bad_inputs_raise_value_error_naming_the_argument(changes, name):
    kwargs = dict(potential=np.zeros(50), fermi_level=0.05, bias=0.1, length=20.0, m_eff=0.067, temperature_K=300.0)
    kwargs.update(changes)
    for fn in (th.current_density, th.landauer_current):
        with pytest.raises(ValueError, match=name):
            fn(**kwargs)
