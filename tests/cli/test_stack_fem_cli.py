"""`qtbm simulate --model stack --discretisation fem` (physics.md §14, §14.11; docs/cli.md): the abrupt
finite-element J(V), with and without self-consistency, agrees with the finite-difference path within
that path's own error estimate; its p-refinement estimate is reported; unsupported options and bad
input exit 2 with one line and write nothing."""

import json

import numpy as np
import pytest

import diffsim_jax  # noqa: F401  (float64)
from diffsim_jax.cli.main import main

LAYERS = [{"thickness_nm": 30, "al_fraction": 0.0, "doping_cm3": 2e18},
          {"thickness_nm": 3, "al_fraction": 0.0, "doping_cm3": 0},
          {"thickness_nm": 2.5, "al_fraction": 0.3, "doping_cm3": 0},
          {"thickness_nm": 4.5, "al_fraction": 0.0, "doping_cm3": 0},
          {"thickness_nm": 2.5, "al_fraction": 0.3, "doping_cm3": 0},
          {"thickness_nm": 3, "al_fraction": 0.0, "doping_cm3": 0},
          {"thickness_nm": 30, "al_fraction": 0.0, "doping_cm3": 2e18}]


def write_stack(tmp_path):
    path = tmp_path / "rtd.json"
    path.write_text(json.dumps({"layers": LAYERS}))
    return path


def read(path):
    lines = path.read_text().splitlines()
    body = [ln for ln in lines if ln and not ln.startswith("#")]
    header = body[0].split(",")
    data = np.array([[float(c) for c in ln.split(",")] for ln in body[1:]])
    comments = {ln[2:].split(":")[0]: ln for ln in lines if ln.startswith("# ")}
    return {h: data[:, i] for i, h in enumerate(header)}, comments


def spatial_error(comment: str) -> float:
    return float(comment.split("spatial_error: ")[1].split()[0])


@pytest.mark.parametrize("self_consistent", [False, True])
def test_fem_agrees_with_fd_within_the_fd_error_estimate(tmp_path, capsys, self_consistent):
    path = write_stack(tmp_path)
    extra = ["--self-consistent"] if self_consistent else []
    biases = "0:0.2:3" if self_consistent else "0:0.4:9"
    for disc in ("fem", "fd"):
        argv = ["simulate", "--model", "stack", "--params", str(path), "--biases", biases, "--csv",
                str(tmp_path / f"{disc}.csv"), "--discretisation", disc, "--quiet", *extra]
        assert main(argv) == 0, capsys.readouterr().err
    fem, fem_notes = read(tmp_path / "fem.csv")
    fd, fd_notes = read(tmp_path / "fd.csv")
    assert "discretisation: fem (abrupt interfaces), order=4" in fem_notes["discretisation"]
    assert "met=true" in fem_notes["spatial_error"]
    column = "current_density_Acm2"  # the up sweep when self-consistent
    peak = np.max(np.abs(fem[column]))
    difference = np.max(np.abs(fem[column] - fd[column])) / peak
    # the FEM estimate is far below the FD one; the paths differ by the FD discretisation error
    assert spatial_error(fem_notes["spatial_error"]) < 0.1 * spatial_error(fd_notes["spatial_error"])
    assert difference <= 3.0 * spatial_error(fd_notes["spatial_error"]) + 1e-4
    if self_consistent:  # no bistability below 0.2 V: both sweeps agree on both paths
        np.testing.assert_allclose(fem["current_density_down_Acm2"], fem[column], rtol=1e-4, atol=1.0)


@pytest.mark.parametrize("argv, fragment", [
    (["--plot", "j.png"], "--plot is not available with --discretisation fem"),
    (["--points", "301"], "--points is not available with --discretisation fem"),
    (["--save-profiles", "prof"], "--save-profiles is not available with --discretisation fem"),
    (["--temperature", "0"], "--temperature must be > 0 K with --discretisation fem"),
    (["--discretisation", "fe"], "invalid choice"),
])
def test_unsupported_options_exit_2_with_one_line_and_write_nothing(tmp_path, capsys, argv, fragment):
    path = write_stack(tmp_path)
    argv = [str(tmp_path / a) if a in ("j.png", "prof") else a for a in argv]
    full = ["simulate", "--model", "stack", "--params", str(path), "--csv", str(tmp_path / "j.csv")]
    if "--discretisation" not in argv:
        full += ["--discretisation", "fem"]
    assert main(full + argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fragment in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rtd.json"]


def test_discretisation_needs_the_stack_model(tmp_path, capsys):
    params = tmp_path / "p.json"
    params.write_text('{"heights_eV": [0.3, 0.3], "centers_nm": [7.4, 12.6], "widths_nm": [2, 2], "fermi_level_eV": 0.1}')
    assert main(["simulate", "--params", str(params), "--csv", str(tmp_path / "i.csv"), "--discretisation", "fem"]) == 2
    assert "--discretisation needs --model stack" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.json"]
