"""What `qtbm simulate/design --model stack` shows an engineer (issue #16 §4, physics.md §9.4–9.5):
the self-consistent band and both sweeps, the profiles (band diagram, quasi-Fermi level,
density, T(E), resonances), the grid and its error estimate, the design summary's peak and
the --spec design of a stack at a temperature. Physics checks, exit codes, nothing left on error.
"""

import json

import numpy as np
import pytest

import diffsim_jax  # noqa: F401  (float64)
from diffsim_jax.cli.main import main
from diffsim_jax.design.metrics import ndr_figures
from diffsim_jax.models.selfconsistent import SolverConfig, self_consistent_iv
from diffsim_jax.models.stack import StackModel, StackParams, contact_fermi_level
from diffsim_jax.physics.layers import Stack
from diffsim_jax.physics.materials import ALGAAS
from diffsim_jax.physics.poisson import Q2_OVER_EPS0_EV_NM
from diffsim_jax.physics.statistics import effective_density_of_states_cm3, fermi_dirac_half, thermal_energy_eV

LAYERS = [{"thickness_nm": 30, "al_fraction": 0.0, "doping_cm3": 2e18},
          {"thickness_nm": 3, "al_fraction": 0.0, "doping_cm3": 0},
          {"thickness_nm": 2.5, "al_fraction": 0.3, "doping_cm3": 0},
          {"thickness_nm": 4.5, "al_fraction": 0.0, "doping_cm3": 0},
          {"thickness_nm": 2.5, "al_fraction": 0.3, "doping_cm3": 0},
          {"thickness_nm": 3, "al_fraction": 0.0, "doping_cm3": 0},
          {"thickness_nm": 30, "al_fraction": 0.0, "doping_cm3": 2e18}]
N = 301  # a fixed grid keeps these tests fast; the default grid is tested in tests/models/test_stack_convergence.py


def write_stack(tmp_path, name="rtd.json", **extra):
    path = tmp_path / name
    path.write_text(json.dumps({"layers": LAYERS, **extra}))
    return path


def read_csv(path):
    lines = [ln for ln in path.read_text().splitlines() if ln and not ln.startswith("#")]
    header = lines[0].split(",")
    data = np.array([[float(c) if c else np.nan for c in ln.split(",")] for ln in lines[1:]])
    return {h: data[:, i] for i, h in enumerate(header)}


def check_resonances(band_dir, label):
    """T(E) peaks at every reported resonance E_r, and falls to half at the ends of its FWHM."""
    t = read_csv(band_dir / f"transmission_{label}.csv")
    r = read_csv(band_dir / f"resonances_{label}.csv")
    assert r["energy_eV"].size >= 1
    checked = []
    for e_r, gamma, t_r in zip(r["energy_eV"], r["width_eV"], r["peak_transmission"]):
        near = np.abs(t["energy_eV"] - e_r) <= 2 * gamma
        k = np.argmax(np.where(near, t["transmission"], -1))
        assert abs(t["energy_eV"][k] - e_r) <= 0.25 * gamma + 1e-12
        # the pole's real part is the peak of 𝒯 up to the background's Fano skew (≲ 1 %)
        assert t_r <= t["transmission"][k] * (1 + 1e-9) and t_r >= 0.98 * t["transmission"][k]
    for e_r, t_r, fwhm in zip(r["energy_eV"], r["peak_transmission"], r["fwhm_eV"]):
        if np.isfinite(fwhm):  # 𝒯 is half its peak at both ends of the reported FWHM around E_r
            k = np.searchsorted(t["energy_eV"], e_r)
            lo = t["energy_eV"][:k][t["transmission"][:k] < 0.5 * t_r][-1]
            hi = t["energy_eV"][k:][t["transmission"][k:] < 0.5 * t_r][0]
            assert lo < e_r < hi and hi - lo >= fwhm > 0
            assert np.min(t["transmission"][(t["energy_eV"] > lo) & (t["energy_eV"] < hi)]) >= 0.5 * t_r - 1e-12
            checked.append(fwhm)
    return checked


@pytest.fixture(scope="module")
def sc_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sc")
    path = write_stack(tmp)
    rc = main(["simulate", "--model", "stack", "--self-consistent", "--params", str(path), "--biases", "0:0.3:4",
               "--points", str(N), "--csv", str(tmp / "j.csv"), "--plot", str(tmp / "j.png"),
               "--save-profiles", str(tmp / "prof"), "--profile-biases", "0.2", "--quiet"])
    return rc, tmp


def test_self_consistent_csv_holds_both_sweeps_and_the_grid(sc_run):
    rc, tmp = sc_run
    assert rc == 0
    j = read_csv(tmp / "j.csv")
    assert list(j) == ["bias_V", "current_density_Acm2", "current_density_down_Acm2"]
    ref = self_consistent_iv(Stack.from_dict({"layers": LAYERS}), j["bias_V"], 300.0, config=SolverConfig(n_points=N),
                             direction="both", progress=False)
    np.testing.assert_allclose(j["current_density_Acm2"], np.asarray(ref.current_up), rtol=1e-9)
    np.testing.assert_allclose(j["current_density_down_Acm2"], np.asarray(ref.current_down), rtol=1e-9)
    comments = [ln for ln in (tmp / "j.csv").read_text().splitlines() if ln.startswith("#")]
    assert any(f"n_points={N}" in c for c in comments) and any("spatial_error" in c for c in comments)
    run = json.loads((tmp / "prof" / "run.json").read_text())
    assert run["grid"]["n_points"] == N and run["grid"]["coarse_n_points"] == (N - 1) // 2 + 1
    assert 0 < run["grid"]["relative_error"] < 0.2 and run["self_consistent"] is True


def test_self_consistent_profiles_are_the_self_consistent_band_and_a_neutral_density(sc_run):
    """The band written (and plotted) is the self-consistent U*, not the flat-contact model's;
    the self-consistent density carries the sheet charge Gauss's law gives from the end fields."""
    from diffsim_jax.models.selfconsistent import solve_self_consistent

    _, tmp = sc_run
    band = read_csv(tmp / "prof" / "band_0.2000V.csv")
    stack = Stack.from_dict({"layers": LAYERS})
    sol = solve_self_consistent(stack, 0.2, 300.0, config=SolverConfig(n_points=N))
    np.testing.assert_allclose(band["conduction_band_eV"], np.asarray(sol.potential_eV), atol=2e-5)
    np.testing.assert_allclose(band["electrostatic_eV"], np.asarray(sol.hartree_eV), atol=2e-5)
    params = StackParams(stack, np.float64(contact_fermi_level(stack, 300.0)))
    flat = np.asarray(StackModel(n_points=N).solver_input(params, 0.2).potential_eV)
    assert np.max(np.abs(band["conduction_band_eV"] - flat)) > 0.02  # band bending: visibly different
    # Gauss: the net sheet charge Σ(n − N_D)·a (interior sites, nm⁻²) equals the change of the
    # displacement field at the ends, −ε_r[U_H']₀ᴸ/(q²/ε₀) (physics.md eq. 11.3), at the fixed point
    a = band["x_nm"][1] - band["x_nm"][0]
    sheet = np.sum((band["density_cm3"] - band["doping_cm3"])[1:-1]) * a * 1e-21
    u_h = band["electrostatic_eV"]
    gauss = -float(ALGAAS.eps_r(0.0)) * ((u_h[-1] - u_h[-2]) - (u_h[1] - u_h[0])) / a / Q2_OVER_EPS0_EV_NM
    np.testing.assert_allclose(sheet, gauss, rtol=1e-3)
    assert abs(sheet) < 0.05 * np.sum(np.abs(band["density_cm3"] - band["doping_cm3"])) * a * 1e-21  # nearly neutral
    mu_l = float(sol.fermi_level_eV)
    qf = band["quasi_fermi_eV"]
    assert set(np.round(qf, 12)) == {round(mu_l, 12), round(mu_l - 0.2, 12)} and qf[0] == mu_l and qf[-1] == mu_l - 0.2
    check_resonances(tmp / "prof", "0.2000V")
    assert (tmp / "j.png").stat().st_size > 10_000


def test_profiles_without_self_consistency(tmp_path):
    """Deep in the emitter at 0 V the scattering-state density is the contact's N_c𝓕½(E_F/k_BT) = N_D;
    the band is the model's (eq. 9.9); default profile biases are 0 V and the first peak and valley."""
    path = write_stack(tmp_path)
    assert main(["simulate", "--model", "stack", "--params", str(path), "--biases", "0:0.4:17", "--points", str(N),
                 "--csv", str(tmp_path / "j.csv"), "--save-profiles", str(tmp_path / "p"), "--quiet"]) == 0
    j = read_csv(tmp_path / "j.csv")
    fom = ndr_figures(j["bias_V"], j["current_density_Acm2"])
    run = json.loads((tmp_path / "p" / "run.json").read_text())
    assert [p["bias_V"] for p in run["profiles"]] == sorted({0.0, fom["peak_bias_V"], fom["valley_bias_V"]})
    band = read_csv(tmp_path / "p" / "band_0.0000V.csv")
    stack = Stack.from_dict({"layers": LAYERS})
    ef = contact_fermi_level(stack, 300.0)
    n_contact = float(effective_density_of_states_cm3(0.067, 300.0) * fermi_dirac_half(ef / thermal_energy_eV(300.0)))
    np.testing.assert_allclose(n_contact, 2e18, rtol=1e-6)
    deep = band["x_nm"] < 10.0
    np.testing.assert_allclose(band["density_cm3"][deep], 2e18, rtol=2e-3)
    label = f"{fom['peak_bias_V']:.4f}V"
    peak_band = read_csv(tmp_path / "p" / f"band_{label}.csv")
    params = StackParams(stack, np.float64(ef))
    model_u = np.asarray(StackModel(n_points=N).solver_input(params, fom["peak_bias_V"]).potential_eV)
    np.testing.assert_allclose(peak_band["conduction_band_eV"], model_u, atol=1e-12)
    check_resonances(tmp_path / "p", label)
    widths = check_resonances(tmp_path / "p", "0.0000V")  # the ground resonance at 0 V has a measured FWHM …
    gamma0 = read_csv(tmp_path / "p" / "resonances_0.0000V.csv")["width_eV"][0]
    assert widths and 0.5 < widths[0] / gamma0 < 2.0  # … of the order of its pole width Γ
    npz = np.load(tmp_path / "p" / "profiles.npz")
    np.testing.assert_allclose(npz["b0_density_cm3"], band["density_cm3"], rtol=1e-12)


def test_design_summary_peak_is_the_first_ndr_peak(tmp_path, capsys):
    """A target whose current climbs past the resonance peak at high bias: the RMS error is
    relative to the first NDR peak that `simulate` reports, not to the largest |J|."""
    path = write_stack(tmp_path, model={"n_points": N})
    biases = np.linspace(0.0, 0.3, 7)
    j = np.array([0.0, 2.0, 4.0, 6.0, 2.0, 5.0, 9.0]) * 1e5  # first peak 6e5 at 0.15 V, max 9e5 at 0.3 V
    (tmp_path / "t.csv").write_text("bias_V,current_density_Acm2\n" + "".join(f"{v},{c}\n" for v, c in zip(biases, j)))
    assert main(["design", "--model", "stack", "--init", str(path), "--target", str(tmp_path / "t.csv"),
                 "--iterations", "1", "--out", str(tmp_path / "r.json")]) in (0, 3)
    out = capsys.readouterr().out
    assert "first peak (6e+05 A/cm² at 0.15 V)" in out and "grid: N = 301" in out
    doc = json.loads((tmp_path / "r.json").read_text())
    err = np.asarray(doc["currents"]["fitted_Acm2"]) - j
    np.testing.assert_allclose(doc["fit"]["rms_percent_of_peak"], 100 * np.sqrt(np.mean(err**2)) / 6e5, rtol=1e-12)
    assert doc["figures_of_merit"]["target"]["peak"] == 6e5 and doc["grid"]["n_points"] == N


def test_spec_design_of_a_stack_at_a_temperature(tmp_path, capsys):
    """`design --spec` on a layer stack at 77 K moves the peak bias towards the target (A/cm² units)."""
    path = write_stack(tmp_path, model={"n_points": N})
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"targets": {"peak_bias_V": 0.15, "peak_current_density_Acm2": 5e5},
                                "biases_V": {"start": 0.0, "stop": 0.3, "num": 13}}))
    out = tmp_path / "s.json"
    assert main(["design", "--model", "stack", "--spec", str(spec), "--init", str(path), "--temperature", "77",
                 "--out", str(out), "--quiet"]) == 0
    doc = json.loads(out.read_text())
    assert doc["temperature_K"] == 77.0 and set(doc["figures_of_merit"]) >= {"peak_bias_V", "peak_current_density_Acm2"}
    smooth = doc["figures_of_merit"]["peak_current_density_Acm2"]["smooth"]
    assert abs(smooth - 5e5) < 0.05 * 5e5
    # the result re-simulates to the currents it reports
    assert main(["simulate", "--model", "stack", "--params", str(out), "--temperature", "77", "--csv",
                 str(tmp_path / "re.csv"), "--quiet"]) == 0
    np.testing.assert_allclose(read_csv(tmp_path / "re.csv")["current_density_Acm2"], doc["currents"]["fitted_Acm2"],
                               rtol=1e-9)
    # box-model units are refused for a stack, naming the right keys; nothing written
    spec.write_text(json.dumps({"targets": {"peak_current_uA": 3.0}}))
    assert main(["design", "--model", "stack", "--spec", str(spec), "--init", str(path), "--out",
                 str(tmp_path / "no.json")]) == 2
    assert "peak_current_density_Acm2" in capsys.readouterr().err and not (tmp_path / "no.json").exists()


@pytest.mark.parametrize("argv, fragment", [
    (["--points", "301"], "--points needs --model stack"),
    (["--grid-tolerance", "0.01"], "--grid-tolerance needs --model stack"),
    (["--save-profiles", "PROF"], "--save-profiles needs --model stack"),
])
def test_stack_only_options_are_refused_for_the_box_model(tmp_path, capsys, argv, fragment):
    params = tmp_path / "p.json"
    params.write_text('{"heights_eV": [0.3, 0.3], "centers_nm": [7.4, 12.6], "widths_nm": [2, 2], "fermi_level_eV": 0.1}')
    argv = [a.replace("PROF", str(tmp_path / "prof")) for a in argv]
    assert main(["simulate", "--params", str(params), "--csv", str(tmp_path / "i.csv"), *argv]) == 2
    assert fragment in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.json"]


@pytest.mark.parametrize("argv, fragment", [
    (["--grid-tolerance", "0"], "tolerance"),
    (["--points", "3"], ">= 5"),
    (["--save-profiles", "FILE"], "not a directory"),
    (["--save-profiles", "MISSING/prof"], "does not exist"),
])
def test_bad_grid_and_profile_options_exit_2_and_write_nothing(tmp_path, capsys, argv, fragment):
    path = write_stack(tmp_path)
    (tmp_path / "file").write_text("x")
    argv = [a.replace("FILE", str(tmp_path / "file")).replace("MISSING", str(tmp_path / "missing")) for a in argv]
    assert main(["simulate", "--model", "stack", "--params", str(path), "--csv", str(tmp_path / "j.csv"), *argv]) == 2
    assert fragment in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "rtd.json"]
