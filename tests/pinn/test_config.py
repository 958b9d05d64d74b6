"""PINNConfig: profiles, validation and the paper's hyperparameter table (physics.md §7)."""

import dataclasses

import pytest

import pinn_sciann as pn
from pinn_sciann.config import PINNConfig


def test_default_is_default_profile():
    assert PINNConfig() == PINNConfig.from_profile("default")
    assert PINNConfig().profile == "default"


def test_paper_profile_matches_the_paper_table():
    """Paper, Appendix A, "PINNs": [8X20], n = 1000, FF 20,1,0, Train 0.001,20000,20000."""
    cfg = PINNConfig.from_profile("paper")
    assert cfg.hidden_layers == (20,) * 8
    assert (cfg.fourier_features, cfg.fourier_std, cfg.fourier_mean) == (20, 1.0, 0.0)
    assert cfg.learning_rate == 0.001 and cfg.lr_decay == 1.0
    assert cfg.total_adam_steps == 20000 and cfg.lbfgs_steps == 0 and cfg.forward_lbfgs_steps == 0
    assert cfg.n_samples == 20000 and cfg.n_fd == 1000
    rows = cfg.hyperparameter_rows()
    assert dict(rows[:4]) == {
        "NN size (all)": "[8X20]",
        "n": "1000",
        "FF(samples,std.dev.,mean)": "20,1,0",
        "Train(step,iterations,samples)": "0.001,20000,20000",
    }
    assert all(name.startswith("(") for name, _ in rows[4:])  # choices the paper does not state


def test_rows_describe_the_config_that_runs():
    rows = dict(PINNConfig.from_profile("quick").hyperparameter_rows())
    cfg = PINNConfig.from_profile("quick")
    assert rows["NN size (all)"] == f"[{len(cfg.hidden_layers)}X20]"
    total_lbfgs = cfg.forward_lbfgs_steps + cfg.lbfgs_steps  # both stages' L-BFGS iterations
    assert f"{cfg.total_adam_steps} Adam + {total_lbfgs} L-BFGS" in rows["Train(step,iterations,samples)"]
    assert rows["(forward stage, U = bare ramp)"] == f"{cfg.forward_steps} Adam + {cfg.forward_lbfgs_steps} L-BFGS"
    for profile in ("quick", "default", "paper"):
        assert PINNConfig.from_profile(profile).profile_note().startswith(f"`{profile}`")


def test_frozen_and_round_trip():
    cfg = PINNConfig.from_profile("quick", seed=7)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.seed = 3
    assert PINNConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize(
    "field, value",
    [
        ("profile", "fast"),
        ("length_nm", -1.0),
        ("energy_min_eV", 0.0),
        ("energy_max_eV", 0.01),
        ("hidden_layers", (20, 0)),
        ("hidden_layers", [20, 20]),
        ("fourier_features", 0),
        ("ansatz", "airy"),
        ("activation", "relu6"),
        ("n_samples", 5),
        ("forward_steps", -1),
        ("lr_decay", 0.0),
        ("learning_rate", float("nan")),
        ("weight_pde", 0.0),
        ("weight_target", -1.0),
        ("dtype", "float16"),
        ("n_fd", 20),
        ("ref_center_frac", 1.5),
        ("seed", True),
        ("forward_potential", "airy"),
        ("forward_potential", "reference"),  # only valid without inverse stages
    ],
)
def test_bad_values_raise_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        PINNConfig(**{field: value})


def test_unknown_profile_and_fields():
    with pytest.raises(ValueError, match="profile"):
        PINNConfig.from_profile("huge")
    with pytest.raises(ValueError, match="bogus"):
        PINNConfig.from_dict({"bogus": 1})


def test_importing_the_package_does_not_import_tensorflow():
    import subprocess
    import sys

    code = "import sys, pinn_sciann; print('tensorflow' in sys.modules or 'sciann' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    assert callable(pn.train_inverse)
