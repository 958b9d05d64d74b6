"""Paper Figs. 4–5: I–V design of a low-power, high-PVR RTD with the differentiable simulator.

``run(profile, out)`` designs the "modified" RTD from the "original" one (physics.md §6)
and writes fig4_barriers.png, fig5_iv.png, fig5_iv.csv, design_result.json and
design_loss.png into ``out``. Returns ``{"fig5": metrics}`` and the rows of the paper's
hyperparameter table ("DS" column) for this run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import diffsim_jax as ds
from experiments import paper_plots as plotting
from diffsim_jax.design.metrics import mean_power_uW, peak_to_valley_ratio
from diffsim_jax.models.box import modified_params, original_params

from . import write_json

FIGURES = ("fig4", "fig5")
#: AdaBelief iterations of the I–V design per profile (the paper's table: 1000).
DESIGN_ITERATIONS = {"quick": 300, "default": 1000, "paper": 1000}
DESIGN_NOTES = {
    "quick": "`quick` runs 300 instead of 1000 design iterations (smoke test).",
    "default": "`default` and `paper` are the same for the design: the paper's table.",
    "paper": "`default` and `paper` are the same for the design: the paper's table.",
}


def run(profile: str, out: Path, **_options) -> dict:
    """Design the modified RTD from the original one; figures into ``out``; returns {"fig5": metrics}."""
    cfg = ds.DeviceConfig()
    biases = ds.default_biases()
    original, target = original_params(), modified_params()
    i_orig = np.asarray(ds.iv_curve(original, biases, cfg))
    i_target = np.asarray(ds.iv_curve(target, biases, cfg))
    print(f"[fig4/5] designing from the original RTD: {DESIGN_ITERATIONS[profile]} AdaBelief iterations")
    res = ds.design(biases, i_target, original, cfg, iterations=DESIGN_ITERATIONS[profile], progress=None)

    metrics = {
        "iv_rms_percent_of_peak": res.rms_percent_of_peak,
        "power_original_uW": mean_power_uW(biases, i_orig),
        "power_target_uW": mean_power_uW(biases, i_target),
        "power_designed_uW": mean_power_uW(biases, res.currents),
        "pvr_original": peak_to_valley_ratio(biases, i_orig),
        "pvr_target": peak_to_valley_ratio(biases, i_target),
        "pvr_designed": peak_to_valley_ratio(biases, res.currents),
        "design_seconds": res.seconds,
        "iterations": res.design_config.iterations,
        "best_iteration": res.best_iteration,
        "best_loss": float(res.loss_history[res.best_iteration]),
        "final_loss": float(res.loss_history[-1]),
    }
    metrics["acceptance"] = {
        "rms_within_1_percent_of_peak": metrics["iv_rms_percent_of_peak"] <= 1.0,
        "designed_power_below_original": metrics["power_designed_uW"] < metrics["power_original_uW"],
        "designed_pvr_above_original": metrics["pvr_designed"] > metrics["pvr_original"],
    }

    plotting.plot_fig4({"original": original, "target": target, "designed": res.params}, cfg, out / "fig4_barriers.png")
    plotting.plot_fig5(
        biases,
        {"original": i_orig, "target": i_target, "designed": res.currents},
        out / "fig5_iv.png",
        annotations={
            "original": f"P = {metrics['power_original_uW']:.2f} µW, PVR = {metrics['pvr_original']:.2f}",
            "target": f"P = {metrics['power_target_uW']:.2f} µW, PVR = {metrics['pvr_target']:.2f}",
            "designed": f"P = {metrics['power_designed_uW']:.2f} µW, PVR = {metrics['pvr_designed']:.2f}",
        },
    )
    plotting.plot_design_loss(res.loss_history, out / "design_loss.png")
    np.savetxt(
        out / "fig5_iv.csv",
        np.column_stack([biases, i_orig, i_target, res.currents]),
        delimiter=",",
        header="bias_V,original_uA,target_uA,designed_uA",
        comments="",
        fmt="%.10g",
    )
    write_json(
        out / "design_result.json",
        {
            "original": original.to_dict(),
            "target": target.to_dict(),
            "designed": res.params.to_dict(),
            "device_config": cfg.to_dict(),
            "design_config": res.design_config.__dict__,
            "loss_history": res.loss_history.tolist(),
        },
    )
    rows = [
        ("FD discretization", str(cfg.n_points)),
        ("Energy Points", str(cfg.n_energy)),
        ("Interpolation Points", str(cfg.n_interp)),
        ("m", str(original.n_barriers)),
        ("Search Space", str(len(biases))),
        ("optimizer iterations", str(res.design_config.iterations)),
        ("(energy window, quadrature)", f"{cfg.energy_window_eV} eV, {cfg.quadrature}"),
        ("(AdaBelief peak step, cosine decay to)", f"{res.design_config.learning_rate}, ×{res.design_config.final_lr_fraction}"),
    ]
    print(
        "[fig5] RMS {iv_rms_percent_of_peak:.3f} % of peak; power {power_original_uW:.3f} → {power_designed_uW:.3f} µW "
        "(target {power_target_uW:.3f}); PVR {pvr_original:.2f} → {pvr_designed:.2f} (target {pvr_target:.2f}); "
        "{design_seconds:.1f} s".format(**metrics)
    )
    return {"fig5": {**metrics, "profile_note": DESIGN_NOTES[profile], "hyperparameters": rows}}
