"""The layer-stack device model (physics.md §9–10): solver input, design coordinates,
gradients of J w.r.t. the grower's variables, a design that recovers a reachable target,
and `qtbm --model stack` on the command line."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffsim_jax.cli import main
from diffsim_jax.design.loop import design_model
from diffsim_jax.design.losses import iv_loss
from diffsim_jax.models.stack import StackModel, StackParams, contact_fermi_level
from diffsim_jax.observables import current_density_curve, stack_observable
from diffsim_jax.physics.layers import Layer, Stack, profiles

MODEL = StackModel(n_points=120)
BIASES = jnp.linspace(0.0, 0.3, 7)


def rtd(barrier=3.0, well=5.0, x=0.3):
    return Stack([Layer(10, 0, 2e18), Layer(3, 0, 0), Layer(barrier, x, 0), Layer(well, 0, 0),
                  Layer(barrier, x, 0), Layer(3, 0, 0), Layer(10, 0, 2e18)])


def params(stack=None, ef=0.08):
    return StackParams(rtd() if stack is None else stack, jnp.asarray(ef))


def test_solver_input_band_edges_masses_and_active_region_drop():
    p = params()
    v = 0.2
    inp = MODEL.solver_input(p, v)
    prof = profiles(p.stack, MODEL.n_points)
    x = np.asarray(prof.x_nm)
    u = np.asarray(inp.potential_eV)
    np.testing.assert_allclose(inp.m_eff, prof.m_eff)
    assert float(inp.length_nm) == pytest.approx(37.0)
    # flat contacts: U = 0 in the emitter, −V in the collector (away from the interfaces)
    assert np.max(np.abs(u[x < 9.0])) < 1e-12
    assert np.max(np.abs(u[x > 28.0] + v)) < 1e-12
    # inside the well the band is flat GaAs plus the linear drop over the 17 nm active region
    mid = np.argmin(np.abs(x - 18.5))
    assert u[mid] == pytest.approx(-v * (18.5 - 10.0) / 17.0, abs=2e-3)
    # barrier height ΔE_c = 0.8355·0.3 eV at zero bias
    top = np.max(np.asarray(MODEL.solver_input(p, 0.0).potential_eV))
    assert top == pytest.approx(0.8355 * 0.3, rel=1e-3)
    linear = StackModel(n_points=120, bias_drop="linear").solver_input(p, v)
    np.testing.assert_allclose(np.asarray(linear.potential_eV) - np.asarray(prof.band_edge_eV), -v * x / 37.0, atol=1e-12)


def test_normalization_identity_at_zero_and_physical_everywhere():
    p = params()
    norm = MODEL.normalization(p)
    back = norm.to_physical(norm.zeros())
    for a, b in zip(jax.tree_util.tree_leaves(back), jax.tree_util.tree_leaves(p)):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    for big in (-40.0, 40.0):
        z = jax.tree_util.tree_map(lambda leaf: jnp.full_like(leaf, big), norm.zeros())
        q = norm.to_physical(z)
        assert np.all(np.asarray(q.stack.thickness_nm) > 0)
        x = np.asarray(q.stack.al_fraction)
        assert np.all((x >= 0) & (x < 0.45))
        # contacts and GaAs layers are not design variables
        np.testing.assert_array_equal(np.asarray(q.stack.thickness_nm)[[0, 6]], [10.0, 10.0])
        np.testing.assert_array_equal(x[[0, 1, 3, 5, 6]], 0.0)


def test_gradients_of_J_wrt_grower_variables_match_central_differences():
    """dJ/d(thickness, Al fraction, E_F) at 300 K through profiles, the solver and the
    resonance-adapted energy grid, against central differences of the same function."""
    f = jax.jit(lambda p: jnp.sum(current_density_curve(MODEL, p, BIASES[2:5], 300.0) / 1e5))
    p = params()
    g = jax.grad(f)(p)
    for field, k, h in (("thickness_nm", 2, 1e-4), ("thickness_nm", 3, 1e-4), ("al_fraction", 4, 1e-5)):
        arr = np.asarray(getattr(p.stack, field), float)

        def shifted(d, arr=arr, field=field, k=k):
            a = arr.copy()
            a[k] += d
            s = {n: getattr(p.stack, n) for n in ("thickness_nm", "al_fraction", "doping_cm3")}
            s[field] = jnp.asarray(a)
            return StackParams(Stack.from_arrays(**s), p.fermi_level)

        fd = (f(shifted(h)) - f(shifted(-h))) / (2 * h)
        ad = np.asarray(getattr(g.stack, field))[k]
        assert ad == pytest.approx(float(fd), rel=2e-4), (field, k)
    h = 1e-5
    fd = (f(StackParams(p.stack, p.fermi_level + h)) - f(StackParams(p.stack, p.fermi_level - h))) / (2 * h)
    assert float(g.fermi_level) == pytest.approx(float(fd), rel=2e-4)


def test_design_recovers_a_reachable_stack_target():
    """The J(V) of a stack with other barrier/well thicknesses and Al fraction is recovered by
    designing in those variables from the reference stack (300 K)."""
    observable = stack_observable(300.0)
    target_p = params(rtd(barrier=3.3, well=4.7, x=0.33))
    target = np.asarray(jax.jit(lambda p: observable(MODEL, p, BIASES))(target_p))
    start = params()
    start_j = np.asarray(observable(MODEL, start, BIASES))
    rms0 = 100 * np.sqrt(np.mean((start_j - target) ** 2)) / np.max(np.abs(target))
    res = design_model(MODEL, iv_loss(MODEL, observable, BIASES, jnp.asarray(target)), start, iterations=150,
                       progress=False)
    fitted = np.asarray(observable(MODEL, res.params, BIASES))
    rms = 100 * np.sqrt(np.mean((fitted - target) ** 2)) / np.max(np.abs(target))
    assert rms0 > 30.0
    assert rms < 0.1 * rms0, (rms0, rms)


def test_contact_fermi_level_is_degenerate_limit_at_zero_temperature():
    s = rtd()
    ef0 = contact_fermi_level(s, 0.0)
    # ħ²(3π²n)^{2/3}/2m* for n = 2e18 cm⁻³ = 2e-3 nm⁻³, m* = 0.067
    assert ef0 == pytest.approx(0.0380998 / 0.067 * (3 * np.pi**2 * 2e-3) ** (2 / 3), rel=1e-12)
    assert contact_fermi_level(s, 4.0) == pytest.approx(ef0, abs=2e-4)
    assert contact_fermi_level(s, 300.0) < ef0  # the chemical potential falls as T rises
    with pytest.raises(ValueError, match="undoped"):
        contact_fermi_level(Stack([Layer(5.0), Layer(2.0, 0.3), Layer(5.0)]), 300.0)


# --------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------
STACK_JSON = {"layers": [{"thickness_nm": 10, "al_fraction": 0.0, "doping_cm3": 2e18},
                         {"thickness_nm": 3, "al_fraction": 0.0, "doping_cm3": 0},
                         {"thickness_nm": 3, "al_fraction": 0.3, "doping_cm3": 0},
                         {"thickness_nm": 5, "al_fraction": 0.0, "doping_cm3": 0},
                         {"thickness_nm": 3, "al_fraction": 0.3, "doping_cm3": 0},
                         {"thickness_nm": 3, "al_fraction": 0.0, "doping_cm3": 0},
                         {"thickness_nm": 10, "al_fraction": 0.0, "doping_cm3": 2e18}],
              "model": {"n_points": 120}}


def test_cli_stack_simulate_and_design_round_trip(tmp_path, capsys):
    start = tmp_path / "start.json"
    start.write_text(json.dumps(STACK_JSON))
    wanted = json.loads(json.dumps(STACK_JSON))
    wanted["layers"][2]["thickness_nm"] = wanted["layers"][4]["thickness_nm"] = 3.3
    (tmp_path / "wanted.json").write_text(json.dumps(wanted))
    assert main(["simulate", "--model", "stack", "--params", str(tmp_path / "wanted.json"), "--biases", "0:0.3:7",
                 "--temperature", "300", "--csv", str(tmp_path / "j.csv"), "--quiet"]) == 0
    header = (tmp_path / "j.csv").read_text().splitlines()[0]
    assert header == "bias_V,current_density_Acm2"
    out = tmp_path / "result.json"
    assert main(["design", "--model", "stack", "--init", str(start), "--target", str(tmp_path / "j.csv"),
                 "--iterations", "80", "--out", str(out), "--plot", str(tmp_path / "fit.png"), "--quiet"]) == 0
    doc = json.loads(out.read_text())
    assert doc["temperature_K"] == 300.0 and doc["fit"]["rms_percent_of_peak"] < 3.0
    thick = [layer["thickness_nm"] for layer in doc["params"]["layers"]]
    assert thick[0] == 10.0 and abs(thick[2] - 3.0) > 0.05  # the barriers moved, the contact did not
    # the result re-simulates at its own temperature and biases
    assert main(["simulate", "--model", "stack", "--params", str(out), "--csv", str(tmp_path / "re.csv"), "--quiet"]) == 0
    re_j = np.loadtxt(tmp_path / "re.csv", delimiter=",", skiprows=1)[:, 1]
    np.testing.assert_allclose(re_j, doc["currents"]["fitted_Acm2"], rtol=1e-10)
    capsys.readouterr()


@pytest.mark.parametrize(
    "edit, fragment",
    [
        (lambda d: d["layers"][2].update(al_fraction=0.5), "al_fraction"),
        (lambda d: d["layers"][3].update(thickness_nm=-1.0), "thickness_nm"),
        (lambda d: d["layers"][0].update(doping_cm3=-1e18), "doping_cm3"),
        (lambda d: d.update(colour="red"), "unknown field"),
        (lambda d: d["model"].update(bias_drop="sideways"), "bias_drop"),
        (lambda d: d.update(fermi_level_eV="high"), "fermi_level_eV"),
    ],
)
def test_cli_stack_rejects_bad_stack_files(tmp_path, capsys, edit, fragment):
    d = json.loads(json.dumps(STACK_JSON))
    edit(d)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(d))
    assert main(["simulate", "--model", "stack", "--params", str(path)]) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1, err


def test_cli_temperature_needs_stack_model_and_is_checked(tmp_path, capsys):
    params = tmp_path / "p.json"
    params.write_text('{"heights_eV": [0.3, 0.3], "centers_nm": [7.4, 12.6], "widths_nm": [2, 2], "fermi_level_eV": 0.1}')
    assert main(["simulate", "--params", str(params), "--temperature", "77"]) == 2
    assert "--model stack" in capsys.readouterr().err
    assert main(["simulate", "--model", "stack", "--params", str(params), "--temperature", "-3"]) == 2
    assert "temperature" in capsys.readouterr().err


def test_cli_self_consistent_simulate_and_design(tmp_path, capsys):
    """--self-consistent: the swept J(V) is the library's self-consistent one, the sweep
    reports (no) bistability, and a design started at the target's own stack stays there."""
    from diffsim_jax.models.selfconsistent import SolverConfig, self_consistent_iv

    d = json.loads(json.dumps(STACK_JSON))
    d["layers"][0]["thickness_nm"] = d["layers"][-1]["thickness_nm"] = 30.0  # long enough to stay neutral
    d["model"] = {"n_points": 150}
    path = tmp_path / "rtd.json"
    path.write_text(json.dumps(d))
    assert main(["simulate", "--model", "stack", "--self-consistent", "--params", str(path), "--biases", "0:0.3:4",
                 "--csv", str(tmp_path / "j.csv")]) == 0
    assert "no bistability" in capsys.readouterr().out
    j = np.loadtxt(tmp_path / "j.csv", delimiter=",", skiprows=1)
    ref = self_consistent_iv(Stack.from_dict({"layers": d["layers"]}), j[:, 0], 300.0,
                             config=SolverConfig(n_points=150), direction="up", progress=False)
    np.testing.assert_allclose(j[:, 1], np.asarray(ref.current_up), rtol=1e-9)
    out = tmp_path / "fit.json"
    assert main(["design", "--model", "stack", "--self-consistent", "--init", str(path), "--target",
                 str(tmp_path / "j.csv"), "--iterations", "2", "--out", str(out), "--quiet"]) == 0
    doc = json.loads(out.read_text())
    assert doc["self_consistent"] is True and doc["fit"]["rms_percent_of_peak"] < 1e-6


def test_cli_self_consistent_needs_the_stack_model(tmp_path, capsys):
    params = tmp_path / "p.json"
    params.write_text('{"heights_eV": [0.3, 0.3], "centers_nm": [7.4, 12.6], "widths_nm": [2, 2], "fermi_level_eV": 0.1}')
    assert main(["simulate", "--params", str(params), "--self-consistent"]) == 2
    assert "--model stack" in capsys.readouterr().err
