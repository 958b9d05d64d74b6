"""``qtbm design`` / ``qtbm simulate`` for the paper's box model (docs/cli.md)."""

from __future__ import annotations

import dataclasses
import os
import sys

import jax
import numpy as np

from .. import __version__
from ..design import DesignConfig, Normalization, design
from ..models.box import DeviceConfig, default_params
from ..observables import iv_curve
from .common import (
    DEFAULT_BIASES,
    PROG,
    bias_list,
    check_outputs,
    finite_or_none,
    iv_figures_of_merit,
    loss_summary,
    params_lines,
    progress_option,
    sha256,
    stage_plot,
)
from .io import StagedOutputs, iv_csv_text, json_text, read_iv_csv, read_params_json


def jittered_start(p0, cfg, design_config, jitter: float, seed: int):
    """``p0`` moved by ``jitter`` standard deviations in the optimiser's normalised coordinates.

    Uses :class:`diffsim_jax.design.Normalization` (heights by jitter·Δh, centres by
    jitter·Δc, widths by exp(jitter·N(0,1)/2), the Fermi level's logit by jitter·N(0,1)),
    so widths stay > 0 and the Fermi level inside the tabulated window. ``jitter = 0``
    returns ``p0`` unchanged.
    """
    if jitter == 0:
        return p0
    rng = np.random.default_rng(seed)
    norm = Normalization(p0, cfg.energy_window_eV[1], design_config.height_scale_eV, design_config.center_scale_nm)
    z = jax.tree_util.tree_map(lambda leaf: jitter * rng.standard_normal(np.shape(leaf)), norm.zeros())
    return jax.tree_util.tree_map(np.asarray, norm.to_physical(z))


def design_document(result, data, args, start, target_sha256: str, argv: list[str]) -> dict:
    """The JSON result of ``qtbm design`` (documented in docs/cli.md)."""
    return {
        "params": result.params.to_dict(),
        "fit": {
            "rms_percent_of_peak": result.rms_percent_of_peak,
            "max_abs_error_uA": float(np.max(np.abs(result.currents - result.target_currents))),
            "iterations": int(result.loss_history.size),
            "best_iteration": int(result.best_iteration),
            "best_loss": finite_or_none(result.loss_history[result.best_iteration]),
            "final_loss": finite_or_none(result.loss_history[-1]),
            "skipped_steps": int(np.sum(result.skipped)),
            "loss_history": loss_summary(result.loss_history),
            "seconds": round(result.seconds, 3),
        },
        "initial_params": start.to_dict(),
        "figures_of_merit": {
            "target": iv_figures_of_merit(data.biases, data.currents),
            "fitted": iv_figures_of_merit(data.biases, result.currents),
        },
        "config": result.config.to_dict(),
        "design_config": dataclasses.asdict(result.design_config),
        "seed": args.seed,
        "jitter": args.jitter,
        "init": args.init,
        "target": {"file": args.target, "sha256": target_sha256, "n_points": data.n_points},
        "currents": {
            "bias_V": [float(v) for v in data.biases],
            "target_uA": [float(v) for v in data.currents],
            "fitted_uA": [float(v) for v in result.currents],
        },
        "command": " ".join([PROG, *argv]),
        "version": __version__,
    }


def cmd_design_box(args, argv: list[str]) -> int:
    """``qtbm design --target CSV`` with the box model (the paper's design, physics.md §6)."""
    formats = check_outputs({"--out": args.out, "--plot": args.plot}, [args.target, args.init])
    data = read_iv_csv(args.target)
    target_sha256 = sha256(args.target)
    if args.init:
        init = read_params_json(args.init)
        p0, cfg = init.params, init.config
    else:
        p0, cfg = default_params(), DeviceConfig()
    dcfg = DesignConfig(iterations=args.iterations)
    start = jittered_start(p0, cfg, dcfg, args.jitter, args.seed)
    result = design(
        data.biases, data.currents, start, cfg, args.iterations, design_config=dcfg,
        progress=progress_option(args.quiet),
    )
    doc = design_document(result, data, args, start, target_sha256, argv)
    with StagedOutputs() as out:
        out.stage_text(args.out, json_text(doc))
        if args.plot:
            stage_plot(
                out, args.plot, formats["--plot"],
                biases=data.biases, currents=result.currents, params=result.params, cfg=cfg,
                currents_label="fitted", target=data.currents, initial_params=start,
                title=f"{os.path.basename(args.target)}: RMS error {result.rms_percent_of_peak:.2f} % of peak",
            )
        written = out.commit()
    if not args.quiet:
        fit = doc["fit"]
        print(
            f"{PROG} design: fitted {data.n_points} points of {args.target} in {fit['iterations']} iterations "
            f"({result.seconds:.1f} s)\n"
            f"  RMS error {fit['rms_percent_of_peak']:.3g} % of peak ({np.max(np.abs(data.currents)):.4g} µA), "
            f"max error {fit['max_abs_error_uA']:.3g} µA; "
            f"best loss {result.loss_history[result.best_iteration]:.3g} at iteration {fit['best_iteration']}",
            *params_lines(result.params),
            f"  wrote {', '.join(written)}",
            sep="\n",
        )
    return 0


def cmd_simulate_box(args, argv: list[str]) -> int:
    """``qtbm simulate`` of a box-model design (0 K I–V in µA, physics.md §5)."""
    formats = check_outputs({"--csv": args.csv, "--plot": args.plot}, [args.params])
    design_file = read_params_json(args.params)
    if args.biases is not None:
        biases = args.biases
    elif design_file.biases is not None:
        biases = design_file.biases
    else:
        biases = bias_list(DEFAULT_BIASES)
    currents = np.asarray(iv_curve(design_file.params, biases, design_file.config))
    text = iv_csv_text(biases, currents)
    with StagedOutputs() as out:
        if args.csv:
            out.stage_text(args.csv, text)
        if args.plot:
            stage_plot(
                out, args.plot, formats["--plot"],
                biases=biases, currents=currents, params=design_file.params, cfg=design_file.config,
                currents_label="simulated", target=design_file.target, target_biases=design_file.biases,
                title=os.path.basename(args.params),
            )
        written = out.commit()
    if not args.csv:
        sys.stdout.write(text)
    elif not args.quiet:
        fom = iv_figures_of_merit(biases, currents)
        print(
            f"{PROG} simulate: {biases.size} biases from {biases[0]:g} to {biases[-1]:g} V; "
            f"peak {fom['peak_uA']:.4g} µA at {fom['peak_bias_V']:g} V, peak-to-valley ratio "
            f"{fom['peak_to_valley_ratio']:.3g}, mean power {fom['mean_power_uW']:.4g} µW",
            f"  wrote {', '.join(written)}",
            sep="\n",
        )
    return 0


