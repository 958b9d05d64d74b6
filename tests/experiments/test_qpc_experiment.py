"""Fig. 10 (experiments/qpc.py) at the quick profile: the physics of what it writes."""

from __future__ import annotations

import json

import numpy as np
import pytest

import diffsim_jax  # noqa: F401  (float64)
from diffsim_jax.physics.transport2d import transmission_2d
import experiments
from experiments import qpc


@pytest.fixture(scope="module")
def fig10(tmp_path_factory):
    out = tmp_path_factory.mktemp("fig10")
    metrics = experiments.run("qpc", "quick", out)["fig10"]  # pinned to one CPU (qpc.ONE_CPU)
    return out, metrics


def test_saddle_error_shrinks_with_the_lattice_spacing(fig10):
    out, m = fig10
    table = np.loadtxt(out / "fig10_saddle.csv", delimiter=",", skiprows=1, ndmin=2)
    spacing, error = table[:, 0], table[:, 3]
    assert np.all(np.diff(spacing) < 0)
    assert np.all(np.diff(error) < 0)
    assert m["saddle_max_error"] == pytest.approx(error[-1])


def test_clean_split_gate_has_integer_plateaus_at_0K_and_smears_with_temperature(fig10):
    out, m = fig10
    data = np.loadtxt(out / "fig10_split_gate.csv", delimiter=",", skiprows=1)
    g0, g1, g4 = data[:, 1], data[:, 2], data[:, 4]
    # pinched off at the most negative voltage, three modes at the least negative
    assert g0[0] < 0.02 and abs(g0[-1] - 3.0) < 0.05
    on = np.abs(g0 - np.round(g0)) < 0.02
    assert on.mean() >= 0.5
    # conductance never exceeds the open-mode count and rises (almost) monotonically
    assert np.all(g0 > -1e-12) and np.all(g0 < 3.05)
    assert np.all(np.diff(g0) > -0.05)
    # thermal smearing: the deviation from the 0 K staircase grows with temperature
    assert np.sum(np.abs(g4 - g0)) > np.sum(np.abs(g1 - g0)) > 0.0
    assert m["thermal_quadrature_max_error_G0"] < 0.2


def test_design_restores_plateaus_and_lowers_the_loss(fig10):
    out, m = fig10
    assert m["loss_after"] < 0.5 * m["loss_before"]
    assert m["plateau_rms_after"] < m["plateau_rms_before"]
    assert m["plateau_rms_before"] > 0.1  # the disorder did destroy the plateaus
    d = json.loads((out / "fig10_design.json").read_text())
    history = np.asarray(d["gradient_loss_history"])
    assert history.min() == pytest.approx(m["loss_after"])
    assert np.all(np.diff(d["gradient_times_s"]) >= 0)
    assert len(d["gradient_evaluations"]) == len(history) and min(d["gradient_evaluations"]) >= 1
    assert m["gradient_evaluations"] == sum(d["gradient_evaluations"])
    assert m["plateau_rms_after_adabelief"] < m["plateau_rms_before"]
    assert np.all(np.diff(d["cmaes_best_history"]) <= 0)
    assert m["value_and_gradient_cost_in_values"] > 0.5
    assert m["cmaes_popsize"] == 4 + int(3 * np.log(2 * qpc.PROFILE_SETTINGS["quick"]["n_fingers"]))


def test_saved_device_re_solves_to_the_stored_transmission(fig10):
    out, _ = fig10
    with np.load(out / "fig10" / "result.npz") as r:
        pot, a, e, t = r["potential"], float(r["spacing_nm"]), r["energies"], r["transmission"]
        assert pot.shape == (qpc.DEVICE["n_x"], qpc.DEVICE["n_y"])
        assert float(r["magnetic_field_T"]) == 0.0 and float(r["m_eff"]) == 0.067
    np.testing.assert_allclose(transmission_2d(pot, e, a, 0.067, 0.0), t, atol=1e-10)
    assert np.all(t >= -1e-12) and np.all(t <= 20)
    assert (out / "fig10_qpc.png").stat().st_size > 10_000
