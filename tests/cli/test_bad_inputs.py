"""Every bad input of issue #16 §2, through ``qtbm`` (in-process): exit status 2, one line on
stderr naming the file or option and the rule, no traceback, no NumPy repr, nothing written.
Also §3 (a design that gives up: exit status 3, best-so-far written) and §4 (help, manual,
progress bars only on a terminal).

Every refusal here happens before any computation, so the file runs in seconds.
"""

import copy
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffsim_jax import cli
import importlib

cli_main = importlib.import_module("diffsim_jax.cli.main")
from diffsim_jax.cli import stack as cli_stack
from diffsim_jax.validation import InfeasibleError, MAX_BIASES

RTD = {"layers": [{"thickness_nm": 15, "al_fraction": 0.0, "doping_cm3": 2e18},
                  {"thickness_nm": 5, "al_fraction": 0.0, "doping_cm3": 0},
                  {"thickness_nm": 3, "al_fraction": 0.3, "doping_cm3": 0},
                  {"thickness_nm": 5, "al_fraction": 0.0, "doping_cm3": 0},
                  {"thickness_nm": 3, "al_fraction": 0.3, "doping_cm3": 0},
                  {"thickness_nm": 5, "al_fraction": 0.0, "doping_cm3": 0},
                  {"thickness_nm": 15, "al_fraction": 0.0, "doping_cm3": 2e18}],
       "model": {"n_points": 170}}
BOX = {"heights_eV": [0.3, 0.3], "centers_nm": [7.4, 12.6], "widths_nm": [2.0, 2.0], "fermi_level_eV": 0.1}
DOCS = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "cli.md")


def stack_with(edit):
    d = copy.deepcopy(RTD)
    edit(d)
    return d


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def refused(capsys, tmp_path, argv, *fragments):
    """Run ``qtbm argv`` in ``tmp_path``; assert status 2, one clean line holding ``fragments``, no new file."""
    before = set(os.listdir(tmp_path))
    code, out, err = run(capsys, *argv)
    assert code == 2, (code, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith("qtbm: error: "), line
    assert "Traceback" not in err and "np.float64" not in line and "array(" not in line, line
    for fragment in fragments:
        assert fragment in line, f"{fragment!r} not in {line!r}"
    assert set(os.listdir(tmp_path)) == before, "a refused run left a file behind"
    return line


@pytest.fixture
def files(tmp_path, monkeypatch):
    """Stack and box inputs in a fresh directory (the working directory)."""
    monkeypatch.chdir(tmp_path)

    def write(name, data):
        (tmp_path / name).write_text(json.dumps(data))
        return name

    return write


def _drop(k, field):
    return lambda d: d["layers"][k].pop(field)


def _set(k, field, value):
    return lambda d: d["layers"][k].__setitem__(field, value)


# -------------------------------------------------------------------- §2: missing fields
@pytest.mark.parametrize("edit, fragments", [
    (_drop(2, "al_fraction"), ["layers[2] is missing field al_fraction"]),
    (_drop(0, "doping_cm3"), ["layers[0] is missing field doping_cm3"]),
    (_drop(3, "thickness_nm"), ["layers[3] is missing field thickness_nm"]),
])
def test_missing_layer_field_is_an_error(capsys, tmp_path, files, edit, fragments):
    name = files("rtd.json", stack_with(edit))
    refused(capsys, tmp_path, ["simulate", "--model", "stack", "--params", name, "--csv", "out.csv"],
            name, *fragments)


def test_undoped_emitter_message_names_the_file(capsys, tmp_path, files):
    name = files("undoped.json", stack_with(_set(0, "doping_cm3", 0)))
    refused(capsys, tmp_path, ["simulate", "--model", "stack", "--params", name, "--csv", "out.csv"],
            "undoped.json:", "emitter", "undoped", "fermi_level_eV")


# -------------------------------------------------------------------- §2: sizes and bounds
def test_huge_grid_refused_by_the_memory_estimate(capsys, tmp_path, files):
    name = files("huge.json", stack_with(lambda d: d["model"].__setitem__("n_points", 100_000_000)))
    refused(capsys, tmp_path, ["simulate", "--model", "stack", "--params", name, "--csv", "out.csv"],
            "huge.json:", "100000000 grid points", "of memory")


@pytest.mark.parametrize("model", ["box", "stack"])
def test_too_many_biases_refused(capsys, tmp_path, files, model):
    name = files("d.json", RTD if model == "stack" else BOX)
    refused(capsys, tmp_path, ["simulate", "--model", model, "--params", name, "--biases", "0:0.6:100000000",
                               "--csv", "out.csv"], "--biases", f"at most {MAX_BIASES}")
    # below the count limit, the memory estimate of the whole sweep refuses it
    refused(capsys, tmp_path, ["simulate", "--model", model, "--params", name, "--biases", "0:0.6:90000",
                               "--csv", "out.csv"], "90000 biases", "of memory")


def test_millimetre_layer_refused(capsys, tmp_path, files):
    name = files("mm.json", stack_with(_set(3, "thickness_nm", 1e6)))
    refused(capsys, tmp_path, ["simulate", "--model", "stack", "--params", name, "--csv", "out.csv"],
            "mm.json:", "thickness_nm must be at most 1000 nm", "1e+06")


def test_grid_too_coarse_for_a_long_stack(capsys, tmp_path, files):
    name = files("long.json", stack_with(_set(3, "thickness_nm", 900.0)))
    refused(capsys, tmp_path, ["simulate", "--model", "stack", "--params", name, "--csv", "out.csv"],
            "long.json:", "grid is too coarse", "model.n_points")


@pytest.mark.parametrize("value", ["1e6", "-5", "nan", "hot"])
def test_temperature_bounds(capsys, tmp_path, files, value):
    name = files("rtd.json", RTD)
    line = refused(capsys, tmp_path, ["simulate", "--model", "stack", "--params", name, "--temperature", value,
                                      "--csv", "out.csv"], "--temperature")
    assert "expected one argument" not in line
    if value in ("1e6", "-5"):
        assert "[0, 1000] K" in line


def test_design_result_temperature_bounds(capsys, tmp_path, files):
    name = files("result.json", {"params": {k: RTD[k] for k in ("layers",)}, "temperature_K": 5000})
    refused(capsys, tmp_path, ["simulate", "--model", "stack", "--params", name, "--csv", "out.csv"],
            "result.json:", "temperature_K must lie in [0, 1000] K", "5000")


# -------------------------------------------------------------------- §2: one voice
@pytest.mark.parametrize("x", [0.6, 1.5])
def test_al_fraction_one_message(capsys, tmp_path, files, x):
    name = files("al.json", stack_with(_set(2, "al_fraction", x)))
    refused(capsys, tmp_path, ["simulate", "--model", "stack", "--params", name, "--csv", "out.csv"],
            "al.json:", "layers[2]", "al_fraction must lie in [0, 0.45) for AlGaAs", f"got {x:g}")


@pytest.mark.parametrize("spec, fragments", [
    ("-0.1:0.2:4", [">= 0 V", "-0.1"]),
    ("0.2,0.1", ["strictly increasing", "0.1 V after 0.2 V"]),
    ("0,nan,0.2", ["NaN"]),
    ("0:0.2", ["START:STOP:N"]),
])
def test_bias_messages(capsys, tmp_path, files, spec, fragments):
    name = files("rtd.json", RTD)
    line = refused(capsys, tmp_path, ["simulate", "--model", "stack", "--params", name, "--biases", spec,
                                      "--csv", "out.csv"], "--biases", *fragments)
    assert "expected one argument" not in line


def test_stack_file_without_model_stack(capsys, tmp_path, files):
    name = files("rtd.json", RTD)
    line = refused(capsys, tmp_path, ["simulate", "--params", name, "--csv", "out.csv"], "rtd.json:", "--model stack")
    assert "heights_eV" not in line


def test_box_file_with_model_stack(capsys, tmp_path, files):
    name = files("box.json", BOX)
    refused(capsys, tmp_path, ["simulate", "--model", "stack", "--params", name, "--csv", "out.csv"],
            "box.json:", "--model box")


def test_usage_errors_are_one_line(capsys, tmp_path, files):
    refused(capsys, tmp_path, ["simulate", "--params", "x.json", "--no-such-option"], "unrecognized arguments")
    refused(capsys, tmp_path, ["simulate"], "--params", "qtbm simulate --help")
    refused(capsys, tmp_path, ["design", "--iterations", "0", "--target", "x.csv"], "--iterations")


# -------------------------------------------------------------------- §3: honest failures
def _fake_self_consistent_observable(limit_nm):
    """A self-consistent observable stand-in: J ∝ total thickness; any trial stack thicker than
    ``limit_nm`` is infeasible (as a contact that loses neutrality), like the real solver's check."""

    def factory(model, temperature_K, fermi_level_eV=None, progress=False):
        @jax.custom_vjp
        def j(thickness, biases):
            return 1e5 * jnp.sum(thickness) / 51.0 * biases

        def fwd(thickness, biases):
            total = float(np.sum(np.asarray(thickness)))
            if total > limit_nm:
                raise InfeasibleError(f"the emitter (first layer) is too short to be charge-neutral (L = {total:.4g} nm)")
            return j(thickness, biases), (thickness, biases)

        def bwd(res, g):
            thickness, biases = res
            return jnp.full_like(thickness, 1e5 / 51.0 * jnp.sum(g * biases)), jnp.zeros_like(biases)

        j.defvjp(fwd, bwd)
        return lambda _model, params, biases: j(params.stack.thickness_nm, biases)

    return factory


@pytest.mark.parametrize("limit, status", [(51.0 + 1e-9, 3), (51.3, 0)])
def test_self_consistent_design_backs_off_and_reports(capsys, tmp_path, files, monkeypatch, limit, status):
    """Trial steps beyond the feasible region are undone; when every retry fails the design
    stops with status 3 and writes its best-so-far result; when retries succeed it finishes (0)."""
    monkeypatch.setattr(cli_stack, "self_consistent_observable", _fake_self_consistent_observable(limit))
    name = files("rtd.json", RTD)
    biases = np.array([0.05, 0.1, 0.15, 0.2])
    (tmp_path / "jv.csv").write_text("bias_V,current_density_Acm2\n" + "".join(
        f"{v},{2e5 * v}\n" for v in biases))  # wants thicker layers: pushes against the limit
    code, out, err = run(capsys, "design", "--model", "stack", "--self-consistent", "--init", name, "--target",
                         "jv.csv", "--iterations", 40, "--out", "fit.json", "--quiet")
    assert code == status, err
    doc = json.loads((tmp_path / "fit.json").read_text())
    assert doc["fit"]["skipped_steps"] > 0
    assert "charge-neutral" in doc["fit"]["last_failure"]
    total = sum(layer["thickness_nm"] for layer in doc["params"]["layers"])
    assert total <= limit
    if status == 3:
        assert doc["fit"]["converged"] is False and "20 consecutive" in doc["fit"]["stopped"]
        line, = err.strip().splitlines()
        assert line.startswith("qtbm: design did not converge: 20 consecutive") and "fit.json" in line
    else:
        assert doc["fit"]["converged"] is True and doc["fit"]["stopped"] is None and err == ""


def test_infeasible_start_is_bad_input(capsys, tmp_path, files, monkeypatch):
    monkeypatch.setattr(cli_stack, "self_consistent_observable", _fake_self_consistent_observable(10.0))
    name = files("rtd.json", RTD)
    (tmp_path / "jv.csv").write_text("bias_V,current_density_Acm2\n0.1,1\n0.2,2\n0.3,3\n")
    refused(capsys, tmp_path, ["design", "--model", "stack", "--self-consistent", "--init", name, "--target", "jv.csv",
                               "--iterations", 5, "--out", "fit.json", "--quiet"], "rtd.json:", "charge-neutral")


# -------------------------------------------------------------------- §4: help, manual, progress
def test_help_describes_both_models_units_and_exit_statuses(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for fragment in ("--model stack", "A/cm²", "µA", "doping_cm3", "qtbm docs", "3 ", "did not converge", "0-1000 K"):
        assert fragment in out, fragment
    code, out, _ = run(capsys, "simulate", "--help")
    assert code == 0
    for fragment in ("--model stack", "current_density_Acm2", "A/cm²", "--temperature", "did not converge"):
        assert fragment in " ".join(out.split()), fragment


def test_docs_command_prints_the_manual(capsys):
    code, out, _ = run(capsys, "docs")
    assert code == 0
    with open(DOCS, encoding="utf-8") as f:
        assert out == f.read()
    code, out, _ = run(capsys, "docs", "--path")
    assert code == 0 and os.path.samefile(out.strip(), DOCS)
    # the package carries the manual itself (package data), so an installed copy finds it too
    assert os.path.samefile(cli_main.manual_path(), os.path.join(os.path.dirname(cli_main.__file__), "cli.md"))


def test_exit_statuses_documented_in_the_manual():
    with open(DOCS, encoding="utf-8") as f:
        text = f.read()
    for status, meaning in cli_main.EXIT_STATUSES.items():
        assert f"| {status} |" in text, status


def test_no_progress_bar_when_stderr_is_not_a_terminal(capsys, tmp_path, monkeypatch):
    """A redirected run (stderr not a terminal) gets no progress bar, without --quiet."""
    monkeypatch.chdir(tmp_path)
    biases = np.linspace(0, 0.6, 7)
    (tmp_path / "iv.csv").write_text("bias_V,current_uA\n" + "".join(f"{v},{1 + v}\n" for v in biases))
    code, out, err = run(capsys, "design", "--target", "iv.csv", "--iterations", 3, "--out", "r.json")
    assert code == 0, err
    assert "\r" not in err and "it/s" not in err and "design:" not in err
    assert "qtbm design: fitted" in out


def test_solver_that_does_not_converge_exits_3_and_writes_nothing(capsys, tmp_path, files, monkeypatch):
    """A self-consistent simulation whose solver fails is not bad input: status 3, one line, no file."""
    from diffsim_jax.validation import NotConvergedError

    def failing(args, argv):
        raise NotConvergedError("self-consistent solution did not converge at bias 0.3 V: residual 1e-3 eV")

    monkeypatch.setattr(cli_stack, "cmd_simulate_stack", failing)
    name = files("rtd.json", RTD)
    before = set(os.listdir(tmp_path))
    code, _, err = run(capsys, "simulate", "--model", "stack", "--self-consistent", "--params", name, "--csv", "o.csv")
    assert code == 3
    line, = err.strip().splitlines()
    assert line.startswith("qtbm: did not converge: self-consistent solution") and "no output written" in line
    assert set(os.listdir(tmp_path)) == before
