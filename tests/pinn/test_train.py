"""Training: a short run lowers the loss; the quick profile (CI, <= 3 min) moves T toward T*.
The default-profile acceptance run is marked slow."""

import numpy as np
import pytest

import pinn_sciann as pn
from pinn_sciann.config import LOSS_TERMS, PINNConfig


def _tiny():
    return PINNConfig.from_profile(
        "quick", hidden_layers=(12, 12), n_samples=300, n_boundary=16, forward_steps=100, forward_lbfgs_steps=0,
        inverse_steps=100, lbfgs_steps=20, steps_per_epoch=25, n_fd=200, n_eval_energies=20, max_train_seconds=0.0,
    )


def test_short_training_lowers_the_loss():
    r = pn.train_inverse(_tiny())
    h = r.loss_history
    assert set(h) == {"total"} | set(LOSS_TERMS)
    n = h["total"].size
    assert n == r.history_step.size == r.history_seconds.size
    fwd_end = int(np.searchsorted(r.history_step, r.stage_starts["inverse"], side="right"))
    assert h["total"][fwd_end - 1] < 0.5 * h["total"][0]  # forward stage
    assert h["total"][-1] < h["total"][fwd_end]  # inverse stages
    assert np.all(np.isnan(h["target"][:fwd_end])) and np.all(np.isfinite(h["target"][fwd_end:]))
    assert np.all(np.diff(r.history_step) > 0)
    # the potential stays pinned at the terminals (physics.md §7)
    np.testing.assert_allclose([r.potential[0], r.potential[-1]], [0.0, -r.config.bias_V], atol=1e-6)


def test_same_seed_same_result_bit_for_bit():
    """Training is deterministic for a fixed seed: two runs (Adam and L-BFGS-B) in one
    process give identical arrays, not merely close ones (README: "bit for bit")."""
    cfg = _tiny().replace(forward_steps=50, inverse_steps=50, lbfgs_steps=10)
    a, b = pn.train_inverse(cfg), pn.train_inverse(cfg)
    np.testing.assert_array_equal(a.loss_history["total"], b.loss_history["total"])
    for name in ("potential", "pinn_transmission", "fd_transmission", "fourier_matrix_psi", "fourier_matrix_u"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def test_rejects_non_config():
    with pytest.raises(ValueError, match="PINNConfig"):
        pn.train_inverse({"profile": "quick"})


def test_quick_profile(tmp_path):
    """CI smoke test of the quick profile: the FD-confirmed T of the learned U moves most of the
    way from the bare ramp's T to T*, and the PINN's own T agrees with the FD T.

    The profile's wall-time budget is switched off: on a slow or busy machine it would cut
    the L-BFGS stage short and make the result depend on the machine's speed."""
    r = pn.train_inverse(PINNConfig.from_profile("quick", max_train_seconds=0.0))
    m = pn.fig2_metrics(r)
    assert m["rmse_ramp_vs_target"] > 0.3
    assert m["rmse_fd_vs_target"] < 0.5 * m["rmse_ramp_vs_target"]
    assert m["rmse_pinn_vs_fd"] < 0.2
    back = pn.load_result(pn.save_result(r, tmp_path / "quick"))
    assert pn.fig2_metrics(back) == m
    assert len(pn.plot_figures(back, tmp_path / "figs")) == 3


@pytest.mark.slow
def test_default_profile_acceptance():
    """Issue #4 acceptance: FD-confirmed T within 0.05 of T* and the PINN's T within 0.05 of it."""
    r = pn.train_inverse(PINNConfig())
    m = pn.fig2_metrics(r)
    assert m["rmse_fd_vs_target"] <= 0.05
    assert m["rmse_fd_vs_target"] <= 0.3 * m["rmse_ramp_vs_target"]
    assert m["rmse_pinn_vs_fd"] <= 0.05
