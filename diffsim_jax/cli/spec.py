"""``qtbm design --spec spec.json``: design from figures of merit (physics.md §12; docs/cli.md).

The spec (validated by :func:`diffsim_jax.design.spec.load_spec`) states targets for the
peak bias, peak current, peak-to-valley ratio and mean power; the loss is the weighted
sum of squared relative errors of their smooth versions (physics.md eqs. 12.7–12.8). The
box model starts from ``--init`` (default: the paper's original RTD); the free-form model
(a network potential on the same device) from a bare ramp.
"""

from __future__ import annotations

import os

import numpy as np

#: Optimiser settings of the spec design (AdaBelief steps, L-BFGS steps) per model, as in
#: the measured spec designs of Fig. 7 (experiments/freeform.py).
SPEC_FIT = {"box": dict(adabelief_steps=300, lbfgs_steps=100, learning_rate=0.05, final_lr_fraction=0.02),
            "freeform": dict(adabelief_steps=300, lbfgs_steps=200)}


def cmd_design_spec(args, argv: list[str]) -> int:
    import jax  # noqa: PLC0415
    import jax.numpy as jnp  # noqa: PLC0415

    from .. import __version__  # noqa: PLC0415
    from .common import PROG, check_outputs, not_converged_status, params_lines, progress_option, sha256  # noqa: PLC0415
    from ..models.box import BoxModel, DeviceConfig, default_params  # noqa: PLC0415
    from ..design import FitConfig
    from ..models.freeform import FreeformModel
    from ..observables import iv_observable, model_iv_curve  # noqa: PLC0415
    from .io import InputError, StagedOutputs, json_text, read_params_json, read_text  # noqa: PLC0415
    from ..design.spec import design_to_spec, load_spec  # noqa: PLC0415

    if args.model == "stack":
        from .stack import cmd_design_spec_stack  # noqa: PLC0415

        return cmd_design_spec_stack(args, argv)
    if args.temperature is not None:
        raise InputError("--temperature needs --model stack")
    formats = check_outputs({"--out": args.out, "--plot": args.plot}, [args.spec, args.init])
    read_text(args.spec)  # a missing or unreadable file is an InputError naming it
    try:
        spec = load_spec(args.spec)
    except ValueError as err:
        raise InputError(f"{args.spec}: {err}") from None
    if args.init:
        init = read_params_json(args.init)
        p0, cfg = init.params, init.config
    else:
        p0, cfg = default_params(), DeviceConfig()
    fit_config = FitConfig(**SPEC_FIT[args.model])
    if args.model == "box":
        model, start = BoxModel.from_config(cfg), p0
    else:
        model = FreeformModel.from_config(cfg, amplitude_weight=10.0, max_amplitude_eV=0.5)
        start = model.init_params(args.seed, float(p0.fermi_level))
    observable = iv_observable(cfg)
    res, report = design_to_spec(model, spec, start, observable, fit_config, progress=progress_option(args.quiet))
    params = jax.tree_util.tree_map(jnp.asarray, res.params)
    biases = np.asarray(spec.biases_V)
    currents = np.asarray(model_iv_curve(model, params, jnp.asarray(biases), cfg))
    doc = {
        "model": args.model,
        "params": res.params.to_dict(),
        "spec": {"file": args.spec, "sha256": sha256(args.spec), "targets": dict(spec.targets),
                 "weights": dict(spec.weights), "temperature": spec.temperature},
        "figures_of_merit": report,
        "fit": {"iterations": int(np.size(res.loss_history)), "best_loss": float(np.nanmin(res.loss_history)),
                "seconds": round(float(res.seconds), 3), "converged": not res.stopped,
                "stopped": res.stopped or None, "last_failure": res.failure or None},
        "config": cfg.to_dict(),
        "currents": {"bias_V": [float(v) for v in biases], "fitted_uA": [float(v) for v in currents]},
        "seed": args.seed,
        "command": " ".join([PROG, *argv]),
        "version": __version__,
    }
    with StagedOutputs() as out:
        out.stage_text(args.out, json_text(doc))
        if args.plot and args.model == "box":
            from .plot import plot_iv_and_potential  # noqa: PLC0415

            out.stage(args.plot, lambda f: plot_iv_and_potential(
                f, formats["--plot"], biases, currents, res.params, cfg, currents_label="designed",
                initial_params=p0, title=f"{os.path.basename(args.spec)}: spec design"))
        written = out.commit()
    if not args.quiet:
        lines = [f"  {k}: target {v['target']:.4g}, achieved {v['achieved']:.4g} ({100 * v['relative_error']:+.2f} %)"
                 for k, v in report.items()]
        extra = params_lines(res.params) if args.model == "box" else [f"  Fermi level {float(params.fermi_level):.4f} eV"]
        print(f"{PROG} design: {args.model} model to the figures of merit of {args.spec} ({doc['fit']['seconds']:.1f} s)",
              *lines, *extra, f"  wrote {', '.join(written)}", sep="\n")
    if res.stopped:
        return not_converged_status(f"{res.stopped} ({res.failure})" if res.failure else res.stopped, written)
    return 0
