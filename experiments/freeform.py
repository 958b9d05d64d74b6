"""Figs. 6–7: free-form (neural-network) potentials in the differentiable simulator (physics.md §12).

The paper's future work, run head to head with its PINN:

* **Fig. 6** — the PINN's inverse problem (physics.md §7: L = 10 nm, 0.375 V, 0.02–0.4 eV,
  T* of the reference potential on the n_fd-point grid, the same evaluation energies; all
  imported from :mod:`pinn_sciann`) solved by a Fourier-feature network potential
  (:class:`diffsim_jax.models.freeform.FreeformModel`) trained through the exact transmission with
  Optax L-BFGS. The learned U(x), its T(E) on the PINN's confirmation grid and on a 4× finer
  grid, and the error against wall time beside the PINN's saved training history
  (``pinn_sciann.load_result``).
* **Fig. 7** — a two-peak I–V of a triple barrier fitted by the free-form model and by the
  best of several two-box fits (the paper's :class:`~diffsim_jax.models.box.BoxModel`), both with
  the target's contacts (E_F fixed); and a design from specifications (peak bias, peak
  current, PVR, mean power; :mod:`diffsim_jax.design.spec`) with the box and the free-form
  model.

``run(profile, out)`` writes ``out/fig6_freeform_transmission.png``,
``out/fig7_freeform_iv.png``, ``out/fig6/result.npz`` (x, potential, energies,
target_transmission, …), ``out/fig6/network_params.json``, ``out/fig7/result.npz`` and
``out/fig7/designs.json``, and returns ``{"fig6": metrics, "fig7": metrics}``.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import diffsim_jax as ds
import pinn_sciann as pn
from diffsim_jax.models import freeform as ff
from diffsim_jax.design import losses
from diffsim_jax import observables
from diffsim_jax.design import loop
from diffsim_jax.design import spec as sd
from diffsim_jax.design.losses import iv_loss
from diffsim_jax.models.box import BarrierParams, BoxModel
from diffsim_jax.models.box import original_params
from pinn_sciann.targets import bare_ramp, eval_energies, fd_transmission, grid_nm, reference_potential, rmse

from . import write_json
from .freeform_plots import plot_fig6, plot_fig7

FIGURES = ("fig6", "fig7")

#: Seeds (recorded in the results): network initialisation and Fourier frequencies; box starts.
SEEDS = {"network": 0, "box_starts": 0}

#: The two-peak target: a triple barrier (three boxes of the paper's model, physics.md §4).
TRIPLE_BARRIER = {"heights_eV": [0.45, 0.45, 0.40], "centers_nm": [4.7, 11.4, 15.3],
                  "widths_nm": [1.7, 1.7, 1.7], "fermi_level_eV": 0.05}

#: The design-from-specifications demonstration (the JSON format of diffsim_jax.design.spec).
SPEC_DEMO = {
    "description": "from the paper's original RTD: peak moved to 0.3 V, 3 µA, stronger NDR, less power",
    "biases_V": {"start": 0.0, "stop": 0.6, "num": 25},
    "targets": {"peak_bias_V": 0.3, "peak_current_uA": 3.0, "peak_to_valley_ratio": 4.0, "mean_power_uW": 0.4},
}

#: Network of the transmission problem (Fig. 6) and of the I–V designs (Fig. 7).
NET_T = dict(n_features=16, scale=2.0, hidden=(32, 32))
NET_IV = dict(n_features=16, scale=3.0, hidden=(32, 32), amplitude_eV=0.3)

PROFILES = {
    "quick": dict(t_fit=loop.FitConfig(adabelief_steps=0, lbfgs_steps=60, monitor_every=5),
                  iv_biases=21,
                  ff_fit=loop.FitConfig(adabelief_steps=600, lbfgs_steps=0, learning_rate=0.003),
                  box_starts=2, box_fit=loop.FitConfig(adabelief_steps=100, lbfgs_steps=0, learning_rate=0.05,
                                                     final_lr_fraction=0.02),
                  box_polish=None, box_free_fermi=False, iv_fine_grid=False,
                  spec_box_fit=loop.FitConfig(adabelief_steps=100, lbfgs_steps=0, learning_rate=0.05,
                                            final_lr_fraction=0.02),
                  spec_ff_fit=None),
    "default": dict(t_fit=loop.FitConfig(adabelief_steps=0, lbfgs_steps=300, monitor_every=5),
                    iv_biases=31,
                    ff_fit=loop.FitConfig(adabelief_steps=500, lbfgs_steps=1500),
                    box_starts=12, box_fit=loop.FitConfig(adabelief_steps=600, lbfgs_steps=0, learning_rate=0.05,
                                                        final_lr_fraction=0.02),
                    box_polish=loop.FitConfig(adabelief_steps=0, lbfgs_steps=300), box_free_fermi=True, iv_fine_grid=True,
                    spec_box_fit=loop.FitConfig(adabelief_steps=300, lbfgs_steps=100, learning_rate=0.05,
                                              final_lr_fraction=0.02),
                    spec_ff_fit=loop.FitConfig(adabelief_steps=300, lbfgs_steps=200)),
}
PROFILES["paper"] = PROFILES["default"]

#: Acceptance thresholds per profile (the issue's numbers for default/paper; a smoke test for quick).
THRESHOLDS = {
    "quick": dict(rmse=0.0054, seconds=60.0, fine=0.006, ff_rms=10.0, db_rms=10.0, spec=0.5),
    "default": dict(rmse=0.001, seconds=30.0, fine=0.002, ff_rms=2.0, db_rms=10.0, spec=0.05),
}
THRESHOLDS["paper"] = THRESHOLDS["default"]


def run(profile: str, out: Path, pinn_dir: Path | None = None, **_options) -> dict:
    """Figs. 6 and 7 into ``out``; returns {"fig6": metrics, "fig7": metrics}.

    ``pinn_dir``: the saved PINN run to compare with (default: ``out/pinn`` when it holds one,
    else the repository's ``figures/pinn``).
    """
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {tuple(PROFILES)}, got {profile!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    fig6 = run_fig6(profile, out, pinn_dir)
    fig7 = run_fig7(profile, out)
    return {"fig6": fig6, "fig7": fig7}


# --------------------------------------------------------------------------------------
# Fig. 6: the PINN's inverse problem with the simulator in the loop
# --------------------------------------------------------------------------------------
def _find_pinn(out: Path, pinn_dir):
    repo_pinn = Path(__file__).resolve().parents[1] / "figures" / "pinn"
    candidates = [Path(pinn_dir)] if pinn_dir is not None else [out / "pinn", repo_pinn]
    for path in candidates:
        try:
            return pn.load_result(path), path
        except (OSError, ValueError, KeyError) as err:
            if pinn_dir is not None:
                raise ValueError(f"cannot load the PINN result in {path}: {err}") from err
    return None, None


def time_to_reach(seconds, errors, level) -> float:
    """First wall time (s) at which ``errors`` ≤ ``level`` (inf if never)."""
    seconds, errors = np.asarray(seconds, float), np.asarray(errors, float)
    hit = np.nonzero(errors <= level)[0]
    return float(seconds[hit[0]]) if hit.size else float("inf")


def transmission_model(cfg: pn.PINNConfig, n_points: int | None = None, seed: int = SEEDS["network"]):
    """The free-form model of the PINN's device (physics.md §7.1): L, m*, the parabolic window
    (U(0) = 0, U(L) = −V exactly), amplitude = the bias, on the PINN's confirmation grid."""
    return ff.FreeformModel(length_nm=cfg.length_nm, m_eff=cfg.m_eff, n_points=n_points or cfg.n_fd,
                            window="parabolic",
                            frequencies=ff.fourier_frequencies(NET_T["n_features"], NET_T["scale"], seed),
                            hidden=NET_T["hidden"], amplitude_eV=cfg.bias_V)


def run_fig6(profile: str, out: Path, pinn_dir=None) -> dict:
    pinn, pinn_path = _find_pinn(out, pinn_dir)
    cfg = pinn.config if pinn is not None else pn.PINNConfig()
    energies = eval_energies(cfg)
    target = pn.target_transmission(energies, cfg)
    model = transmission_model(cfg)
    fit_cfg = PROFILES[profile]["t_fit"]
    thr = THRESHOLDS[profile]
    print(f"[fig6] free-form U(x) through the exact transmission: {model.n_points} grid points, "
          f"{len(energies)} energies, {fit_cfg.lbfgs_steps} L-BFGS iterations")

    t_model = jax.jit(lambda p: observables.transmission_of(model, p, cfg.bias_V, jnp.asarray(energies)))

    def monitor(params):
        return {"rmse_fd_vs_target": rmse(t_model(params), target)}

    p0 = model.init_params(SEEDS["network"])
    res = loop.fit(losses.transmission_loss(model, cfg.bias_V, energies, target), model.normalization(p0), fit_cfg,
                 monitor=monitor, progress=None, desc="fig6 L-BFGS")
    params = jax.tree_util.tree_map(jnp.asarray, res.params)

    # FD confirmation with the validated public solver on the PINN's grid, and on a 4× finer grid
    x = grid_nm(cfg)
    u = np.asarray(model.potential_eV(params, cfg.bias_V, jnp.asarray(x)))
    t_fd = fd_transmission(u, energies, cfg)
    n_fine = 4 * (cfg.n_fd - 1) + 1
    x_fine = np.linspace(0.0, cfg.length_nm, n_fine)
    u_fine = np.asarray(model.potential_eV(params, cfg.bias_V, jnp.asarray(x_fine)))
    t_fine = np.asarray(ds.transmission(u_fine, energies, cfg.length_nm, m_eff=cfg.m_eff))
    t_ramp = fd_transmission(bare_ramp(x, cfg), energies, cfg)

    mon = res.monitor
    metrics = {
        "diffsim_rmse_fd_vs_target": rmse(t_fd, target),
        "diffsim_seconds": res.seconds,
        "diffsim_rmse_fine_grid": rmse(t_fine, target),
        "diffsim_fine_grid_points": n_fine,
        "diffsim_grid_points": cfg.n_fd,
        "diffsim_seconds_to_0.001": time_to_reach(mon["seconds"], mon["rmse_fd_vs_target"], 1e-3),
        "diffsim_iterations": int(len(res.loss_history)),
        "diffsim_network_weights": res.params.n_weights,
        "rmse_ramp_vs_target": rmse(t_ramp, target),
        "n_energies": int(len(energies)),
        "pinn_rmse_fd_vs_target": None,
        "pinn_seconds": None,
        "speedup_at_pinn_accuracy": None,
        "pinn_result": str(pinn_path) if pinn_path else None,
        "seeds": dict(SEEDS),
        "network": {**NET_T, "hidden": list(NET_T["hidden"]), "window": model.window,
                    "amplitude_eV": model.amplitude_eV},
        "optimizer": dataclasses.asdict(fit_cfg),
        "thresholds": {k: thr[k] for k in ("rmse", "seconds", "fine")},
    }
    pinn_curve = None
    if pinn is not None:
        pm = pn.fig2_metrics(pinn)
        p_sec = np.asarray(pinn.monitor.get("seconds", []), float)
        p_err = np.asarray(pinn.monitor.get("rmse_fd_vs_target", []), float)
        level = pm["rmse_fd_vs_target"]
        t_pinn = time_to_reach(p_sec, p_err, level) if p_sec.size else float(pinn.train_seconds)
        t_sim = time_to_reach(mon["seconds"], mon["rmse_fd_vs_target"], level)
        metrics.update(pinn_rmse_fd_vs_target=level, pinn_seconds=float(pinn.train_seconds),
                       pinn_seconds_to_final_error=t_pinn, diffsim_seconds_to_pinn_error=t_sim,
                       speedup_at_pinn_accuracy=t_pinn / t_sim if np.isfinite(t_sim) else 0.0)
        pinn_curve = (p_sec, p_err)
    metrics["acceptance"] = {
        f"rmse_fd_vs_target_le_{thr['rmse']}": metrics["diffsim_rmse_fd_vs_target"] <= thr["rmse"],
        f"seconds_le_{thr['seconds']:g}": metrics["diffsim_seconds"] <= thr["seconds"],
        f"fine_grid_rmse_le_{thr['fine']}": metrics["diffsim_rmse_fine_grid"] <= thr["fine"],
        "below_pinn_error": (metrics["pinn_rmse_fd_vs_target"] is None
                             or metrics["diffsim_rmse_fd_vs_target"] < metrics["pinn_rmse_fd_vs_target"]),
    }

    fig_dir = out / "fig6"
    fig_dir.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        fig_dir / "result.npz", x=x, potential=u, energies=energies, target_transmission=target,
        fd_transmission=t_fd, fine_grid_transmission=t_fine, ramp_transmission=t_ramp,
        reference_potential=reference_potential(x, cfg), monitor_step=mon["step"], monitor_seconds=mon["seconds"],
        monitor_rmse_fd_vs_target=mon["rmse_fd_vs_target"], loss_history=res.loss_history,
    )
    write_json(fig_dir / "network_params.json", {"params": res.params.to_dict(), "frequencies": list(model.frequencies),
                                                 "pinn_config": cfg.to_dict()})
    plot_fig6(
        out / "fig6_freeform_transmission.png",
        x=x, u_ref=reference_potential(x, cfg), u_ramp=bare_ramp(x, cfg), u_sim=u,
        energies=energies, target=target, t_sim=t_fd, t_fine=t_fine,
        sim_curve=(mon["seconds"], mon["rmse_fd_vs_target"]),
        pinn=None if pinn is None else dict(x=pinn.x, potential=pinn.potential, fd=pinn.fd_transmission,
                                            net=pinn.pinn_transmission, curve=pinn_curve),
        metrics=metrics,
    )
    print("[fig6] simulator RMSE(T_FD, T*) = {diffsim_rmse_fd_vs_target:.2e} in {diffsim_seconds:.1f} s "
          "(4x grid {diffsim_rmse_fine_grid:.2e}); PINN {pinn} ; speedup at the PINN's accuracy {speed}".format(
              pinn=("%.2e in %.0f s" % (metrics["pinn_rmse_fd_vs_target"], metrics["pinn_seconds"]))
              if pinn is not None else "n/a",
              speed=("%.0fx" % metrics["speedup_at_pinn_accuracy"]) if pinn is not None else "n/a", **metrics))
    return metrics


# --------------------------------------------------------------------------------------
# Fig. 7: free-form vs two-box I–V fits; design from specifications
# --------------------------------------------------------------------------------------
#: I–V of any device model (physics.md §5), compiled once per model structure and configuration.
iv_jit = jax.jit(observables.model_iv_curve, static_argnums=3)


def triple_barrier() -> BarrierParams:
    return BarrierParams.from_dict(TRIPLE_BARRIER)


def _rms_percent(currents, target) -> float:
    currents, target = np.asarray(currents, float), np.asarray(target, float)
    return float(100.0 * np.sqrt(np.mean((currents - target) ** 2)) / np.max(np.abs(target)))


def box_starts(n: int, fermi_level_eV: float | None, seed: int) -> BarrierParams:
    """n two-box starts, stacked: the paper's original RTD, then random boxes inside the window
    (heights 0.15–0.45 eV, centres 5–15 nm, widths 1–3 nm; E_F from ``fermi_level_eV`` or, if
    None, random in 0.03–0.15 eV)."""
    rng = np.random.default_rng(seed)
    p = original_params()
    h, c, w = [np.asarray(p.heights)], [np.asarray(p.centers)], [np.asarray(p.widths)]
    f = [float(p.fermi_level) if fermi_level_eV is None else fermi_level_eV]
    for _ in range(n - 1):
        h.append(rng.uniform(0.15, 0.45, 2))
        c.append(np.sort(rng.uniform(5.0, 15.0, 2)))
        w.append(rng.uniform(1.0, 3.0, 2))
        f.append(rng.uniform(0.03, 0.15) if fermi_level_eV is None else fermi_level_eV)
    return BarrierParams(jnp.asarray(np.array(h)), jnp.asarray(np.array(c)), jnp.asarray(np.array(w)),
                         jnp.asarray(np.array(f)))


def best_two_box_fit(cfg, biases, target, n_starts, fit_cfg, polish_cfg, fermi_level_eV, seed, desc):
    """Batched AdaBelief from ``n_starts`` starts (independent: AdaBelief acts elementwise on the
    summed loss), then L-BFGS on the two best (``polish_cfg``). E_F fixed unless
    ``fermi_level_eV`` is None. Returns (best params, its RMS in % of the target's peak, its
    currents in µA, the per-start RMS % before the polish, wall seconds)."""
    t0 = time.perf_counter()
    model = BoxModel.from_config(cfg)
    single = iv_loss(model, observables.iv_observable(cfg), jnp.asarray(biases), jnp.asarray(target), 1.0)
    if fermi_level_eV is not None:
        single = losses.fixed_fermi_level(single, fermi_level_eV)

    def batched(p):
        return jnp.sum(jax.vmap(single)(p))

    starts = box_starts(n_starts, fermi_level_eV, seed)
    res = loop.fit(batched, model.normalization(starts), fit_cfg, progress=None, desc=desc)
    stacked = jax.tree_util.tree_map(jnp.asarray, res.params)
    per_start_loss = jax.jit(jax.vmap(single))
    per_start = np.asarray(per_start_loss(stacked))
    if polish_cfg is not None and n_starts > 1:
        top = np.argsort(per_start)[:2]
        sub = jax.tree_util.tree_map(lambda a: a[top], stacked)
        res2 = loop.fit(batched, model.normalization(sub), polish_cfg, progress=None, desc=desc + " L-BFGS")
        stacked = jax.tree_util.tree_map(jnp.asarray, res2.params)
        per_polish = np.asarray(per_start_loss(stacked))
    else:
        per_polish = per_start
    k = int(np.argmin(per_polish))
    best = jax.tree_util.tree_map(lambda a: a[k], stacked)
    if fermi_level_eV is not None:
        best = dataclasses.replace(best, fermi_level=jnp.asarray(fermi_level_eV, jnp.float64))
    currents = np.asarray(iv_jit(model, best, jnp.asarray(biases), cfg))
    return best, _rms_percent(currents, target), currents, 100 * np.sqrt(per_start), time.perf_counter() - t0


def iv_freeform_model(cfg, **fields) -> ff.FreeformModel:
    return ff.FreeformModel.from_config(
        cfg, frequencies=ff.fourier_frequencies(NET_IV["n_features"], NET_IV["scale"], SEEDS["network"]),
        hidden=NET_IV["hidden"], amplitude_eV=NET_IV["amplitude_eV"], **fields)


def run_fig7(profile: str, out: Path) -> dict:
    prof = PROFILES[profile]
    thr = THRESHOLDS[profile]
    cfg = ds.DeviceConfig()
    biases = np.linspace(0.0, 0.6, prof["iv_biases"])
    truth = triple_barrier()
    target = np.asarray(ds.iv_curve(truth, biases, cfg))
    ef = float(truth.fermi_level)

    # free-form fit of the two-peak target (same contacts: E_F fixed)
    model = iv_freeform_model(cfg)
    loss = losses.fixed_fermi_level(
        iv_loss(model, observables.iv_observable(cfg), jnp.asarray(biases), jnp.asarray(target), 1.0), ef)
    print(f"[fig7] free-form fit of the triple-barrier I–V ({len(biases)} biases, E_F = {ef} eV fixed)")
    res_ff = loop.fit(loss, model.normalization(model.init_params(SEEDS["network"], ef)), prof["ff_fit"],
                    progress=None, desc="fig7 free-form")
    p_ff = dataclasses.replace(jax.tree_util.tree_map(jnp.asarray, res_ff.params), fermi_level=jnp.asarray(ef))
    i_ff = np.asarray(iv_jit(model, p_ff, jnp.asarray(biases), cfg))

    # the best two-box fit, several starts, same contacts
    print(f"[fig7] two-box fits from {prof['box_starts']} starts")
    p_db, rms_db, i_db, rms_starts, sec_db = best_two_box_fit(
        cfg, biases, target, prof["box_starts"], prof["box_fit"], prof["box_polish"], ef, SEEDS["box_starts"],
        "fig7 two-box")
    free = None
    if prof["box_free_fermi"]:
        print("[fig7] two-box fits with E_F free (for reference)")
        p_dbf, rms_dbf, i_dbf, _, sec_dbf = best_two_box_fit(
            cfg, biases, target, prof["box_starts"], prof["box_fit"], prof["box_polish"], None,
            SEEDS["box_starts"], "fig7 two-box, E_F free")
        free = dict(params=p_dbf, rms=rms_dbf, currents=i_dbf, seconds=sec_dbf)

    # design from specifications
    spec = sd.load_spec(SPEC_DEMO)
    spec_biases = np.asarray(spec.biases_V)
    box_model = BoxModel.from_config(cfg)
    print(f"[fig7] design from specifications: {spec.target_dict}")
    res_sb, rep_sb = sd.design_to_spec(box_model, spec, original_params(), observables.iv_observable(cfg),
                                       prof["spec_box_fit"], progress=None)
    p_sb = jax.tree_util.tree_map(jnp.asarray, res_sb.params)
    spec_designs = {"original": (box_model, original_params()), "box": (box_model, p_sb)}
    reports = {"box": rep_sb}
    seconds = {"box": res_sb.seconds}
    if prof["spec_ff_fit"] is not None:
        spec_ff_model = iv_freeform_model(cfg, amplitude_weight=10.0, max_amplitude_eV=0.5)
        res_sf, rep_sf = sd.design_to_spec(spec_ff_model, spec, spec_ff_model.init_params(SEEDS["network"], 0.1),
                                           observables.iv_observable(cfg), prof["spec_ff_fit"], progress=None)
        spec_designs["freeform"] = (spec_ff_model, jax.tree_util.tree_map(jnp.asarray, res_sf.params))
        reports["freeform"] = rep_sf
        seconds["freeform"] = res_sf.seconds
    spec_currents = {k: np.asarray(iv_jit(m, p, jnp.asarray(spec_biases), cfg))
                     for k, (m, p) in spec_designs.items()}

    x = np.linspace(0.0, cfg.length_nm, 600)
    box_u = lambda p: np.asarray(box_model.barrier_potential(p, jnp.asarray(x)))  # noqa: E731
    potentials_ff = np.asarray(model.internal_potential(p_ff, jnp.asarray(x)))
    potentials = {"triple barrier (target)": box_u(truth), "free-form": potentials_ff, "best two-box": box_u(p_db)}
    spec_potentials = {k: (box_u(p) if isinstance(m, BoxModel) else np.asarray(m.internal_potential(p, jnp.asarray(x))))
                       for k, (m, p) in spec_designs.items()}

    rms_ff = _rms_percent(i_ff, target)
    # grid independence: the same potentials on a 4× finer grid, against the same target
    cfg4 = dataclasses.replace(cfg, n_points=4 * (cfg.n_points - 1) + 1)
    fine = {}
    if prof["iv_fine_grid"]:
        model4 = model.with_grid(cfg4.n_points)
        i_ff4 = np.asarray(iv_jit(model4, p_ff, jnp.asarray(biases), cfg4))
        fine = {"freeform_rms_percent_of_peak_fine_grid": _rms_percent(i_ff4, target),
                "double_barrier_rms_percent_of_peak_fine_grid": _rms_percent(ds.iv_curve(p_db, biases, cfg4), target),
                "target_change_percent_of_peak_fine_grid": _rms_percent(ds.iv_curve(truth, biases, cfg4), target)}
    spec_err = max(abs(r["relative_error"]) for rep in reports.values() for r in rep.values())
    metrics = {
        "freeform_rms_percent_of_peak": rms_ff,
        "double_barrier_rms_percent_of_peak": rms_db,
        "double_barrier_starts": prof["box_starts"],
        "double_barrier_rms_percent_per_start_before_polish": [float(v) for v in rms_starts],
        "double_barrier_free_fermi_rms_percent_of_peak": None if free is None else free["rms"],
        "fine_grid_points": cfg4.n_points,
        "freeform_rms_percent_of_peak_fine_grid": fine.get("freeform_rms_percent_of_peak_fine_grid"),
        "double_barrier_rms_percent_of_peak_fine_grid": fine.get("double_barrier_rms_percent_of_peak_fine_grid"),
        "target_change_percent_of_peak_fine_grid": fine.get("target_change_percent_of_peak_fine_grid"),
        "freeform_potential_range_eV": [float(np.min(potentials_ff)), float(np.max(potentials_ff))],
        "freeform_seconds": res_ff.seconds,
        "double_barrier_seconds": sec_db,
        "n_biases": len(biases),
        "target_device": TRIPLE_BARRIER,
        "fermi_level_eV_fixed": ef,
        "double_barrier_params": p_db.to_dict(),
        "spec": spec.to_dict(),
        "spec_targets": spec.target_dict,
        "spec_achieved": {k: {f: r["achieved"] for f, r in rep.items()} for k, rep in reports.items()},
        "spec_relative_errors": {k: {f: r["relative_error"] for f, r in rep.items()} for k, rep in reports.items()},
        "spec_start_achieved": sd.hard_figures_of_merit(spec_biases, spec_currents["original"]),
        "spec_seconds": seconds,
        "spec_max_relative_error": spec_err,
        "seeds": dict(SEEDS),
        "network": {**NET_IV, "hidden": list(NET_IV["hidden"])},
        "thresholds": {k: thr[k] for k in ("ff_rms", "db_rms", "spec")},
    }
    metrics["acceptance"] = {
        f"freeform_rms_le_{thr['ff_rms']:g}_percent": rms_ff <= thr["ff_rms"],
        f"double_barrier_rms_ge_{thr['db_rms']:g}_percent": rms_db >= thr["db_rms"],
        f"spec_relative_errors_le_{thr['spec']:g}": spec_err <= thr["spec"],
    }

    fig_dir = out / "fig7"
    fig_dir.mkdir(parents=True, exist_ok=True)
    arrays = dict(biases=biases, target_currents=target, freeform_currents=i_ff, double_barrier_currents=i_db,
                  x=x, spec_biases=spec_biases, **{f"potential/{k}": v for k, v in potentials.items()},
                  **{f"spec_currents/{k}": v for k, v in spec_currents.items()},
                  **{f"spec_potential/{k}": v for k, v in spec_potentials.items()})
    if free is not None:
        arrays["double_barrier_free_fermi_currents"] = free["currents"]
    np.savez_compressed(fig_dir / "result.npz", **arrays)
    designs = {"target": TRIPLE_BARRIER, "double_barrier": p_db.to_dict(),
               "freeform": res_ff.params.to_dict() | {"fermi_level_eV": ef},
               "spec_box": p_sb.to_dict()}
    if free is not None:
        designs["double_barrier_free_fermi"] = free["params"].to_dict()
    if "freeform" in spec_designs:
        designs["spec_freeform"] = spec_designs["freeform"][1].to_dict()
    write_json(fig_dir / "designs.json", designs)
    plot_fig7(out / "fig7_freeform_iv.png", biases=biases, target=target, i_ff=i_ff, i_db=i_db,
              i_db_free=None if free is None else free["currents"], x=x, potentials=potentials,
              spec_biases=spec_biases, spec_currents=spec_currents, spec_potentials=spec_potentials,
              spec_targets=spec.target_dict, metrics=metrics)
    print("[fig7] two-peak fit: free-form {:.2f} % of peak, best two-box {:.2f} % ({} starts); spec design max "
          "relative error {:.3f}".format(rms_ff, rms_db, prof["box_starts"], spec_err))
    return metrics
