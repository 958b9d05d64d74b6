"""Figure 9: the self-consistent (Hartree) RTD (physics.md §11).

``run(profile, out)`` draws fig9_selfconsistent.png and writes fig9_iv.csv and
fig9_results.json into ``out``:

(a) conduction band U(x) of a bistable RTD at one bias inside its hysteresis loop — the
    two self-consistent solutions (up and down sweep) and the band profile without
    self-consistency (U_band plus the linear bias ramp); (b) their electron densities;
(c) J(V) with and without self-consistency, swept up and down (intrinsic bistability,
    Goldman, Tsui & Cunningham, PRL 58, 1256 (1987)); (d) a self-consistent design: the
    layer thicknesses and contact doping of a realistic RTD fitted by gradient descent
    (implicit-function gradients) to a target J(V).

Returns a dict with ``peak_shift_V`` (self-consistent peak bias of the up sweep minus the
non-self-consistent one), ``pvr_up``, ``pvr_down`` (peak-to-valley ratios of the two
sweeps), ``design_rms_percent_of_peak``, ``seconds`` and further details (the
quasi-bound-state study, the branches, the design history).

matplotlib's object API only (``matplotlib.figure.Figure``): no pyplot, no backend switch.
"""

from __future__ import annotations

import dataclasses
import json
import time
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

import diffsim_jax  # noqa: F401  (float64)
from diffsim_jax import selfconsistent as sc
from diffsim_jax.stack import Layer, Stack, profiles

FIGURES = ("fig9",)

#: grid points, biases of the I–V sweeps, biases and Adam iterations of the design
PROFILE_SETTINGS = {
    "quick": dict(n_points=200, n_bias=51, design_biases=9, iterations=4),
    "default": dict(n_points=300, n_bias=51, design_biases=21, iterations=60),
    "paper": dict(n_points=300, n_bias=51, design_biases=21, iterations=60),
}
MAX_BIAS_V = 0.5
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
    """A realistic RTD (the benchmark device): 2e18 contacts, 5 nm spacers, Al₀.₃Ga₀.₇As barriers."""
    return Stack(
        [
            Layer(30.0, 0.0, doping),
            Layer(5.0),
            Layer(barrier1, 0.3),
            Layer(well),
            Layer(barrier2, 0.3),
            Layer(5.0),
            Layer(30.0, 0.0, doping),
        ]
    )


#: the design target: a thinner emitter barrier and well, more heavily doped contacts
TARGET_LAYOUT = dict(barrier1=2.7, well=4.6, barrier2=3.2, doping=2.6e18)


def first_ndr(biases, j):
    """(peak index, valley index) of the first NDR region, or None."""
    j = np.asarray(j)
    drops = np.nonzero(np.diff(j) < 0)[0]
    if drops.size == 0:
        return None
    peak = int(drops[0])
    after = j[peak:]
    rises = np.nonzero(np.diff(after) > 0)[0]
    valley = peak + (int(rises[0]) if rises.size else after.size - 1)
    return peak, valley


def ndr_summary(biases, j) -> dict:
    found = first_ndr(biases, j)
    if found is None:
        return {"peak_bias_V": float("nan"), "peak_Acm2": float("nan"), "valley_Acm2": float("nan"), "pvr": 1.0}
    p, v = found
    return {"peak_bias_V": float(biases[p]), "peak_Acm2": float(j[p]), "valley_bias_V": float(biases[v]),
            "valley_Acm2": float(j[v]), "pvr": float(j[p] / j[v])}


def non_self_consistent(stack, biases, n_points, fermi_level):
    """U = U_band − V x/L (no Hartree term) and its Tsu–Esaki J (physics.md §10)."""
    from diffsim_jax.thermal import current_density  # noqa: PLC0415

    prof = profiles(stack, n_points)
    x, length = np.asarray(prof.x_nm), float(stack.length_nm)
    band, mass = np.asarray(prof.band_edge_eV), np.asarray(prof.m_eff)
    j = [float(current_density(band - v * x / length, fermi_level, v, length, mass, TEMPERATURE_K)) for v in biases]
    return band, np.asarray(j)


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
    barrier = float(sc._first_barrier_centre(stack)) - 0.5 * float(np.asarray(stack.thickness_nm)[2])
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

    for _ in tqdm(range(iterations), desc="[fig9] self-consistent design", leave=False):
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


def plot_fig9(path, bias_star, branches, band_nsc, biases, j_nsc, sweep, des) -> Path:
    fig = Figure(figsize=(12.0, 8.5), layout="constrained")
    (ax_u, ax_n), (ax_j, ax_d) = fig.subplots(2, 2)
    up, down = branches
    x = np.asarray(up.x_nm)
    length = x[-1]
    ax_u.plot(x, band_nsc - bias_star * x / length, color="tab:gray", ls=":", label="no self-consistency")
    ax_u.plot(x, np.asarray(up.potential_eV), color="tab:red", label="self-consistent, up sweep")
    ax_u.plot(x, np.asarray(down.potential_eV), color="tab:blue", ls="--", label="self-consistent, down sweep")
    mu_l = float(up.fermi_level_eV)
    ax_u.axhline(mu_l, color="k", lw=0.8, ls="-.", label="μ_L")
    ax_u.axhline(mu_l - bias_star, color="k", lw=0.8, ls=":", label="μ_R")
    ax_u.set_xlabel("position x (nm)")
    ax_u.set_ylabel("conduction-band edge U(x) (eV)")
    ax_u.set_title(f"(a) bistable RTD at V = {bias_star:.3f} V: two self-consistent states")
    ax_u.legend(fontsize=8)

    ax_n.semilogy(x, np.asarray(up.density_cm3), color="tab:red", label="n(x), up sweep")
    ax_n.semilogy(x, np.asarray(down.density_cm3), color="tab:blue", ls="--", label="n(x), down sweep")
    ax_n.semilogy(x, np.maximum(np.asarray(up.doping_cm3), 1e14), color="tab:gray", ls=":", label="N_D(x)")
    ax_n.set_ylim(1e14, 1e20)
    ax_n.set_xlabel("position x (nm)")
    ax_n.set_ylabel("electron density (cm⁻³)")
    ax_n.set_title("(b) electron density: charge stored in the well (up branch)")
    ax_n.legend(fontsize=8)

    ax_j.plot(biases, j_nsc / 1e3, color="tab:gray", ls=":", marker=".", label="no self-consistency")
    ax_j.plot(biases, np.asarray(sweep.current_up) / 1e3, color="tab:red", marker=".", label="self-consistent, up")
    ax_j.plot(biases, np.asarray(sweep.current_down) / 1e3, color="tab:blue", ls="--", marker=".",
              label="self-consistent, down")
    if np.any(sweep.bistable):
        b = biases[sweep.bistable]
        ax_j.axvspan(b.min(), b.max(), color="tab:purple", alpha=0.12, label="bistable")
    ax_j.set_yscale("log")
    ax_j.set_xlabel("bias V (V)")
    ax_j.set_ylabel("J (kA/cm²)")
    ax_j.set_title("(c) J(V) at 300 K")
    ax_j.legend(fontsize=8)

    ax_d.plot(des["biases_V"], des["start_J"] / 1e3, color="tab:blue", label="start")
    ax_d.plot(des["biases_V"], des["target"] / 1e3, color="tab:orange", ls="none", marker="o", ms=4, label="target")
    ax_d.plot(des["biases_V"], des["designed_J"] / 1e3, color="tab:green", ls="--",
              label=f"designed (RMS {des['rms_percent_of_peak']:.2f} % of peak)")
    d = des["designed"]
    ax_d.text(0.02, 0.97, "designed: barriers {:.2f}/{:.2f} nm, well {:.2f} nm, N_D {:.2e} cm⁻³".format(
        d["barrier1_nm"], d["barrier2_nm"], d["well_nm"], d["doping_cm3"]), transform=ax_d.transAxes, va="top", fontsize=8)
    ax_d.set_xlabel("bias V (V)")
    ax_d.set_ylabel("J (kA/cm²)")
    ax_d.set_title("(d) self-consistent design, realistic RTD (Al₀.₃Ga₀.₇As barriers)")
    ax_d.legend(fontsize=8, loc="lower right")
    path = Path(path)
    fig.savefig(path, dpi=130)
    return path


def run(profile: str, out: Path, **_options) -> dict:
    """Figure 9 and its numbers (module docstring)."""
    settings = PROFILE_SETTINGS[profile]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    config = sc.SolverConfig(n_points=settings["n_points"])
    biases = np.linspace(0.0, MAX_BIAS_V, settings["n_bias"])

    # --- the bistable RTD: sweeps up and down, and without self-consistency
    stack = bistable_rtd()
    sweep = sc.self_consistent_iv(stack, biases, TEMPERATURE_K, config=config, progress=True)
    mu_l = float(sweep.solutions_up[0].fermi_level_eV)
    band, j_nsc = non_self_consistent(stack, biases, settings["n_points"], mu_l)
    fom_up = ndr_summary(biases, np.asarray(sweep.current_up))
    fom_down = ndr_summary(biases, np.asarray(sweep.current_down))
    fom_nsc = ndr_summary(biases, j_nsc)
    bistable_biases = biases[sweep.bistable] if sweep.bistable is not None else np.array([])
    k_star = int(np.nonzero(sweep.bistable)[0][len(bistable_biases) // 2]) if bistable_biases.size else int(
        np.argmax(np.asarray(sweep.current_up)))
    branches = (sweep.solutions_up[k_star], sweep.solutions_down[k_star])
    print(f"[fig9] non-SC peak {fom_nsc['peak_Acm2']:.3g} A/cm² at {fom_nsc['peak_bias_V']:.3f} V (PVR {fom_nsc['pvr']:.2f}); "
          f"SC up peak {fom_up['peak_Acm2']:.3g} at {fom_up['peak_bias_V']:.3f} V (PVR {fom_up['pvr']:.2f}), "
          f"down PVR {fom_down['pvr']:.2f}; bistable {bistable_biases.min() if bistable_biases.size else '-'}–"
          f"{bistable_biases.max() if bistable_biases.size else '-'} V")

    # --- quasi-bound emitter states: effect on density and J at the realistic RTD's peak
    real = design_rtd()
    real_sweep = sc.self_consistent_iv(real, biases, TEMPERATURE_K, config=config, direction="up", progress=False)
    real_peak = ndr_summary(biases, np.asarray(real_sweep.current_up))["peak_bias_V"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        quasi = quasi_bound_study(real, real_peak, config)
    print(f"[fig9] quasi-bound states at {real_peak:.3f} V: J(collector-filled)/J(emitter-filled) = "
          f"{quasi['J_ratio_collector_over_emitter']:.3g}")

    # --- self-consistent design of the realistic RTD
    design_biases = np.linspace(0.02, MAX_BIAS_V, settings["design_biases"])
    des = design(config, design_biases, settings["iterations"])
    print(f"[fig9] design: RMS {des['rms_percent_of_peak']:.3g} % of peak after {settings['iterations']} Adam steps")
    seconds = time.perf_counter() - t0

    plot_fig9(out / "fig9_selfconsistent.png", float(biases[k_star]), branches, band, biases, j_nsc, sweep, des)
    np.savetxt(
        out / "fig9_iv.csv",
        np.column_stack([biases, j_nsc, np.asarray(sweep.current_up), np.asarray(sweep.current_down),
                         sweep.iterations_up, sweep.iterations_down]),
        delimiter=",", comments="", fmt="%.10g",
        header="bias_V,J_non_selfconsistent_Acm2,J_sc_up_Acm2,J_sc_down_Acm2,iterations_up,iterations_down",
    )
    results = {
        "peak_shift_V": fom_up["peak_bias_V"] - fom_nsc["peak_bias_V"],
        "pvr_up": fom_up["pvr"],
        "pvr_down": fom_down["pvr"],
        "design_rms_percent_of_peak": des["rms_percent_of_peak"],
        "seconds": seconds,
        "profile": profile,
        "device": stack.to_dict()["layers"],
        "non_selfconsistent": fom_nsc,
        "up": fom_up,
        "down": fom_down,
        "bistable_biases_V": bistable_biases.tolist(),
        "bistable_plot_bias_V": float(biases[k_star]),
        "iterations_up": sweep.iterations_up.tolist(),
        "iterations_down": sweep.iterations_down.tolist(),
        "quasi_bound": quasi,
        "design": {k: v for k, v in des.items() if k in ("rms_percent_of_peak", "start", "target_params", "designed",
                                                          "loss_history")},
    }
    (out / "fig9_results.json").write_text(json.dumps(results, indent=2, default=float) + "\n")
    return results
