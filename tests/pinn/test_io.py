"""Saved results round-trip (NPZ + JSON) and the figures are drawn from them."""

import json
import os

import numpy as np
import pytest

import pinn_sciann as pn
from pinn_sciann import targets
from pinn_sciann.config import LOSS_TERMS, PINNConfig


def synthetic_result(cfg=None):
    cfg = cfg or PINNConfig.from_profile("quick")
    rng = np.random.default_rng(0)
    x = targets.grid_nm(cfg)
    e = targets.eval_energies(cfg)
    k = 40
    hist = {name: np.abs(rng.standard_normal(k)) for name in ("total",) + LOSS_TERMS}
    hist["target"][:10] = np.nan  # forward stage: no target term
    return pn.PINNResult(
        x=x, potential=targets.reference_potential(x, cfg), energies=e,
        target_transmission=rng.uniform(0, 1, e.size), pinn_transmission=rng.uniform(0, 1, e.size),
        fd_transmission=rng.uniform(0, 1, e.size), ramp_transmission=np.ones(e.size),
        reference_potential=targets.reference_potential(x, cfg), loss_history=hist,
        history_step=np.arange(1, k + 1) * 50.0, history_seconds=np.linspace(0, 9, k),
        stage_starts={"forward": 0, "inverse": 500}, monitor={"step": np.array([500.0]), "rmse_pinn_vs_fd": np.array([0.1])},
        config=cfg, train_seconds=12.5, fourier_matrix_psi=rng.standard_normal((20, 2)),
        fourier_matrix_u=rng.standard_normal((20, 1)),
    )


def test_round_trip(tmp_path):
    r = synthetic_result()
    pn.save_result(r, tmp_path / "run")
    back = pn.load_result(tmp_path / "run")
    assert back.config == r.config
    assert back.train_seconds == r.train_seconds
    assert back.stage_starts == r.stage_starts
    for name in ("x", "potential", "energies", "target_transmission", "pinn_transmission", "fd_transmission",
                 "ramp_transmission", "reference_potential", "history_step", "history_seconds",
                 "fourier_matrix_psi", "fourier_matrix_u"):
        np.testing.assert_array_equal(getattr(back, name), getattr(r, name))
    assert back.loss_history.keys() == r.loss_history.keys()
    for key in r.loss_history:
        np.testing.assert_array_equal(back.loss_history[key], r.loss_history[key])
    for key in r.monitor:
        np.testing.assert_array_equal(back.monitor[key], r.monitor[key])
    assert pn.fig2_metrics(back) == pn.fig2_metrics(r)
    meta = json.loads((tmp_path / "run" / "result.json").read_text())
    assert meta["metrics"]["profile"] == "quick"
    assert meta["hyperparameters"] == [list(row) for row in r.config.hyperparameter_rows()]


def test_load_missing_raises(tmp_path):
    with pytest.raises(ValueError, match="missing"):
        pn.load_result(tmp_path)


def test_metrics_are_rmse_of_the_curves():
    r = synthetic_result()
    m = pn.fig2_metrics(r)
    assert m["rmse_fd_vs_target"] == pytest.approx(np.sqrt(np.mean((r.fd_transmission - r.target_transmission) ** 2)))
    assert m["rmse_pinn_vs_fd"] == pytest.approx(np.sqrt(np.mean((r.pinn_transmission - r.fd_transmission) ** 2)))
    assert m["rmse_ramp_vs_target"] == pytest.approx(np.sqrt(np.mean((1.0 - r.target_transmission) ** 2)))
    assert m["train_seconds"] == 12.5 and m["profile"] == "quick"


def test_plot_figures_writes_three_pngs(tmp_path):
    paths = pn.plot_figures(synthetic_result(), tmp_path / "figs")
    assert [os.path.basename(p) for p in paths] == list(pn.FIGURE_NAMES)
    for p in paths:
        with open(p, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
