"""Design from specifications (physics.md §12, eqs. 12.7–12.8): smooth figures of merit, spec validation."""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import diffsim_jax as ds
from diffsim_jax import observables
from diffsim_jax.design import loop
from diffsim_jax.design import spec as sd
from diffsim_jax.models.box import BoxModel
from diffsim_jax.models.box import modified_params, original_params

V = np.linspace(0.0, 0.6, 25)


def bumps(t, slope=0.0, v=V):
    """Two Gaussian current peaks (µA) at 0.2 and 0.4 V on a background 0.3 + slope·V; with
    slope = 0 their heights cross at t = 0."""
    g = lambda c: jnp.exp(-((v - c) ** 2) / (2 * 0.04**2))  # noqa: E731
    return 0.3 + slope * v + (2.0 + t) * g(0.2) + (2.0 - t) * g(0.4)


class Dummy:
    """A 'model' whose observable is a scalar-parameterised current curve (tests the loss alone)."""

    def penalty(self, params):
        return 0.0


def curve_observable(curve):
    return lambda _model, t, biases: curve(t)


# ------------------------------------------------------------------ smooth figures of merit
def test_smooth_figures_of_merit_tend_to_the_sampled_ones():
    i = np.asarray(bumps(0.5, slope=2.0))  # peak at 0.2 V, valley between the bumps, second bump lower
    hard = sd.hard_figures_of_merit(V, i)
    errs = []
    for tau in (0.1, 0.02, 0.002):
        s = {k: float(v) for k, v in sd.smooth_figures_of_merit(V, i, tau).items()}
        errs.append(max(abs(s[k] - hard[k]) / abs(hard[k]) for k in sd.FIGURES_OF_MERIT))
    assert errs[-1] < 1e-3, errs
    assert errs[0] > errs[1] > errs[2]
    # the valley is the minimum after the peak, not the zero-bias current before it
    valley = i[int(np.argmax(i)):].min()
    assert float(sd.smooth_figures_of_merit(V, i, 0.002)["valley_current_uA"]) == pytest.approx(valley, rel=1e-3)


def test_no_ndr_gives_unit_pvr_and_prepeak_biases_do_not_pull_the_valley():
    """A curve that rises from I(0) = 0 to a plateau: no NDR. Biases before the peak carry far
    lower currents; they must not enter the valley (smooth PVR ≈ 1, as physics.md eq. 6.9)."""
    i = 3.0 * np.tanh(V / 0.15)
    s = sd.smooth_figures_of_merit(V, i)
    assert sd.hard_figures_of_merit(V, i)["peak_to_valley_ratio"] == 1.0
    assert float(s["peak_to_valley_ratio"]) == pytest.approx(1.0, abs=0.02)
    # also with the peak well before the end and a flat tail
    i2 = np.minimum(V / 0.3, 1.0) * 3.0
    assert float(sd.smooth_figures_of_merit(V, i2)["peak_to_valley_ratio"]) == pytest.approx(1.0, abs=0.02)


def test_spec_loss_is_smooth_where_the_peak_switches_bias():
    """At t = 0 the two bumps are equally high: the sampled peak bias jumps from 0.4 to 0.2 V.
    The smooth loss must have a finite gradient there that matches central differences and
    is continuous across the switch."""
    spec = {"biases_V": list(V), "targets": {"peak_bias_V": 0.25, "peak_current_uA": 2.5,
                                            "peak_to_valley_ratio": 2.0, "mean_power_uW": 0.5}}
    loss = sd.spec_loss(Dummy(), spec, curve_observable(bumps))
    hard_left = sd.hard_figures_of_merit(V, bumps(-1e-3))["peak_bias_V"]
    hard_right = sd.hard_figures_of_merit(V, bumps(1e-3))["peak_bias_V"]
    assert hard_left == pytest.approx(0.4) and hard_right == pytest.approx(0.2)
    grad = jax.grad(loss)
    g0 = float(grad(0.0))
    assert math.isfinite(g0)
    eps = 1e-5
    fd = (float(loss(eps)) - float(loss(-eps))) / (2 * eps)
    assert g0 == pytest.approx(fd, rel=1e-5, abs=1e-8)
    for d in (1e-6, -1e-6):  # no kink: the one-sided gradients tend to the same value
        assert float(grad(d)) == pytest.approx(g0, rel=1e-3, abs=1e-6)
    # the smooth peak bias passes continuously through the midpoint
    vp = [float(sd.smooth_figures_of_merit(V, bumps(t))["peak_bias_V"]) for t in (-0.05, 0.0, 0.05)]
    assert vp[0] > vp[1] > vp[2] and vp[1] == pytest.approx(0.3, abs=1e-6)


def test_spec_loss_is_smooth_where_the_valley_switches_bias():
    """Two dips after the peak whose depths cross at t = 0 (the sampled valley jumps)."""

    def curve(t, v=V):
        g = lambda c: jnp.exp(-((v - c) ** 2) / (2 * 0.03**2))  # noqa: E731
        return 1.0 + 3.0 * jnp.exp(-((v - 0.1) ** 2) / (2 * 0.05**2)) - (0.6 + t) * g(0.35) - (0.6 - t) * g(0.5)

    spec = {"biases_V": list(V), "targets": {"peak_to_valley_ratio": 3.0}}
    loss = sd.spec_loss(Dummy(), spec, curve_observable(curve))
    i_l, i_r = np.asarray(curve(-1e-3)), np.asarray(curve(1e-3))
    assert np.argmin(i_l[8:]) != np.argmin(i_r[8:])
    g0 = float(jax.grad(loss)(0.0))
    eps = 1e-5
    fd = (float(loss(eps)) - float(loss(-eps))) / (2 * eps)
    assert math.isfinite(g0) and g0 == pytest.approx(fd, rel=1e-5, abs=1e-8)


def test_spec_loss_gradient_through_the_box_model_matches_central_differences():
    cfg = ds.DeviceConfig(n_energy=50, n_interp=50)
    model = BoxModel.from_config(cfg)
    spec = {"biases_V": {"start": 0.0, "stop": 0.6, "num": 13},
            "targets": {"peak_bias_V": 0.3, "peak_current_uA": 3.0, "peak_to_valley_ratio": 4.0, "mean_power_uW": 0.4}}
    loss = jax.jit(sd.spec_loss(model, spec, observables.iv_observable(cfg)))
    p = original_params()
    d = ds.BarrierParams(jnp.array([0.3, -0.2]), jnp.array([0.5, 0.7]), jnp.array([-0.4, 0.2]), jnp.asarray(0.1))
    g = jax.grad(loss)(p)
    directional = sum(float(jnp.vdot(a, b)) for a, b in zip(jax.tree_util.tree_leaves(g), jax.tree_util.tree_leaves(d)))
    eps = 1e-6
    shift = lambda s: jax.tree_util.tree_map(lambda a, b: a + s * b, p, d)  # noqa: E731
    fd = (float(loss(shift(eps))) - float(loss(shift(-eps)))) / (2 * eps)
    assert math.isfinite(directional) and directional == pytest.approx(fd, rel=1e-5)


def test_reachable_spec_is_met_by_the_box_design():
    """Figures of merit of a known device (the paper's modified RTD) are reachable: designing
    from the original RTD must meet them (each within 5 %; the sampled figures differ from
    the smooth ones the loss sees by about the temperature)."""
    cfg = ds.DeviceConfig()
    model = BoxModel.from_config(cfg)
    obs = observables.iv_observable(cfg)
    biases = ds.default_biases()
    truth = sd.hard_figures_of_merit(biases, obs(model, modified_params(), jnp.asarray(biases)))
    start = sd.hard_figures_of_merit(biases, obs(model, original_params(), jnp.asarray(biases)))
    spec = {"biases_V": list(biases), "targets": truth}
    assert max(abs(start[k] - truth[k]) / truth[k] for k in truth) > 0.3
    fit_cfg = loop.FitConfig(adabelief_steps=200, lbfgs_steps=0, learning_rate=0.05, final_lr_fraction=0.02)
    res, report = sd.design_to_spec(model, spec, original_params(), obs, fit_cfg, progress=False)
    assert max(abs(r["relative_error"]) for r in report.values()) < 0.05, report
    assert res.best_loss < 1e-2 * res.loss_history[0]


# ------------------------------------------------------------------ spec format
GOOD = {"biases_V": {"start": 0.0, "stop": 0.6, "num": 25},
        "targets": {"peak_bias_V": 0.3, "peak_current_uA": 3.0, "peak_to_valley_ratio": 4.0, "mean_power_uW": 0.4},
        "weights": {"peak_to_valley_ratio": 2.0}, "temperature": 0.05, "description": "demo"}


def with_(**changes):
    d = json.loads(json.dumps(GOOD))
    for k, v in changes.items():
        if v is None:
            d.pop(k, None)
        else:
            d[k] = v
    return d


def targets(**changes):
    t = dict(GOOD["targets"])
    t.update(changes)
    return {k: v for k, v in t.items() if v is not None}


def test_good_spec_loads_round_trips_and_reads_files(tmp_path):
    spec = sd.load_spec(GOOD)
    assert spec.biases_V[0] == 0.0 and spec.biases_V[-1] == pytest.approx(0.6) and len(spec.biases_V) == 25
    assert spec.weight_dict == {"peak_bias_V": 1.0, "peak_current_uA": 1.0, "peak_to_valley_ratio": 2.0,
                                "mean_power_uW": 1.0}
    assert sd.load_spec(spec.to_dict()) == spec
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(GOOD))
    assert sd.load_spec(path) == spec and sd.load_spec(str(path)) == spec
    minimal = sd.load_spec({"targets": {"peak_current_uA": 2.0}})
    assert len(minimal.biases_V) == 25 and minimal.temperature == sd.DEFAULT_TEMPERATURE
    hash(spec)


@pytest.mark.parametrize(
    "spec, match",
    [
        (with_(model="box"), "unknown spec key.*'model'"),
        (with_(targets=targets(peak_voltage=0.3)), "unknown spec target.*peak_voltage"),
        (with_(targets={}), "non-empty"),
        (with_(targets=None), "non-empty"),
        (with_(targets=targets(peak_current_uA=float("nan"))), "peak_current_uA.*finite"),
        (with_(targets=targets(peak_current_uA=-1.0)), "peak_current_uA.*> 0"),
        (with_(targets=targets(peak_current_uA="3")), "peak_current_uA.*number"),
        (with_(targets=targets(peak_current_uA=True)), "peak_current_uA.*number"),
        (with_(targets=targets(peak_bias_V=0.8)), "peak_bias_V.*unreachable"),
        (with_(targets=targets(peak_bias_V=0.0)), "peak_bias_V.*unreachable"),
        (with_(targets=targets(peak_bias_V=0.6)), "no valley follows"),
        (with_(targets=targets(peak_to_valley_ratio=0.5)), "peak_to_valley_ratio.*>= 1"),
        (with_(targets=targets(mean_power_uW=0.0)), "mean_power_uW.*> 0"),
        (with_(targets=targets(mean_power_uW=5.0)), "inconsistent"),
        (with_(weights={"peak_to_valley_ratio": -1.0}), "weights"),
        (with_(weights={k: 0.0 for k in GOOD["targets"]}), "not all zero"),
        (with_(weights={"peak_bias": 1.0}), "unknown spec weight"),
        (with_(targets={"peak_current_uA": 3.0}, weights={"mean_power_uW": 1.0}), "no target"),
        (with_(weights={"peak_bias_V": float("inf")}), "finite"),
        (with_(temperature=0.0), "temperature"),
        (with_(temperature=float("nan")), "temperature.*finite"),
        (with_(biases_V=[0.0, 0.3, 0.2, 0.6]), "increasing"),
        (with_(biases_V=[-0.1, 0.3, 0.6]), ">= 0"),
        (with_(biases_V=[0.0, 0.6]), "at least 3"),
        (with_(biases_V={"start": 0, "stop": 0.6}), "missing: num"),
        (with_(biases_V={"start": 0, "stop": 0.6, "num": 25, "step": 1}), "unknown: step"),
        (with_(biases_V="0..0.6"), "biases_V"),
        (with_(description=3), "description"),
        ([1, 2], "JSON object"),
    ],
)
def test_bad_specs_raise_clear_errors(spec, match):
    with pytest.raises(ValueError, match=match):
        sd.load_spec(spec)


def test_bad_spec_files(tmp_path):
    with pytest.raises(ValueError, match="cannot read spec file"):
        sd.load_spec(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{targets: 1")
    with pytest.raises(ValueError, match="not valid JSON"):
        sd.load_spec(bad)
    nan = tmp_path / "nan.json"
    nan.write_text('{"targets": {"peak_current_uA": NaN}}')
    with pytest.raises(ValueError, match="finite"):
        sd.load_spec(nan)
