"""``qtbm simulate|design --model stack``: layer-stack RTDs at a temperature (docs/cli.md).

The observable is the Tsu–Esaki current density J(V) in A/cm² (physics.md §10) of a
:class:`~diffsim_jax.heterostructure.StackModel`; the design variables are the free layer
thicknesses, Al fractions and the Fermi level (physics.md eq. 9.10). Input and output
conventions (validation before any work, one-line errors, atomic outputs) are those of
:mod:`diffsim_jax.cli`.
"""

from __future__ import annotations

import os
import sys

import numpy as np

DEFAULT_STACK_BIASES = "0:0.4:33"


def _stack_lines(params) -> list[str]:
    lines = []
    for k, layer in enumerate(params.stack.layers):
        lines.append(f"  layer {k}: {layer.thickness_nm:.3f} nm, x = {layer.al_fraction:.4f}, "
                     f"N_D = {layer.doping_cm3:.3g} cm^-3")
    return lines + [f"  Fermi level {float(params.fermi_level):.4f} eV"]


def _curve(model, params, biases, temperature_K):
    import jax  # noqa: PLC0415
    import jax.numpy as jnp  # noqa: PLC0415

    from ..observables import current_density_curve  # noqa: PLC0415

    f = jax.jit(lambda p, b: current_density_curve(model, p, b, temperature_K))
    return np.asarray(f(params, jnp.asarray(biases, jnp.float64)))


def self_consistent_observable(model, temperature_K: float, fermi_level_eV=None, progress: bool = False):
    """``observable(model, params, biases)``: the self-consistent J(V) in A/cm², swept up
    from the lowest bias (physics.md §11). Differentiable (implicit function theorem), not
    jit-able as a whole. The grid has the model's number of points."""
    from ..models.selfconsistent import SolverConfig, self_consistent_iv  # noqa: PLC0415

    config = SolverConfig(n_points=model.n_points)

    def observable(_model, params, biases):
        sweep = self_consistent_iv(params.stack, np.asarray(biases), temperature_K, config=config,
                                   fermi_level_eV=fermi_level_eV, direction="up", progress=progress,
                                   materials=model.materials)
        return sweep.current_up

    return observable


def stage_plot(out, path, fmt, **kwargs) -> None:
    from .plot import plot_stack_iv  # noqa: PLC0415

    out.stage(path, lambda f: plot_stack_iv(f, fmt, **kwargs))


def cmd_simulate_stack(args, argv: list[str]) -> int:
    from .common import PROG, bias_list, check_outputs  # noqa: PLC0415
    from ..design.metrics import ndr_figures  # noqa: PLC0415
    from .io import JV_COLUMNS, StagedOutputs, iv_csv_text  # noqa: PLC0415
    from .stack_io import read_stack_json  # noqa: PLC0415

    formats = check_outputs({"--csv": args.csv, "--plot": args.plot}, [args.params])
    f = read_stack_json(args.params)
    temperature = args.temperature if args.temperature is not None else (f.temperature_K or 300.0)
    params = f.params(temperature)
    if args.biases is not None:
        biases = args.biases
    elif f.biases is not None:
        biases = f.biases
    else:
        biases = bias_list(DEFAULT_STACK_BIASES)
    bistable_note = ""
    if args.self_consistent:
        from ..models.selfconsistent import SolverConfig, self_consistent_iv  # noqa: PLC0415

        sweep = self_consistent_iv(f.stack, biases, temperature, config=SolverConfig(n_points=f.model.n_points),
                                   fermi_level_eV=f.fermi_level_eV, direction="both", progress=not args.quiet,
                                   materials=f.model.materials)
        currents = np.asarray(sweep.current_up)
        if np.any(sweep.bistable):
            b = biases[sweep.bistable]
            bistable_note = (f"; bistable from {b.min():g} to {b.max():g} V (the CSV holds the up sweep; "
                             f"the down sweep differs there by up to "
                             f"{np.max(np.abs(currents - np.asarray(sweep.current_down))):.3g} A/cm²)")
        else:
            bistable_note = "; the up and down sweeps agree (no bistability)"
    else:
        currents = _curve(f.model, params, biases, temperature)
    text = iv_csv_text(biases, currents, JV_COLUMNS)
    with StagedOutputs() as out:
        if args.csv:
            out.stage_text(args.csv, text)
        if args.plot:
            stage_plot(out, args.plot, formats["--plot"], biases=biases, currents=currents, model=f.model,
                        params=params, currents_label=f"simulated, {temperature:g} K", target=f.target,
                        target_biases=f.biases, title=os.path.basename(args.params))
        written = out.commit()
    if not args.csv:
        sys.stdout.write(text)
    elif not args.quiet:
        fom = ndr_figures(biases, currents)
        print(
            f"{PROG} simulate: stack of {params.stack.n_layers} layers at {temperature:g} K, {biases.size} biases "
            f"from {biases[0]:g} to {biases[-1]:g} V; first peak {fom['peak']:.4g} A/cm² at {fom['peak_bias_V']:g} V, "
            f"peak-to-valley ratio {fom['pvr']:.3g}" + (" (self-consistent" + bistable_note + ")" if args.self_consistent
                                                       else ""),
            f"  wrote {', '.join(written)}",
            sep="\n",
        )
    return 0


def cmd_design_stack(args, argv: list[str]) -> int:
    import jax  # noqa: PLC0415
    import jax.numpy as jnp  # noqa: PLC0415

    from .. import __version__  # noqa: PLC0415
    from .common import PROG, sha256, check_outputs, loss_summary  # noqa: PLC0415
    from ..design import design_model, iv_loss  # noqa: PLC0415
    from ..observables import stack_observable  # noqa: PLC0415
    from .io import JV_COLUMNS, InputError, StagedOutputs, json_text, read_iv_csv  # noqa: PLC0415
    from ..physics.materials import ALGAAS  # noqa: PLC0415
    from .stack_io import model_to_dict, read_stack_json  # noqa: PLC0415

    if not args.init:
        raise InputError("--model stack needs --init STACK.json: the starting layer stack (docs/cli.md)")
    formats = check_outputs({"--out": args.out, "--plot": args.plot}, [args.target, args.init])
    data = read_iv_csv(args.target, JV_COLUMNS)
    f = read_stack_json(args.init)
    temperature = args.temperature if args.temperature is not None else (f.temperature_K or 300.0)
    start = f.params(temperature)
    model = f.model
    biases = jnp.asarray(data.biases)
    if args.self_consistent:  # E_F follows from the contact doping: not a design variable
        import dataclasses  # noqa: PLC0415

        model = dataclasses.replace(model, free_fermi_level=False)
        observable = self_consistent_observable(model, temperature, f.fermi_level_eV)
        evaluate = observable
    else:
        observable = stack_observable(temperature)
        evaluate = jax.jit(observable, static_argnums=0)
    loss = iv_loss(model, observable, biases, jnp.asarray(data.currents))
    res = design_model(model, loss, start, iterations=args.iterations, progress=not args.quiet,
                       jit=not args.self_consistent)
    fitted = np.asarray(evaluate(model, res.params, biases))
    err = fitted - data.currents
    rms = float(100 * np.sqrt(np.mean(err**2)) / np.max(np.abs(data.currents)))
    doc = {
        "params": res.params.to_dict(),
        "model": model_to_dict(model),
        "materials": model.materials.to_dict() if model.materials is not ALGAAS else None,
        "temperature_K": temperature,
        "self_consistent": bool(args.self_consistent),
        "fit": {
            "rms_percent_of_peak": rms,
            "max_abs_error_Acm2": float(np.max(np.abs(err))),
            "iterations": int(res.loss_history.size),
            "best_iteration": int(res.best_iteration),
            "best_loss": res.best_loss,
            "final_loss": res.final_loss,
            "skipped_steps": res.skipped_steps,
            "loss_history": loss_summary(res.loss_history),
            "seconds": round(res.seconds, 3),
        },
        "initial_params": start.to_dict(),
        "target": {"file": args.target, "sha256": sha256(args.target), "n_points": data.n_points},
        "currents": {
            "bias_V": [float(v) for v in data.biases],
            "target_Acm2": [float(v) for v in data.currents],
            "fitted_Acm2": [float(v) for v in fitted],
        },
        "command": " ".join([PROG, *argv]),
        "version": __version__,
    }
    with StagedOutputs() as out:
        out.stage_text(args.out, json_text(doc))
        if args.plot:
            stage_plot(out, args.plot, formats["--plot"], biases=data.biases, currents=fitted, model=model,
                        params=res.params, currents_label=f"fitted, {temperature:g} K", target=data.currents,
                        initial_params=start, title=f"{os.path.basename(args.target)}: RMS error {rms:.2f} % of peak")
        written = out.commit()
    if not args.quiet:
        print(
            f"{PROG} design: fitted {data.n_points} points of {args.target} at {temperature:g} K in "
            f"{res.loss_history.size} iterations ({res.seconds:.1f} s)",
            f"  RMS error {rms:.3g} % of peak ({np.max(np.abs(data.currents)):.4g} A/cm²); "
            f"best loss {res.best_loss:.3g} at iteration {res.best_iteration}",
            *_stack_lines(res.params),
            f"  wrote {', '.join(written)}",
            sep="\n",
        )
    return 0

