"""Each residual of physics.md eqs. (4)–(11) vanishes on the analytic free-wire solution, and the
SciANN graph's derivatives agree with finite differences of the networks' ψ."""

import numpy as np
import pytest

from pinn_sciann.compat import import_sciann
from pinn_sciann.config import LOSS_TERMS, PINNConfig
from pinn_sciann.losses import residual_terms, transmission, wkb_phase

K0 = 8.0  # κ0 = L·sqrt(E_s/C); any positive value


def _free_wire_terms(k_factor):
    """ψ = e^{i·k_factor·k x} with U ≡ 0 (so k_L = k_R = k), as SciANN functionals in float64."""
    sn = import_sciann()
    from keras import backend as K

    sn.reset_session()
    sn.set_floatx("float64")
    xi = sn.Variable("xi", dtype="float64")
    eps = sn.Variable("eps", dtype="float64")
    k = K0 * sn.sqrt(eps)  # physics.md eq. (2) with U_L = 0
    phase = (k * k_factor) * xi
    pr, pi = sn.cos(phase), sn.sin(phase)
    dpr, dpi = sn.diff(pr, xi), sn.diff(pi, xi)
    d2pr, d2pi = sn.diff(dpr, xi), sn.diff(dpi, xi)
    u = 0.0 * xi
    terms = residual_terms(pr, pi, dpr, dpi, d2pr, d2pi, eps, u, k, k, K0)
    terms["T"] = transmission(pr, pi, k, k)
    fn = K.function(xi.outputs + eps.outputs, [f.outputs[0] for f in terms.values()])

    def evaluate(x, e):
        out = fn([np.asarray(x, float).reshape(-1, 1), np.asarray(e, float).reshape(-1, 1)])
        return {name: np.ravel(v) for name, v in zip(terms, out)}

    return evaluate


@pytest.fixture(scope="module")
def free_wire():
    return _free_wire_terms(1.0)


def test_terms_cover_the_paper_equations():
    assert set(residual_terms(*([1.0] * 10), K0)) | {"target"} == set(LOSS_TERMS)


def test_free_wire_satisfies_every_equation(free_wire):
    """physics.md §2: ψr = cos kx, ψi = sin kx solves (4)–(10) and gives T = 1 (11)."""
    rng = np.random.default_rng(0)
    e = rng.uniform(0.05, 2.0, 64)
    interior = free_wire(rng.uniform(0, 1, 64), e)
    left = free_wire(np.zeros(64), e)
    right = free_wire(np.ones(64), e)
    for name in ("schrodinger_re", "schrodinger_im", "continuity"):
        assert np.max(np.abs(interior[name])) < 1e-11, name
    for name in ("bc_left_re", "bc_left_im"):
        assert np.max(np.abs(left[name])) < 1e-12, name
    for name in ("bc_right_re", "bc_right_im"):
        assert np.max(np.abs(right[name])) < 1e-12, name
    np.testing.assert_allclose(right["T"], 1.0, atol=1e-12)


def test_residuals_detect_a_wrong_wavenumber():
    """Not vacuous: ψ = e^{1.1ikx} violates the Schrödinger equation and both boundary conditions."""
    wrong = _free_wire_terms(1.1)
    e = np.linspace(0.2, 1.0, 16)
    assert np.min(np.abs(wrong(np.full(16, 0.3), e)["schrodinger_re"]) + np.abs(wrong(np.full(16, 0.3), e)["schrodinger_im"])) > 0.1
    assert np.max(np.abs(wrong(np.zeros(16), e)["bc_left_im"])) > 0.05
    assert np.max(np.abs(wrong(np.ones(16), e)["bc_right_re"]) + np.abs(wrong(np.ones(16), e)["bc_right_im"])) > 0.05


def test_wkb_phase_derivative_is_the_local_wavenumber():
    """θ_ξ = κ0·sqrt(ε + vξ): k_L at ξ = 0 and k_R at ξ = 1 (physics.md eqs. 2, 3 for the bare ramp)."""
    eps, v, h = 0.3, 1.0, 1e-6
    xi = np.linspace(h, 1 - h, 11)
    d = (wkb_phase(eps, xi + h, K0, v) - wkb_phase(eps, xi - h, K0, v)) / (2 * h)
    np.testing.assert_allclose(d, K0 * np.sqrt(eps + v * xi), rtol=1e-8)
    assert wkb_phase(eps, 0.0, K0, v) == 0.0


def test_graph_derivatives_match_finite_differences():
    """The model's Schrödinger residual (8) from SciANN's second derivative through the WKB
    ansatz and the Fourier features equals the one from finite differences of its own ψ."""
    from pinn_sciann.model import PINNModel

    cfg = PINNConfig(hidden_layers=(16, 16), dtype="float64", n_fd=400)
    m = PINNModel(cfg)
    xi = np.linspace(0.2, 0.8, 7)
    e_hat = np.full_like(xi, 0.6)
    h = 1e-4
    pr = [m.wavefunction(xi + s * h, e_hat)[0] for s in (-1, 0, 1)]
    d2 = (pr[0] - 2 * pr[1] + pr[2]) / h**2
    eps = (cfg.energy_min_eV + 0.6 * (cfg.energy_max_eV - cfg.energy_min_eV)) / cfg.energy_scale_eV
    u = m.potential_eV(xi) / cfg.energy_scale_eV
    expected = d2 / m.k0 + m.k0 * (eps - u) * pr[1]
    got = m.residuals(xi, e_hat)["schrodinger_re"]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * np.max(np.abs(expected)))


def test_reference_potential_functional_matches_numpy():
    """The diagnostic forward problem uses the same U_ref as the target (physics.md §7)."""
    from pinn_sciann import targets
    from pinn_sciann.model import PINNModel

    cfg = PINNConfig(hidden_layers=(8,), dtype="float64", n_fd=400, forward_potential="reference",
                     inverse_steps=0, lbfgs_steps=0)
    m = PINNModel(cfg)
    x = targets.grid_nm(cfg)
    got = m.evaluate([m.u_fixed], x / cfg.length_nm, 0.0)[0] * cfg.energy_scale_eV
    np.testing.assert_allclose(got, targets.reference_potential(x, cfg), atol=1e-12)
    # the trainable potential starts as the bare ramp, pinned at both ends
    np.testing.assert_allclose(m.potential_eV(x / cfg.length_nm), targets.bare_ramp(x, cfg), atol=1e-12)
