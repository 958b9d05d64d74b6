"""The ``qtbm`` command-line tool (issue #5): design round trip, simulate, bad input.

Commands run in-process through ``diffsim_jax.cli.main`` (one subprocess proves that
``python -m diffsim_jax`` works). Every bad input must give exit status 2, one line on
stderr naming the file and the row or field, no traceback, and no output written.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import diffsim_jax as ds
from diffsim_jax import cli
from diffsim_jax.cli.box import jittered_start
from diffsim_jax.cli.io import StagedOutputs, read_iv_csv, write_iv_csv

#: The "known device" whose I–V is the round-trip target: a modest perturbation of the
#: paper's original RTD (the default start of ``qtbm design``).
KNOWN = {"heights_eV": [0.28, 0.32], "centers_nm": [7.2, 12.8], "widths_nm": [2.2, 1.8], "fermi_level_eV": 0.11}
#: 150 steps reach ~0.2 % of peak on this target (2 % is required); 1000 is the default.
ROUND_TRIP_ITERATIONS = 150
GOOD = "a good result from an earlier run\n"


def run(capsys, *argv):
    """``qtbm argv`` in-process → (exit status, stdout, stderr)."""
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, *fragments):
    assert code == 2
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("qtbm: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"


def write_csv(path, biases, currents):
    path.write_text("bias_V,current_uA\n" + "".join(f"{v},{i}\n" for v, i in zip(biases, currents)))
    return path


@pytest.fixture(scope="module")
def round_trip(tmp_path_factory):
    """``qtbm design`` fitted, from the default start, to the I–V of the known device."""
    d = tmp_path_factory.mktemp("round_trip")
    biases = ds.default_biases()
    target = np.asarray(ds.iv_curve(ds.BarrierParams.from_dict(KNOWN), biases))
    write_iv_csv(str(d / "iv.csv"), biases, target)
    argv = ["design", "--target", d / "iv.csv", "--out", d / "result.json", "--plot", d / "result.png"]
    argv += ["--iterations", ROUND_TRIP_ITERATIONS, "--seed", 7, "--quiet"]
    code = cli.main([str(a) for a in argv])
    result = json.loads((d / "result.json").read_text()) if code == 0 else None
    return {"dir": d, "biases": biases, "target": target, "code": code, "result": result}


@pytest.fixture()
def good_csv(tmp_path):
    return write_csv(tmp_path / "iv.csv", [0.0, 0.1, 0.2, 0.3], [0.0, 1.5, 3.0, 2.0])


# --------------------------------------------------------------------------------------
# Round trip
# --------------------------------------------------------------------------------------
def test_design_round_trip_reproduces_iv_within_2_percent_of_peak(round_trip):
    assert round_trip["code"] == 0
    res, target = round_trip["result"], round_trip["target"]
    np.testing.assert_array_equal(res["currents"]["bias_V"], round_trip["biases"])
    np.testing.assert_array_equal(res["currents"]["target_uA"], target)
    fitted = np.array(res["currents"]["fitted_uA"])
    rms = 100 * np.sqrt(np.mean((fitted - target) ** 2)) / np.max(np.abs(target))
    assert rms < 2.0
    assert res["fit"]["rms_percent_of_peak"] == pytest.approx(rms, rel=1e-9)
    # the record of the run
    assert set(res["params"]) == {"heights_eV", "centers_nm", "widths_nm", "fermi_level_eV"}
    assert res["initial_params"] == ds.default_params().to_dict()
    assert res["fit"]["iterations"] == ROUND_TRIP_ITERATIONS == res["design_config"]["iterations"]
    history = res["fit"]["loss_history"]
    assert history["last"] < history["first"] and history["min"] <= history["last"]
    assert history["samples"][0] == [0, history["first"]]
    assert res["config"] == json.loads(json.dumps(ds.DeviceConfig().to_dict()))
    assert res["seed"] == 7 and res["jitter"] == 0.0 and res["version"] == ds.__version__
    assert res["target"]["n_points"] == 25 and res["target"]["file"].endswith("iv.csv")
    assert (round_trip["dir"] / "result.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(os.listdir(round_trip["dir"])) == ["iv.csv", "result.json", "result.png"]  # no temp files


def test_simulate_reproduces_the_fitted_currents(round_trip, capsys):
    d, res = round_trip["dir"], round_trip["result"]
    code, out, _ = run(
        capsys, "simulate", "--params", d / "result.json", "--csv", d / "sim.csv", "--plot", d / "sim.png"
    )
    assert code == 0 and "wrote" in out
    sim = read_iv_csv(str(d / "sim.csv"))  # the CSV simulate writes is valid design input
    np.testing.assert_array_equal(sim.biases, res["currents"]["bias_V"])  # biases default to the result's
    np.testing.assert_allclose(sim.currents, res["currents"]["fitted_uA"], rtol=1e-9, atol=1e-12)
    assert (d / "sim.png").stat().st_size > 0


def test_simulate_accepts_a_bare_params_file_and_prints_csv(round_trip, tmp_path, capsys):
    res = round_trip["result"]
    (tmp_path / "params.json").write_text(json.dumps(res["params"]))
    code, out, _ = run(capsys, "simulate", "--params", tmp_path / "params.json", "--biases", "0:0.6:25")
    assert code == 0
    (tmp_path / "stdout.csv").write_text(out)
    sim = read_iv_csv(str(tmp_path / "stdout.csv"))
    np.testing.assert_allclose(sim.biases, res["currents"]["bias_V"], rtol=1e-12)
    np.testing.assert_allclose(sim.currents, res["currents"]["fitted_uA"], rtol=1e-9, atol=1e-12)


def test_design_shows_progress_and_summary_unless_quiet(round_trip, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)  # the bar is for terminals only (#16 §4)
    code, out, err = run(
        capsys, "design", "--target", round_trip["dir"] / "iv.csv", "--iterations", 3, "--out", tmp_path / "r.json"
    )
    assert code == 0
    assert "design" in err and "3/3" in err  # the tqdm bar
    assert "RMS error" in out and "Fermi level" in out and "r.json" in out


def test_jitter_is_reproducible_from_the_seed():
    p0, cfg, dcfg = ds.default_params(), ds.DeviceConfig(), ds.DesignConfig()
    assert jittered_start(p0, cfg, dcfg, 0.0, 1) is p0
    a, b, c = (jittered_start(p0, cfg, dcfg, 0.1, seed).to_dict() for seed in (1, 1, 2))
    assert a == b and a != c
    assert all(w > 0 for w in a["widths_nm"]) and 0 < a["fermi_level_eV"] < cfg.energy_window_eV[1]


# --------------------------------------------------------------------------------------
# Help and entry points
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "command, options",
    [
        ("design", ["--target", "--init", "--iterations", "--seed", "--jitter", "--out", "--plot", "--quiet"]),
        ("simulate", ["--params", "--biases", "--csv", "--plot", "--quiet"]),
    ],
)
def test_help_explains_every_option_with_units(capsys, command, options):
    code, out, _ = run(capsys, command, "--help")
    assert code == 0
    for option in options:
        assert option in out
    for unit in (" V", "µA", "eV", "nm"):
        assert unit in out


def test_module_entry_point_help():
    proc = subprocess.run([sys.executable, "-m", "diffsim_jax", "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "design" in proc.stdout and "simulate" in proc.stdout and "µA" in proc.stdout


# --------------------------------------------------------------------------------------
# Bad input: exit 2, one line naming file and row/field, nothing written
# --------------------------------------------------------------------------------------
HEADER = "bias_V,current_uA\n"
BAD_CSV = {
    "missing file": (None, ["iv.csv", "no such file"]),
    "empty file": ("", ["iv.csv", "no header"]),
    "missing column": ("bias_V\n0\n0.1\n0.2\n", ["iv.csv row 1", "missing column current_uA"]),
    "extra column": ("bias_V,current_uA,T_K\n0,0,4\n", ["iv.csv row 1", "unexpected column 'T_K'"]),
    "renamed column": ("bias_mV,current_uA\n0,0\n", ["iv.csv row 1", "missing column bias_V", "'bias_mV'"]),
    "extra cell": (HEADER + "0,0\n0.1,1,7\n0.2,2\n", ["iv.csv row 3", "expected 2 cells", "got 3"]),
    "missing cell": (HEADER + "0,0\n0.1\n0.2,2\n", ["iv.csv row 3", "got 1"]),
    "non-numeric current": (HEADER + "0,0\n0.1,1\n0.2,abc\n", ["iv.csv row 4", "current_uA is not a number ('abc')"]),
    "non-numeric bias": (HEADER + "0,0\n0.1 V,1\n0.2,2\n", ["iv.csv row 3", "bias_V is not a number ('0.1 V')"]),
    "empty cell": (HEADER + "0,0\n0.1,\n0.2,2\n", ["iv.csv row 3", "current_uA is not a number ('')"]),
    "nan": (HEADER + "0,0\n0.1,nan\n0.2,2\n", ["iv.csv row 3", "current_uA is not finite"]),
    "inf": (HEADER + "0,0\n0.1,1\ninf,2\n", ["iv.csv row 4", "bias_V is not finite"]),
    "too few points": (HEADER + "0,0\n0.1,1\n", ["iv.csv", "2 data row(s); at least 3"]),
    "duplicate bias": (HEADER + "0,0\n0.1,1\n0.1,2\n", ["iv.csv row 4", "repeats row 3"]),
    "unsorted biases": (HEADER + "0,0\n0.2,1\n0.1,2\n", ["iv.csv row 4", "below 0.2 V on row 3", "increase"]),
    "negative bias": (HEADER + "-0.1,0\n0,0\n0.1,1\n", ["iv.csv row 2", "bias_V is negative"]),
    "all-zero currents": (HEADER + "0,0\n0.1,0\n0.2,0.0\n", ["iv.csv", "every current_uA is 0"]),
}


@pytest.mark.parametrize("case", BAD_CSV, ids=list(BAD_CSV))
def test_design_rejects_bad_csv(tmp_path, capsys, case):
    content, fragments = BAD_CSV[case]
    if content is not None:
        (tmp_path / "iv.csv").write_text(content)
    (tmp_path / "result.json").write_text(GOOD)
    before = sorted(os.listdir(tmp_path))
    code, _, err = run(
        capsys, "design", "--target", tmp_path / "iv.csv", "--out", tmp_path / "result.json",
        "--plot", tmp_path / "r.png",
    )
    assert_one_line_error(code, err, *fragments)
    assert (tmp_path / "result.json").read_text() == GOOD  # a good output is never overwritten
    assert sorted(os.listdir(tmp_path)) == before  # no plot, no temporary files


def test_csv_reader_accepts_comments_blank_lines_bom_and_column_order(tmp_path):
    path = tmp_path / "iv.csv"
    path.write_text("\ufeff# measured 2024-05-01\n\ncurrent_uA , bias_V\n0, 0\n\n1.5,0.1\n# note\n3e0,0.2\n", "utf-8")
    data = read_iv_csv(str(path))
    np.testing.assert_array_equal(data.biases, [0.0, 0.1, 0.2])
    np.testing.assert_array_equal(data.currents, [0.0, 1.5, 3.0])


VALID = {"heights_eV": [0.3, 0.3], "centers_nm": [7.4, 12.6], "widths_nm": [2.0, 2.0], "fermi_level_eV": 0.1}


def edited(**changes):
    """``VALID`` with fields replaced (``None`` removes a field), as JSON text."""
    d = dict(VALID, **changes)
    return json.dumps({k: v for k, v in d.items() if v is not None})


BAD_PARAMS = {
    "missing file": (None, ["p.json", "no such file"]),
    "invalid JSON": ('{"heights_eV": [0.3, 0.3],', ["p.json line 1", "invalid JSON"]),
    "not an object": ("[0.3, 0.3]", ["p.json", "expected a JSON object"]),
    "missing field": (edited(fermi_level_eV=None), ["p.json", "missing field(s) fermi_level_eV"]),
    "missing field in result": (
        json.dumps({"params": {k: v for k, v in VALID.items() if k != "widths_nm"}, "fit": {}}),
        ["p.json", "missing field(s) params.widths_nm"],
    ),
    "unknown field": (edited(width_nm=[2.0, 2.0]), ["p.json", "unknown field(s) width_nm"]),
    "text value": (edited(heights_eV=["0.3", 0.3]), ["p.json", "field heights_eV[0] must be a number of eV"]),
    "scalar instead of list": (edited(centers_nm=7.4), ["p.json", "field centers_nm must be a non-empty list"]),
    "empty list": (edited(heights_eV=[], centers_nm=[], widths_nm=[]), ["p.json", "field heights_eV", "non-empty"]),
    "length mismatch": (edited(widths_nm=[2.0]), ["p.json", "one entry per barrier", "1 widths_nm"]),
    "negative width": (edited(widths_nm=[2.0, -1.0]), ["p.json", "field widths_nm[1] must be > 0 nm"]),
    "zero Fermi level": (edited(fermi_level_eV=0.0), ["p.json", "field fermi_level_eV = 0 eV must lie in (0,"]),
    "Fermi level above window": (edited(fermi_level_eV=5.0), ["p.json", "field fermi_level_eV = 5 eV"]),
    "NaN": (edited().replace("0.3,", "NaN,", 1), ["p.json", "field heights_eV[0] is not finite"]),
    "Infinity": (edited().replace("0.1}", "Infinity}"), ["p.json", "field fermi_level_eV is not finite"]),
    "centre outside device": (edited(centers_nm=[7.4, 25.0]), ["p.json", "field centers_nm[1] = 25 nm lies outside"]),
    "bad config value": (
        json.dumps(dict(VALID, config={"length_nm": -20})), ["p.json", "field config.length_nm must be"]
    ),
    "unknown config field": (json.dumps(dict(VALID, config={"lenght_nm": 20})), ["p.json", "config.lenght_nm"]),
    "bad result params block": (json.dumps({"params": [1, 2]}), ["p.json", "params must be a JSON object"]),
}


def write_params(path, content):
    if content is not None:
        path.write_text(content)
    return path


@pytest.mark.parametrize("case", BAD_PARAMS, ids=list(BAD_PARAMS))
def test_simulate_rejects_bad_params(tmp_path, capsys, case):
    content, fragments = BAD_PARAMS[case]
    params = write_params(tmp_path / "p.json", content)
    (tmp_path / "out.csv").write_text(GOOD)
    before = sorted(os.listdir(tmp_path))
    code, out, err = run(
        capsys, "simulate", "--params", params, "--csv", tmp_path / "out.csv", "--plot", tmp_path / "out.png"
    )
    assert_one_line_error(code, err, *fragments)
    assert out == ""
    assert (tmp_path / "out.csv").read_text() == GOOD
    assert sorted(os.listdir(tmp_path)) == before


@pytest.mark.parametrize("case", ["missing field", "negative width", "Fermi level above window"])
def test_design_rejects_bad_init_params(tmp_path, capsys, good_csv, case):
    content, fragments = BAD_PARAMS[case]
    init = write_params(tmp_path / "p.json", content)
    code, _, err = run(capsys, "design", "--target", good_csv, "--init", init, "--out", tmp_path / "r.json")
    assert_one_line_error(code, err, *fragments)
    assert not (tmp_path / "r.json").exists()


@pytest.mark.parametrize(
    "extra, fragments",
    [
        (["--out", "{dir}/missing/r.json"], ["--out", "does not exist"]),
        (["--out", "{dir}"], ["--out", "is a directory"]),
        (["--out", "{dir}/iv.csv"], ["--out", "would overwrite the input file"]),
        (["--out", "{dir}/r.json", "--plot", "{dir}/r.json"], ["--plot", "same file as --out"]),
        (["--out", "{dir}/r.json", "--plot", "{dir}/r.xyz"], ["--plot", "unknown image format 'xyz'"]),
    ],
)
def test_design_rejects_bad_output_paths(tmp_path, capsys, good_csv, extra, fragments):
    before = sorted(os.listdir(tmp_path))
    code, _, err = run(capsys, "design", "--target", good_csv, *[a.format(dir=tmp_path) for a in extra])
    assert_one_line_error(code, err, *fragments)
    assert sorted(os.listdir(tmp_path)) == before
    assert good_csv.read_text().startswith("bias_V,current_uA\n0.0,0.0")


@pytest.mark.parametrize(
    "argv",
    [
        ["design", "--target", "{csv}", "--iterations", "0"],
        ["design", "--target", "{csv}", "--iterations", "ten"],
        ["design", "--target", "{csv}", "--seed", "-1"],
        ["design", "--target", "{csv}", "--jitter", "nan"],
        ["design"],
        ["simulate", "--params", "p.json", "--biases", "0:0.6"],
        ["simulate", "--params", "p.json", "--biases", "0.2,0.1"],
        ["simulate", "--params", "p.json", "--biases", "-0.1:0.6:5"],
        ["frobnicate"],
    ],
)
def test_usage_errors_exit_2(capsys, good_csv, argv):
    code, _, err = run(capsys, *[a.format(csv=good_csv) for a in argv])
    assert code == 2
    assert "error:" in err and "Traceback" not in err


def test_failed_write_leaves_no_partial_file(tmp_path, capsys, monkeypatch):
    """A failure while writing the second output must leave the first one unwritten too."""
    import diffsim_jax.cli.common

    def broken_plot(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(diffsim_jax.cli.common, "plot_iv_and_potential", broken_plot)
    params = write_params(tmp_path / "p.json", edited())
    (tmp_path / "out.csv").write_text(GOOD)
    before = sorted(os.listdir(tmp_path))
    code, _, err = run(
        capsys, "simulate", "--params", params, "--biases", "0,0.1,0.2", "--csv", tmp_path / "out.csv",
        "--plot", tmp_path / "out.png",
    )
    assert_one_line_error(code, err, "No space left on device")
    assert (tmp_path / "out.csv").read_text() == GOOD
    assert sorted(os.listdir(tmp_path)) == before


def test_staged_outputs_all_or_nothing(tmp_path):
    (tmp_path / "a.txt").write_text("old a")
    with pytest.raises(RuntimeError):
        with StagedOutputs() as out:
            out.stage_text(str(tmp_path / "a.txt"), "new a")
            out.stage_text(str(tmp_path / "b.txt"), "new b")
            raise RuntimeError("fit failed")
    assert sorted(os.listdir(tmp_path)) == ["a.txt"] and (tmp_path / "a.txt").read_text() == "old a"
    with StagedOutputs() as out:
        out.stage_text(str(tmp_path / "a.txt"), "new a")
        out.stage_text(str(tmp_path / "b.txt"), "new b")
        assert out.commit() == [str(tmp_path / "a.txt"), str(tmp_path / "b.txt")]
    assert (tmp_path / "a.txt").read_text() == "new a" and (tmp_path / "b.txt").read_text() == "new b"
    assert sorted(os.listdir(tmp_path)) == ["a.txt", "b.txt"]


# --------------------------------------------------------------------------------------
# design --spec (physics.md §12)
# --------------------------------------------------------------------------------------
def test_design_from_spec_meets_the_figures_of_merit(tmp_path, capsys):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"targets": {"peak_bias_V": 0.3, "peak_current_uA": 3.0,
                                            "peak_to_valley_ratio": 4.0, "mean_power_uW": 0.4}}))
    out = tmp_path / "spec_result.json"
    assert cli.main(["design", "--spec", str(spec), "--out", str(out), "--quiet"]) == 0
    doc = json.loads(out.read_text())
    for name, fom in doc["figures_of_merit"].items():
        assert abs(fom["relative_error"]) < 0.05, (name, fom)
    # the reported figures of merit are those of the written design
    from diffsim_jax.design.metrics import mean_power_uW

    i = np.asarray(doc["currents"]["fitted_uA"])
    assert mean_power_uW(doc["currents"]["bias_V"], i) == pytest.approx(doc["figures_of_merit"]["mean_power_uW"]["achieved"])
    capsys.readouterr()


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ({"targets": {"peak_bias_V": 0.9}}, "unreachable"),
        ({"targets": {"peak_current_uA": -1.0}}, "peak_current_uA"),
        ({"targets": {}}, "targets"),
        ({"targets": {"peak_bias_V": 0.3}, "colour": 1}, "colour"),
    ],
)
def test_design_rejects_bad_specs(tmp_path, capsys, spec, fragment):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    assert cli.main(["design", "--spec", str(path), "--out", str(tmp_path / "o.json")]) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1, err
    assert not (tmp_path / "o.json").exists()


def test_design_needs_exactly_one_of_target_and_spec(tmp_path, capsys, good_csv):
    assert cli.main(["design", "--out", str(tmp_path / "o.json")]) == 2
    assert "exactly one of --target" in capsys.readouterr().err
