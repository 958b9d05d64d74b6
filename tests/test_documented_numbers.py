"""Numbers quoted in README.md and docs/cli.md are regenerated here from code and compared,
within the precision they are quoted to (a number in the documents with nothing behind it
is a defect). figures/results.json is checked against a fresh computation as well."""

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest

import diffsim_jax as ds
from diffsim_jax.metrics import mean_power_uW, peak_to_valley_ratio
from diffsim_jax.paper_devices import modified_params, original_params

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
CLI_DOC = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
RESULTS = json.loads((ROOT / "figures" / "results.json").read_text())
BIASES = ds.default_biases()
CFG = ds.DeviceConfig()


SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def sci(value: float) -> str:
    """6.16e-06 → '6.2·10⁻⁶', the README's notation for small numbers."""
    mantissa, exponent = f"{value:.1e}".split("e")
    return f"{mantissa}·10{str(int(exponent)).translate(SUPERSCRIPT)}"


def quoted(text: str, value: float, fmt: str) -> bool:
    """``value`` formatted with ``fmt`` (or "sci": :func:`sci`) appears in ``text`` as a
    number (not inside a longer one)."""
    s = sci(value) if fmt == "sci" else format(value, fmt)
    return re.search(rf"(?<![\d.]){re.escape(s)}(?![\d])", text) is not None


@pytest.fixture(scope="module")
def paper_design():
    """The paper's Figs. 4–5 design exactly as reproduce.py runs it (1000 AdaBelief steps)."""
    target = np.asarray(ds.iv_curve(modified_params(), BIASES, CFG))
    return ds.design(BIASES, target, original_params(), CFG, iterations=1000, progress=False)


def test_fig5_results_json_is_reproduced(paper_design):
    fig5 = RESULTS["fig5"]
    i_orig = np.asarray(ds.iv_curve(original_params(), BIASES, CFG))
    i_target = np.asarray(ds.iv_curve(modified_params(), BIASES, CFG))
    computed = {
        "power_original_uW": mean_power_uW(BIASES, i_orig),
        "power_target_uW": mean_power_uW(BIASES, i_target),
        "pvr_original": peak_to_valley_ratio(BIASES, i_orig),
        "pvr_target": peak_to_valley_ratio(BIASES, i_target),
        "iv_rms_percent_of_peak": paper_design.rms_percent_of_peak,
        "power_designed_uW": mean_power_uW(BIASES, paper_design.currents),
        "pvr_designed": peak_to_valley_ratio(BIASES, paper_design.currents),
    }
    for key, value in computed.items():
        assert value == pytest.approx(fig5[key], rel=1e-8), key


@pytest.mark.parametrize(
    "key, fmt",
    [
        ("power_original_uW", ".3f"),
        ("power_target_uW", ".3f"),
        ("power_designed_uW", ".3f"),
        ("pvr_original", ".2f"),
        ("pvr_target", ".2f"),
        ("pvr_designed", ".2f"),
        ("iv_rms_percent_of_peak", ".2f"),
    ],
)
def test_readme_quotes_fig5_numbers(key, fmt):
    assert quoted(README, RESULTS["fig5"][key], fmt), f"README does not quote {key} = {RESULTS['fig5'][key]:{fmt}}"


def test_quadrature_error_quoted_in_readme():
    """The paper's 100/100 scheme against 2000 direct nodes, worst bias, % of the peak current."""
    ref = np.asarray(ds.iv_curve(ds.default_params(), BIASES, dataclasses.replace(CFG, quadrature="direct", n_interp=2000)))
    i = np.asarray(ds.iv_curve(ds.default_params(), BIASES, CFG))
    err = 100 * np.max(np.abs(i - ref)) / ref.max()
    assert quoted(README, err, ".2f") and err < 1.0, err


def test_cli_worked_example_numbers(tmp_path, capsys):
    """docs/cli.md's worked example: simulate the wanted device, design from the default start."""
    from diffsim_jax.cli import main

    wanted = tmp_path / "wanted_device.json"
    wanted.write_text('{"heights_eV": [0.35, 0.35], "centers_nm": [7.0, 13.0], "widths_nm": [2.0, 2.0], "fermi_level_eV": 0.09}')
    assert main(["simulate", "--params", str(wanted), "--csv", str(tmp_path / "wanted_iv.csv"), "--quiet"]) == 0
    out = tmp_path / "result.json"
    assert main(["design", "--target", str(tmp_path / "wanted_iv.csv"), "--out", str(out), "--quiet"]) == 0
    fit = json.loads(out.read_text())["fit"]
    assert quoted(CLI_DOC, fit["rms_percent_of_peak"], ".3g"), fit["rms_percent_of_peak"]
    assert quoted(CLI_DOC, fit["max_abs_error_uA"], ".2g"), fit["max_abs_error_uA"]
    capsys.readouterr()


def dig(tree, path: str):
    for key in path.split("/"):
        tree = tree[int(key)] if isinstance(tree, list) else tree[key]
    return tree


@pytest.mark.parametrize(
    "path, fmt, scale",
    [
        ("fig2/rmse_fd_vs_target", ".2g", 1),
        ("fig2/fd_over_ramp", ".2g", 1),
        ("fig2/rmse_pinn_vs_fd", ".2g", 1),
        ("fig2/train_seconds", ".0f", 1),
        ("fig5/design_seconds", ".1f", 1),
        ("fig6/diffsim_rmse_fd_vs_target", "sci", 1),
        ("fig6/diffsim_rmse_fine_grid", "sci", 1),
        ("fig6/diffsim_seconds", ".1f", 1),
        ("fig6/diffsim_seconds_to_pinn_error", ".1f", 1),
        ("fig6/speedup_at_pinn_accuracy", ".0f", 1),
        ("fig7/freeform_rms_percent_of_peak", ".2f", 1),
        ("fig7/double_barrier_rms_percent_of_peak", ".2f", 1),
        ("fig7/double_barrier_free_fermi_rms_percent_of_peak", ".2f", 1),
        ("fig7/freeform_rms_percent_of_peak_fine_grid", ".2f", 1),
        ("fig7/spec_achieved/box/peak_to_valley_ratio", ".2f", 1),
        ("fig7/spec_achieved/freeform/peak_to_valley_ratio", ".2f", 1),
        ("fig8/0K/pvr", ".2f", 1),
        ("fig8/77K/pvr", ".2f", 1),
        ("fig8/300K/pvr", ".2f", 1),
        ("fig8/0K/peak_Acm2", ".0f", 1e-3),
        ("fig8/77K/peak_Acm2", ".0f", 1e-3),
        ("fig8/300K/peak_Acm2", ".0f", 1e-3),
        ("fig8/300K/peak_bias_V", ".4f", 1),
        ("fig8/design/rms_percent_of_peak", ".2f", 1),
        ("fig8/design/seconds", ".0f", 1),
        ("fig8/design/pvr_designed", ".2f", 1),
        ("fig8/design/pvr_target", ".2f", 1),
        ("fig9/peak_shift_V", ".4f", 1),
        ("fig9/up/peak_bias_V", ".3f", 1),
        ("fig9/non_selfconsistent/peak_Acm2", ".0f", 1e-3),
        ("fig9/up/peak_Acm2", ".0f", 1e-3),
        ("fig9/pvr_non_selfconsistent", ".2f", 1),
        ("fig9/pvr_up", ".2f", 1),
        ("fig9/pvr_down", ".2f", 1),
        ("fig9/bistable_rtd/bistable_biases_V/0", ".3f", 1),
        ("fig9/bistable_rtd/bistable_biases_V/-1", ".4f", 1),
        ("fig9/quasi_bound/J_ratio_collector_over_emitter", ".2f", 1),
        ("fig9/design_rms_percent_of_peak", ".2f", 1),
    ],
)
def test_readme_quotes_the_extension_results(path, fmt, scale):
    """Figs. 1–3 and 6–9: every number the README quotes is the one in figures/results.json."""
    value = dig(RESULTS, path) * scale
    assert quoted(README, value, fmt), f"README does not quote {path} = {sci(value) if fmt == 'sci' else format(value, fmt)}"


def test_extension_results_met_their_acceptance():
    """The committed Figs. 2 and 6–7 results satisfy the acceptance their experiments record."""
    assert RESULTS["fig2"]["accepted"]
    for fig in ("fig6", "fig7"):
        assert all(RESULTS[fig]["acceptance"].values()), RESULTS[fig]["acceptance"]
    assert RESULTS["fig9"]["max_residual_eV"] < 1e-6


@pytest.mark.parametrize("path", ["README.md", "docs/physics.md", "docs/cli.md"])
def test_documents_have_no_control_characters(path):
    """A LaTeX escape written through a non-raw string (\\frac → form feed) is caught here."""
    text = (ROOT / path).read_text(encoding="utf-8")
    bad = sorted({f"U+{ord(ch):04X}" for ch in text if ord(ch) < 0x20 and ch != "\n"})
    assert not bad, f"{path} contains control characters {bad}"
