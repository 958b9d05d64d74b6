"""Numbers quoted in README.md, docs/results.md, docs/physics.md and docs/cli.md are
regenerated here from code and compared, within the precision they are quoted to (a number
in the documents with nothing behind it is a defect). figures/results.json is checked
against a fresh computation as well.

Reproducibility (docs/results.md): timings are quoted but never asserted; the few results
that move across machines (optimisations that amplify round-off) are checked against the
documents to their measured cross-machine tolerance, not to their last digit, so that
``make reproduce`` followed by ``make test`` passes on any machine."""

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest

import diffsim_jax as ds
from diffsim_jax.design.metrics import mean_power_uW, peak_to_valley_ratio
from diffsim_jax.models.box import modified_params, original_params

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
#: every document that quotes results
DOCS_TEXT = "\n".join((ROOT / p).read_text(encoding="utf-8")
                      for p in ("README.md", "docs/results.md", "docs/physics.md", "docs/benchmarks.md"))
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
def test_documents_quote_fig5_numbers(key, fmt):
    assert quoted(DOCS_TEXT, RESULTS["fig5"][key], fmt), f"docs do not quote {key} = {RESULTS['fig5'][key]:{fmt}}"


def test_quadrature_error_quoted_in_readme():
    """The paper's 100/100 scheme against 2000 direct nodes, worst bias, % of the peak current."""
    ref = np.asarray(ds.iv_curve(ds.default_params(), BIASES, dataclasses.replace(CFG, quadrature="direct", n_interp=2000)))
    i = np.asarray(ds.iv_curve(ds.default_params(), BIASES, CFG))
    err = 100 * np.max(np.abs(i - ref)) / ref.max()
    assert quoted(DOCS_TEXT, err, ".2f") and err < 1.0, err


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
        ("fig6/diffsim_rmse_fine_grid", "sci", 1),
        ("fig7/freeform_rms_percent_of_peak", ".2f", 1),
        ("fig7/double_barrier_rms_percent_of_peak", ".2f", 1),
        ("fig7/double_barrier_free_fermi_rms_percent_of_peak", ".2f", 1),
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
        ("fig9/quasi_bound/J_ratio_collector_over_emitter", ".2f", 1),
        ("fig9/design_rms_percent_of_peak", ".2f", 1),
        ("fig10/saddle_max_error", ".3f", 1),
        ("fig10/saddle_convergence/0/max_error", ".2f", 1),
        ("fig10/split_gate_max_conductance_G0", ".2f", 1),
        ("fig10/plateau_rms_before", ".3f", 1),
        ("fig10/loss_before", ".3f", 1),
        ("fig11/orders/fd", ".2f", 1),
        ("fig11/orders/p1", ".2f", 1),
        ("fig11/orders/p2", ".2f", 1),
        ("fig11/orders/p3", ".2f", 1),
        ("fig11/orders/p4", ".2f", 1),
        ("fig11/fem/unknowns", "d", 1),
        ("fig11/fd/points", "d", 1),
        ("fig11/unknowns_ratio", ".0f", 1),
        ("fig11/selfconsistent/fem/bistable_V/0", ".3f", 1),
        ("fig11/selfconsistent/fem/bistable_V/1", ".2f", 1),
        ("fig11/selfconsistent/fem/unknowns", "d", 1),
        ("fig11/selfconsistent/fd_300/max_difference_to_fem", ".1f", 100),
        ("fig11/selfconsistent/fd_1200/max_difference_to_fem", ".2f", 100),
    ],
)
def test_documents_quote_the_extension_results(path, fmt, scale):
    """Figs. 1–3 and 6–11: every number the documents quote is the one in figures/results.json."""
    value = dig(RESULTS, path) * scale
    assert quoted(DOCS_TEXT, value, fmt), f"docs do not quote {path} = {sci(value) if fmt == 'sci' else format(value, fmt)}"


#: Results that move across machines, with the tolerance measured between two machines
#: (docs/results.md, "Reproducibility"): Fig. 6 RMSE 6.0e-6 vs 6.2e-6, Fig. 7 fine-grid
#: error 1.64 vs 1.73 %, the end of Fig. 9's bistable range 0.35 vs 0.3625 V.
MACHINE_DEPENDENT = [
    ("fig6/diffsim_rmse_fd_vs_target", 0.10),
    ("fig6/diffsim_rmse_fine_grid", 0.10),
    ("fig7/freeform_rms_percent_of_peak_fine_grid", 0.10),
    ("fig9/bistable_rtd/bistable_biases_V/-1", 0.05),
    # Fig. 10's designs (a non-convex loss, two optimisers): not yet measured across
    # machines, checked to 25 % (docs/results.md, "Reproducibility").
    ("fig10/plateau_rms_after", 0.25),
    ("fig10/loss_after", 0.25),
    ("fig10/loss_cmaes_best", 0.25),
    ("fig10/plateau_rms_after_cmaes", 0.25),
    ("fig10/loss_after_adabelief", 0.25),
    ("fig10/plateau_rms_after_adabelief", 0.25),
    # wall-clock timings: quoted from one run, checked to 50 % (they move between runs)
    ("fig10/value_and_gradient_cost_in_values", 0.5),
    ("fig10/speedup_vs_cmaes", 0.5),
]

NUMBER = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)(?:·10([⁻⁰¹²³⁴⁵⁶⁷⁸⁹]+)|e(-?\d+))?")
UNSUPERSCRIPT = str.maketrans("⁻⁰¹²³⁴⁵⁶⁷⁸⁹", "-0123456789")


def numbers_in(text: str) -> list[float]:
    out = []
    for mant, sup, exp in NUMBER.findall(text):
        e = int(sup.translate(UNSUPERSCRIPT)) if sup else int(exp) if exp else 0
        out.append(float(mant) * 10.0**e)
    return out


@pytest.mark.parametrize("path, rel", MACHINE_DEPENDENT)
def test_machine_dependent_results_are_quoted_within_their_tolerance(path, rel):
    value = dig(RESULTS, path)
    assert any(abs(x - value) <= rel * abs(value) for x in numbers_in(DOCS_TEXT)), f"{path} = {value:.4g} not quoted"


def test_extension_results_met_their_acceptance():
    """The committed Figs. 2, 6–7, 9 and 10 results satisfy the acceptance their experiments record."""
    assert RESULTS["fig2"]["accepted"]
    for fig in ("fig6", "fig7"):
        assert all(RESULTS[fig]["acceptance"].values()), RESULTS[fig]["acceptance"]
    assert RESULTS["fig9"]["max_residual_eV"] < 1e-6
    # Fig. 10: the gradient design reaches CMA-ES's best loss, so the speed-up is defined
    assert RESULTS["fig10"]["loss_after"] <= RESULTS["fig10"]["loss_cmaes_best"]
    assert RESULTS["fig10"]["speedup_vs_cmaes"] is not None


@pytest.mark.parametrize("path", ["README.md", "docs/physics.md", "docs/cli.md", "docs/results.md", "docs/api.md",
                                  "docs/architecture.md", "docs/benchmarks.md"])
def test_documents_have_no_control_characters(path):
    """A LaTeX escape written through a non-raw string (\\frac → form feed) is caught here."""
    text = (ROOT / path).read_text(encoding="utf-8")
    bad = sorted({f"U+{ord(ch):04X}" for ch in text if ord(ch) < 0x20 and ch != "\n"})
    assert not bad, f"{path} contains control characters {bad}"
