"""Figure 9: the self-consistent (Hartree) RTD (physics.md §11).

``run(profile, out)`` draws fig9_selfconsistent.png and writes fig9_iv.csv and
fig9_results.json into ``out``, for the RTD of Fig. 8 (:func:`experiments.heterostructure.rtd_stack`):

(a) its conduction band U(x) at the self-consistent peak bias, with and without
    self-consistency; (b) the electron density there against the doping (accumulation in
    front of the emitter barrier, depletion behind the collector barrier); (c) J(V) with
    and without self-consistency, swept up and down; (d) an asymmetric RTD whose J(V) is
    intrinsically bistable (Goldman, Tsui & Cunningham, PRL 58, 1256 (1987)) — the sweep
    detects it; (e) a self-consistent design: barrier and well thicknesses and contact
    doping of the Fig. 8 RTD fitted by gradient descent (implicit-function gradients) to a
    target J(V).

Returns ``{"fig9": {...}}`` with ``peak_shift_V`` (self-consistent peak bias of the up
sweep minus the non-self-consistent one), ``pvr_up``, ``pvr_down``,
``design_rms_percent_of_peak``, ``seconds`` and details (the quasi-bound-state study, the
bistable device, the iterations per bias, the design).
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from diffsim_jax.models import selfconsistent as sc
from diffsim_jax.models.stack import StackModel, StackParams
from diffsim_jax.observables import current_density_curve
from diffsim_jax.design.metrics import ndr_figures
from diffsim_jax.physics.layers import Layer, Stack, first_barrier_centre_nm

from . import write_json
from .heterostructure import rtd_stack
from .selfconsistent_plots import plot_fig9

FIGURES = ("fig9",)

#: grid points, biases of the I–V sweeps, biases and Adam iterations of the design
PROFILE_SETTINGS = {
    "quick": dict(n_points=200, n_bias=25, design_biases=9, iterations=4),
    "default": dict(n_points=300, n_bias=49, design_biases=21, iterations=60),
    "paper": dict(n_points=300, n_bias=49, design_biases=21, iterations=60),
}
MAX_BIAS_V = 0.6
TEMPERATURE_K = 300.0
DESIGN_LEARNING_RATE = 0.05


def bistable_rtd() -> Stack:
    """Asymmetric double barrier: the thick collector barrier stores charge in the well."""
    return Stack(
        [
            Layer(30.0, 0.0, 2e18),
            Layer(5.0),
            Layer(4.0, 0.35),
            Layer(5.0),
            Layer(6.0, 0.35),
            Layer(5.0),
            Layer(30.0, 0.0, 2e18),
        ]
    )


def design_rtd(barrier1=3.0, well=5.0, barrier2=3.0, doping=2e18) -> Stack:
    """The Fig. 8 RTD with its two barriers, well and contact doping as variables."""
    return Stack([Layer(30.0, 0.0, doping), Layer(5.0), Layer(barrier1, 0.3), Layer(well), Layer(barrier2, 0.3),
                  Layer(5.0), Layer(30.0, 0.0, doping)])


#: the design target: a thinner emitter barrier and well, more heavily doped contacts
TARGET_LAYOUT = dict(barrier1=2.7, well=4.6, barrier2=3.2, doping=2.6e18)


def ndr_summary(biases, j) -> dict:
    """Peak, valley and PVR of the first NDR region (:func:`diffsim_jax.design.metrics.ndr_figures`), in A/cm²."""
    f = ndr_figures(biases, np.asarray(j))
    return {"peak_bias_V": f["peak_bias_V"], "peak_Acm2": f["peak"], "valley_bias_V": f["valley_bias_V"],
            "valley_Acm2": f["valley"], "pvr": f["pvr"]}


def non_self_consistent(stack, biases, n_points, fermi_level):
    """J(V) of the same stack without self-consistency: the layer-stack model of Fig. 8
    (physics.md eq. 9.9: flat contacts, bias dropping over the active region), Tsu–Esaki."""
    model = StackModel(n_points=n_points)
    params = StackParams(stack, jnp.asarray(fermi_level))
    j = jax.jit(lambda p, b: current_density_curve(model, p, b, TEMPERATURE_K))(params, jnp.asarray(biases))
    return model, params, np.asarray(j)


def quasi_bound_study(stack, bias, config) -> dict:
    """Density and J at ``bias`` with the emitter's quasi-bound states in equilibrium with the
    emitter (default) and filled only from the collector (pure scattering states)."""
    em = sc.solve_self_consistent(stack, bias, TEMPERATURE_K, config=config)
    coll = dataclasses.replace(
        config, contact_tolerance_kT=1e9, density=dataclasses.replace(config.density, notch_filling="collector")
    )
    co = sc.solve_self_consistent(stack, bias, TEMPERATURE_K, config=coll)
    x = np.asarray(em.x_nm)
    a = x[1] - x[0]
    barrier = float(first_barrier_centre_nm(stack)) - 0.5 * float(np.asarray(stack.thickness_nm)[2])
    notch = (x > barrier - 10.0) & (x < barrier)
    contact = x < 10.0
    out = {"bias_V": float(bias)}
    for name, sol in (("emitter_filled", em), ("collector_filled", co)):
        n = np.asarray(sol.density_cm3)
        out[name] = {
            "J_Acm2": float(sol.current_density_Acm2),
            "accumulation_sheet_cm2": float(np.sum(n[notch]) * a * 1e-7),
            "emitter_contact_n_over_ND": float(np.mean(n[contact] / np.asarray(sol.doping_cm3)[contact])),
            "min_U_emitter_side_eV": float(np.min(np.asarray(sol.potential_eV)[x < barrier])),
        }
    out["J_ratio_collector_over_emitter"] = out["collector_filled"]["J_Acm2"] / out["emitter_filled"]["J_Acm2"]
    return out


def design(config, biases, iterations):
    """Fit (emitter barrier, well, collector barrier, contact doping) to the target J(V) by Adam."""
    import optax  # noqa: PLC0415

    target_stack = design_rtd(**TARGET_LAYOUT)
    target = np.asarray(sc.self_consistent_iv(target_stack, biases, config=config, direction="up", progress=False).current_up)
    scale = float(np.max(np.abs(target)))
    start = jnp.array([3.0, 5.0, 3.0, 0.0])  # nm, nm, nm, log2(N_D/2e18)

    def stack_of(theta):
        doping = 2e18 * 2.0 ** theta[3]
        return Stack.from_arrays(
            jnp.array([30.0, 5.0, 0.0, 0.0, 0.0, 5.0, 30.0]).at[2].set(theta[0]).at[3].set(theta[1]).at[4].set(theta[2]),
            jnp.array([0.0, 0.0, 0.3, 0.0, 0.3, 0.0, 0.0]),
            jnp.array([1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]) * doping,
        )

    def loss(theta):
        j = sc.self_consistent_iv(stack_of(theta), biases, config=config, direction="up", progress=False).current_up
        return jnp.mean((j - target) ** 2) / scale**2, j

    opt = optax.adam(DESIGN_LEARNING_RATE)
    state = opt.init(start)
    theta = start
    history, best = [], (np.inf, start, None)
    from tqdm.auto import tqdm  # noqa: PLC0415

    for _ in tqdm(range(iterations), desc="[fig9] self-consistent design", leave=False, disable=None):
        (value, j), grad = jax.value_and_grad(loss, has_aux=True)(theta)
        history.append(float(value))
        if float(value) < best[0]:
            best = (float(value), theta, np.asarray(j))
        updates, state = opt.update(grad, state)
        theta = theta + updates
    value, j = loss(theta)
    history.append(float(value))
    if float(value) < best[0]:
        best = (float(value), theta, np.asarray(j))
    _, theta_best, j_best = best
    start_j = np.asarray(loss(start)[1])
    rms = float(100 * np.sqrt(np.mean((j_best - target) ** 2)) / scale)
    params = lambda t: {"barrier1_nm": float(t[0]), "well_nm": float(t[1]), "barrier2_nm": float(t[2]),  # noqa: E731
                        "doping_cm3": float(2e18 * 2.0 ** t[3])}
    return {
        "biases_V": np.asarray(biases),
        "target": target,
        "start_J": start_j,
        "designed_J": j_best,
        "rms_percent_of_peak": rms,
        "loss_history": history,
        "start": params(start),
        "target_params": {"barrier1_nm": TARGET_LAYOUT["barrier1"], "well_nm": TARGET_LAYOUT["well"],
                          "barrier2_nm": TARGET_LAYOUT["barrier2"], "doping_cm3": TARGET_LAYOUT["doping"]},
        "designed": params(theta_best),
    }


def run(profile: str, out: Path, **_options) -> dict:
    """Figure 9 and its numbers (module docstring)."""
    settings = PROFILE_SETTINGS[profile]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    config = sc.SolverConfig(n_points=settings["n_points"])
    biases = np.linspace(0.0, MAX_BIAS_V, settings["n_bias"])

    # --- the RTD of Fig. 8: self-consistent sweeps up and down, and without self-consistency
    stack = rtd_stack()
    sweep = sc.self_consistent_iv(stack, biases, TEMPERATURE_K, config=config, progress=True)
    mu_l = float(sweep.solutions_up[0].fermi_level_eV)
    model, params, j_nsc = non_self_consistent(stack, biases, settings["n_points"], mu_l)
    fom_up = ndr_summary(biases, sweep.current_up)
    fom_down = ndr_summary(biases, sweep.current_down)
    fom_nsc = ndr_summary(biases, j_nsc)
    k_peak = int(np.argmin(np.abs(biases - fom_up["peak_bias_V"])))
    at_peak = sweep.solutions_up[k_peak]
    print(f"[fig9] Fig. 8 RTD: without self-consistency peak {fom_nsc['peak_Acm2']:.3g} A/cm² at "
          f"{fom_nsc['peak_bias_V']:.3f} V (PVR {fom_nsc['pvr']:.2f}); self-consistent peak {fom_up['peak_Acm2']:.3g} "
          f"A/cm² at {fom_up['peak_bias_V']:.3f} V, PVR {fom_up['pvr']:.2f} up / {fom_down['pvr']:.2f} down; "
          f"bistable at {int(np.sum(sweep.bistable))} biases")

    # --- an intrinsically bistable RTD (asymmetric barriers): the two sweeps differ
    bi_stack = bistable_rtd()
    bi = sc.self_consistent_iv(bi_stack, biases, TEMPERATURE_K, config=config, progress=True)
    bi_biases = biases[bi.bistable]
    span = f"{bi_biases.min():.4g} to {bi_biases.max():.4g} V" if bi_biases.size else "nowhere"
    print(f"[fig9] asymmetric RTD: bistable {span}")

    # --- quasi-bound emitter states: effect on density and J at the peak of the Fig. 8 RTD
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        quasi = quasi_bound_study(stack, fom_up["peak_bias_V"], config)
    print(f"[fig9] quasi-bound states at {fom_up['peak_bias_V']:.3f} V: J(collector-filled)/J(emitter-filled) = "
          f"{quasi['J_ratio_collector_over_emitter']:.3g}")

    # --- self-consistent design of the Fig. 8 RTD
    design_biases = np.linspace(0.025, MAX_BIAS_V, settings["design_biases"])
    des = design(config, design_biases, settings["iterations"])
    print(f"[fig9] design: RMS {des['rms_percent_of_peak']:.3g} % of peak after {settings['iterations']} Adam steps")
    seconds = time.perf_counter() - t0

    plot_fig9(out / "fig9_selfconsistent.png", model, params, at_peak, biases, j_nsc, sweep, bi, des)
    np.savetxt(
        out / "fig9_iv.csv",
        np.column_stack([biases, j_nsc, np.asarray(sweep.current_up), np.asarray(sweep.current_down),
                         sweep.iterations_up, sweep.iterations_down, np.asarray(bi.current_up),
                         np.asarray(bi.current_down)]),
        delimiter=",", comments="", fmt="%.10g",
        header="bias_V,J_non_selfconsistent_Acm2,J_sc_up_Acm2,J_sc_down_Acm2,iterations_up,iterations_down,"
               "J_bistable_rtd_up_Acm2,J_bistable_rtd_down_Acm2",
    )
    results = {
        "peak_shift_V": fom_up["peak_bias_V"] - fom_nsc["peak_bias_V"],
        "pvr_up": fom_up["pvr"],
        "pvr_down": fom_down["pvr"],
        "pvr_non_selfconsistent": fom_nsc["pvr"],
        "design_rms_percent_of_peak": des["rms_percent_of_peak"],
        "seconds": seconds,
        "device": stack.to_dict()["layers"],
        "non_selfconsistent": fom_nsc,
        "up": fom_up,
        "down": fom_down,
        "bistable_biases_V": biases[sweep.bistable].tolist(),
        "iterations_per_bias_up": sweep.iterations_up.tolist(),
        "iterations_per_bias_down": sweep.iterations_down.tolist(),
        "max_residual_eV": float(max(s.residual_eV for s in sweep.solutions_up + sweep.solutions_down)),
        "bistable_rtd": {
            "device": bi_stack.to_dict()["layers"],
            "bistable_biases_V": bi_biases.tolist(),
            "up": ndr_summary(biases, bi.current_up),
            "down": ndr_summary(biases, bi.current_down),
        },
        "quasi_bound": quasi,
        "design": {k: v for k, v in des.items() if k in ("rms_percent_of_peak", "start", "target_params", "designed",
                                                          "seconds")},
        "hyperparameters": [
            ("(fig9 self-consistency)", f"N = {settings['n_points']}, |ΔU| < {config.tol_eV:g} eV, "
                                        f"{settings['n_bias']} biases 0–{MAX_BIAS_V} V up and down, 300 K"),
            ("(fig9 design)", f"{settings['iterations']} Adam steps (step {DESIGN_LEARNING_RATE}), "
                              f"{settings['design_biases']} biases"),
        ],
    }
    write_json(out / "fig9_results.json", {**results, "design_history": des["loss_history"]})
    return {"fig9": results}
