"""``qtbm simulate|design --model stack``: layer-stack RTDs at a temperature (docs/cli.md).

The observable is the Tsu–Esaki current density J(V) in A/cm² (physics.md §10) of a
:class:`~diffsim_jax.models.stack.StackModel`; the design variables are the free layer
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


# --------------------------------------------------------------------------------------
# The spatial grid: chosen from the device, error-controlled (physics.md §9.4)
# --------------------------------------------------------------------------------------
def grid_tolerance(text: str) -> float:
    """An argparse type: a relative tolerance in (0, 1)."""
    import argparse  # noqa: PLC0415

    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a relative tolerance in (0, 1), e.g. 0.005, got {text!r}")
    return value


def add_stack_options(parser, profiles: bool) -> None:
    """--points, --grid-tolerance (and for simulate --save-profiles, --profile-biases) of --model stack."""
    from .common import bias_list, int_at_least  # noqa: PLC0415

    parser.add_argument(
        "--points", type=int_at_least(5), default=None, metavar="N",
        help="--model stack only: use N grid points over the stack (no refinement; the spatial error is still "
        "estimated and reported). Default: the stack file's model.n_points, else chosen from the device "
        "(spacing from the shortest decay length and the thinnest layer, physics.md §9.4) and refined "
        "until the estimated error meets --grid-tolerance",
    )
    parser.add_argument(
        "--grid-tolerance", type=grid_tolerance, default=None, metavar="TOL",
        help="--model stack only: wanted spatial-grid error of J, max over the biases, relative to the first "
        "peak (Richardson estimate from a second solve on every other grid point); default 0.005 (0.5 %%)",
    )
    if profiles:
        parser.add_argument(
            "--discretisation", choices=("fd", "fem"), default=None,
            help="--model stack only: 'fd' = finite differences with smoothed interfaces on an error-controlled "
            "grid (default); 'fem' = finite elements with abrupt interfaces (physics.md §14; with "
            "--self-consistent the Schrödinger-Poisson sweep of §14.11), degree 3 and 4 on the graded mesh, "
            "the p = 4 result written and |J_3 - J_4| reported as its error estimate against --grid-tolerance. "
            "Not yet with --points, --plot or --save-profiles; temperature > 0",
        )
        parser.add_argument(
            "--save-profiles", metavar="DIR",
            help="--model stack only: write into DIR (created if missing) the band diagram (conduction band, "
            "electrostatic/Hartree potential, quasi-Fermi level, eV vs nm), electron density (cm^-3), T(E) and "
            "resonance energies/widths (eV) at each --profile-biases bias, as CSV and one profiles.npz, and "
            "run.json (grid, error estimate, figures of merit); with --plot they are also drawn",
        )
        parser.add_argument(
            "--profile-biases", type=bias_list, default=None, metavar="SPEC",
            help="biases (V) of --save-profiles, as --biases; default: 0 V and the first peak and valley biases",
        )


STACK_ONLY_OPTIONS = {"points": "--points", "grid_tolerance": "--grid-tolerance", "save_profiles": "--save-profiles",
                      "profile_biases": "--profile-biases", "discretisation": "--discretisation"}


def reject_stack_only_options(args) -> None:
    """ValueError naming the first --model stack option given with another model."""
    for attr, option in STACK_ONLY_OPTIONS.items():
        if getattr(args, attr, None) is not None:
            raise ValueError(f"{option} needs --model stack")


def choose_grid(model, params, temperature_K: float, points):
    """(model with n_points set, refine): ``points`` (fixed) > the file's n_points (fixed) > the
    device's default grid (physics.md eq. 9.13), refined until the tolerance is met."""
    import dataclasses  # noqa: PLC0415

    if points is not None:
        return dataclasses.replace(model, n_points=int(points)), False
    if model.n_points is not None:
        return model, False
    return model.with_grid(params, temperature_K), True


def max_grid_points(n_biases: int, at_once: bool) -> int:
    """The largest N whose J(V) fits the memory budget (and :data:`MAX_AUTO_POINTS`)."""
    from ..observables import stack_curve_bytes  # noqa: PLC0415
    from ..physics.convergence import MAX_AUTO_POINTS  # noqa: PLC0415
    from ..validation import memory_budget_bytes  # noqa: PLC0415

    per_point = stack_curve_bytes(1, n_biases if at_once else 1)
    return int(min(MAX_AUTO_POINTS, memory_budget_bytes() // max(per_point, 1.0)))


def peak_scale(biases):
    """The scale of the grid tolerance: the first NDR peak (``simulate``'s "first peak"), |J|."""
    from ..design.metrics import ndr_figures  # noqa: PLC0415

    return lambda currents: abs(ndr_figures(biases, currents)["peak"]) or float(np.max(np.abs(currents)))


def stack_curve_estimate(model, params, biases, temperature_K: float, tolerance: float, refine: bool):
    """J(V) on ``model``'s grid with its Richardson error estimate, refined when ``refine``
    (:func:`diffsim_jax.physics.convergence.error_controlled`)."""
    import dataclasses  # noqa: PLC0415

    from ..physics.convergence import error_controlled  # noqa: PLC0415

    def solve(n):
        return _curve(dataclasses.replace(model, n_points=n), params, biases, temperature_K), None

    return error_controlled(solve, model.n_points, tolerance, peak_scale(biases), refine=refine,
                            max_points=max_grid_points(np.size(biases), True))


def self_consistent_estimate(model, stack, biases, temperature_K: float, fermi_level_eV, tolerance: float,
                             refine: bool, progress, direction: str = "both"):
    """The self-consistent sweep on ``model``'s grid with the error estimate of its up sweep
    (a second sweep on every other point; refined when ``refine``). The payload is the
    :class:`~diffsim_jax.models.selfconsistent.SweepResult` on the returned grid."""
    from ..models.selfconsistent import SolverConfig, self_consistent_iv  # noqa: PLC0415
    from ..physics.convergence import error_controlled  # noqa: PLC0415

    def solve(n):
        sweep = self_consistent_iv(stack, biases, temperature_K, config=SolverConfig(n_points=n),
                                   fermi_level_eV=fermi_level_eV, direction=direction, progress=progress,
                                   materials=model.materials)
        return np.asarray(sweep.current_up), sweep

    return error_controlled(solve, model.n_points, tolerance, peak_scale(biases), refine=refine,
                            max_points=max_grid_points(np.size(biases), False))


def grid_record(est, length_nm: float, refine: bool) -> dict:
    """The "grid" block of a result: N, spacing, how it was chosen, the error estimate."""
    return {**est.to_dict(), "spacing_nm": length_nm / (est.n_points - 1),
            "chosen": "from the device, refined to the tolerance (physics.md §9.4)" if refine
            else "fixed (--points or model.n_points)"}


def grid_line(est, length_nm: float, refine: bool) -> str:
    """One summary line: the grid and its estimated spatial error."""
    how = "chosen from the device" if refine else "fixed"
    line = (f"  grid: N = {est.n_points} points, spacing {length_nm / (est.n_points - 1):.4f} nm ({how}); "
            f"spatial error ≤ {100 * est.relative_error:.2g} % of the peak (Richardson, N vs {est.coarse_n_points} "
            f"points; tolerance {100 * est.tolerance:g} %)")
    if not est.met:
        line += " — NOT MET: " + ("the grid is fixed; raise --points" if not refine
                                  else "refinement stopped at the memory/size limit")
    return line


def grid_comment(est, length_nm: float, refine: bool) -> str:
    """Trailing ``#`` lines of a J(V) CSV (readers skip them): the grid and its error estimate."""
    return (f"# grid: n_points={est.n_points}, spacing_nm={length_nm / (est.n_points - 1):.6g}, "
            f"{'chosen from the device' if refine else 'fixed'}\n"
            f"# spatial_error: {est.relative_error:.3g} of the first peak (max over the biases; Richardson "
            f"|J_N - J_{est.coarse_n_points}|/3), tolerance {est.tolerance:g}, met={str(est.met).lower()}\n")


def simulate_biases(args, f):
    """The biases of ``simulate``: --biases, else the file's, else :data:`DEFAULT_STACK_BIASES`."""
    from .common import bias_list  # noqa: PLC0415

    if args.biases is not None:
        return args.biases
    return f.biases if f.biases is not None else bias_list(DEFAULT_STACK_BIASES)


def sweep_note(biases, bistable, up, down) -> str:
    """The summary's clause on a self-consistent up/down sweep: where it is bistable, or that it is not."""
    if not np.any(bistable):
        return "; the up and down sweeps agree (no bistability)"
    b = biases[bistable]
    return (f"; bistable from {b.min():g} to {b.max():g} V (the CSV holds both sweeps; "
            f"the down sweep differs there by up to {np.max(np.abs(up - down)):.3g} A/cm²)")


def cmd_simulate_stack(args, argv: list[str]) -> int:
    from .common import PROG, check_outputs, check_stack_work  # noqa: PLC0415
    from ..validation import InfeasibleError  # noqa: PLC0415
    from ..design.metrics import ndr_figures  # noqa: PLC0415
    import dataclasses  # noqa: PLC0415

    from .io import JV_COLUMNS, InputError, StagedOutputs, iv_csv_text  # noqa: PLC0415
    from ..physics.convergence import DEFAULT_GRID_TOLERANCE  # noqa: PLC0415
    from .stack_io import read_stack_json  # noqa: PLC0415
    from .stack_profiles import (SC_JV_COLUMNS, check_profile_dir, iv_csv_text_columns,  # noqa: PLC0415
                                 stack_bias_profiles, stage_profiles)

    formats = check_outputs({"--csv": args.csv, "--plot": args.plot}, [args.params])
    f = read_stack_json(args.params)
    temperature = args.temperature if args.temperature is not None else (f.temperature_K or 300.0)
    params = f.params(temperature)
    biases = simulate_biases(args, f)
    model, refine = choose_grid(f.model, params, temperature, args.points)
    tolerance = args.grid_tolerance or DEFAULT_GRID_TOLERANCE
    check_stack_work(args.params, model, params, biases, temperature, args.self_consistent)
    profile_dir = check_profile_dir(args.save_profiles)
    bistable_note = ""
    sweep = None
    if args.self_consistent:
        try:
            est = self_consistent_estimate(model, f.stack, biases, temperature, f.fermi_level_eV, tolerance, refine,
                                           not args.quiet)  # a bar only on a terminal (tqdm disable=None)
        except InfeasibleError as err:  # e.g. a contact too short to stay neutral: the file's stack
            raise InputError(f"{args.params}: {err}") from None
        sweep = est.payload
        currents = np.asarray(sweep.current_up)
        down = np.asarray(sweep.current_down)
        bistable_note = sweep_note(biases, sweep.bistable, currents, down)
        text = iv_csv_text_columns(biases, [currents, down], SC_JV_COLUMNS)
    else:
        est = stack_curve_estimate(model, params, biases, temperature, tolerance, refine)
        currents = est.values
        text = iv_csv_text(biases, currents, JV_COLUMNS)
    model = dataclasses.replace(model, n_points=est.n_points)
    length = float(params.stack.length_nm)
    text += grid_comment(est, length, refine)
    fom = ndr_figures(biases, currents)
    profile_biases = None
    if profile_dir is not None or (args.plot and args.self_consistent):
        profile_biases = (args.profile_biases if args.profile_biases is not None
                          else np.unique([0.0, fom["peak_bias_V"], fom["valley_bias_V"]]))
    bias_profiles = (stack_bias_profiles(model, params, temperature, profile_biases, sweep, f.fermi_level_eV)
                     if profile_biases is not None else None)
    with StagedOutputs() as out:
        if args.csv:
            out.stage_text(args.csv, text)
        if args.plot:
            stage_plot(out, args.plot, formats["--plot"], biases=biases, currents=currents, model=model,
                       params=params, currents_label=f"simulated, {temperature:g} K", target=f.target,
                       target_biases=f.biases, title=os.path.basename(args.params),
                       down=down if sweep is not None else None, profiles=bias_profiles,
                       show_profiles=profile_dir is not None)
        if profile_dir is not None:
            run = {"stack": params.to_dict(), "temperature_K": temperature, "self_consistent": bool(args.self_consistent),
                   "grid": grid_record(est, length, refine), "figures_of_merit": fom,
                   "command": " ".join([PROG, *argv])}
            stage_profiles(out, profile_dir, bias_profiles, run)
        written = out.commit()
    if not args.csv:
        sys.stdout.write(text)
    elif not args.quiet:
        print(
            f"{PROG} simulate: stack of {params.stack.n_layers} layers at {temperature:g} K, {biases.size} biases "
            f"from {biases[0]:g} to {biases[-1]:g} V; first peak {fom['peak']:.4g} A/cm² at {fom['peak_bias_V']:g} V, "
            f"peak-to-valley ratio {fom['pvr']:.3g}" + (" (self-consistent" + bistable_note + ")" if args.self_consistent
                                                       else ""),
            grid_line(est, length, refine),
            f"  wrote {', '.join(written)}",
            sep="\n",
        )
    if not est.met and not args.quiet:
        print(f"{PROG}: warning: {grid_line(est, length, refine).strip()}", file=sys.stderr)
    return 0


def cmd_design_stack(args, argv: list[str]) -> int:
    import jax  # noqa: PLC0415
    import jax.numpy as jnp  # noqa: PLC0415

    from .. import __version__  # noqa: PLC0415
    from .common import (PROG, check_outputs, check_stack_work, finite_or_none, loss_summary,  # noqa: PLC0415
                         not_converged_status, progress_option, sha256)
    from ..design.loop import MAX_FAILED_STEPS  # noqa: PLC0415
    from ..validation import TRIAL_STEP_FAILURES, InfeasibleError  # noqa: PLC0415
    from ..design import design_model, iv_loss  # noqa: PLC0415
    from ..observables import stack_observable  # noqa: PLC0415
    from .io import JV_COLUMNS, InputError, StagedOutputs, json_text, read_iv_csv  # noqa: PLC0415
    from ..physics.materials import ALGAAS  # noqa: PLC0415
    from .stack_io import model_to_dict, read_stack_json  # noqa: PLC0415
    import dataclasses  # noqa: PLC0415

    from ..design.metrics import ndr_figures  # noqa: PLC0415
    from ..physics.convergence import DEFAULT_GRID_TOLERANCE, coarse_points, grid_estimate  # noqa: PLC0415

    if not args.init:
        raise InputError("--model stack needs --init STACK.json: the starting layer stack (docs/cli.md)")
    formats = check_outputs({"--out": args.out, "--plot": args.plot}, [args.target, args.init])
    data = read_iv_csv(args.target, JV_COLUMNS)
    f = read_stack_json(args.init)
    temperature = args.temperature if args.temperature is not None else (f.temperature_K or 300.0)
    start = f.params(temperature)
    model, refine = choose_grid(f.model, start, temperature, args.points)
    tolerance = args.grid_tolerance or DEFAULT_GRID_TOLERANCE
    check_stack_work(args.init, model, start, data.biases, temperature, args.self_consistent)
    if refine and not args.self_consistent:  # the grid that meets the tolerance at the start
        first = stack_curve_estimate(model, start, data.biases, temperature, tolerance, True)
        model = dataclasses.replace(model, n_points=first.n_points)
    biases = jnp.asarray(data.biases)
    if args.self_consistent:  # E_F follows from the contact doping: not a design variable
        model = dataclasses.replace(model, free_fermi_level=False)
        observable = self_consistent_observable(model, temperature, f.fermi_level_eV)
        evaluate = observable
    else:
        observable = stack_observable(temperature)
        evaluate = jax.jit(observable, static_argnums=0)
    loss = iv_loss(model, observable, biases, jnp.asarray(data.currents))
    try:
        res = design_model(model, loss, start, iterations=args.iterations, progress=progress_option(args.quiet),
                           jit=not args.self_consistent, max_failed_steps=MAX_FAILED_STEPS)
    except InfeasibleError as err:  # only the start can raise it (trial steps back off): the --init stack
        raise InputError(f"{args.init}: {err}") from None
    fitted = np.asarray(evaluate(model, res.params, biases))
    coarse_model = dataclasses.replace(model, n_points=coarse_points(model.n_points))
    try:
        if args.self_consistent:
            coarse = self_consistent_observable(coarse_model, temperature, f.fermi_level_eV)(coarse_model, res.params,
                                                                                             biases)
        else:
            coarse = _curve(coarse_model, res.params, data.biases, temperature)
        est, estimate_failure = grid_estimate(fitted, np.asarray(coarse), model.n_points, tolerance,
                                              peak_scale(data.biases)), ""
    except TRIAL_STEP_FAILURES as exc:  # the half grid cannot be solved: keep the design, say so (#16 §3)
        est, estimate_failure = None, f"the half grid ({coarse_model.n_points} points) could not be solved: {exc}"
    length = float(res.params.stack.length_nm)
    err = fitted - data.currents
    target_fom = ndr_figures(data.biases, data.currents)
    peak = abs(target_fom["peak"]) or float(np.max(np.abs(data.currents)))
    rms = float(100 * np.sqrt(np.mean(err**2)) / peak)
    doc = {
        "params": res.params.to_dict(),
        "model": model_to_dict(model),
        "materials": model.materials.to_dict() if model.materials is not ALGAAS else None,
        "temperature_K": temperature,
        "self_consistent": bool(args.self_consistent),
        "grid": grid_record(est, length, refine) if est is not None else {
            "n_points": model.n_points, "spacing_nm": length / (model.n_points - 1), "met": None,
            "relative_error": None, "estimate_failed": estimate_failure},
        "figures_of_merit": {"target": target_fom, "fitted": ndr_figures(data.biases, fitted)},
        "fit": {
            "rms_percent_of_peak": rms,
            "max_abs_error_Acm2": float(np.max(np.abs(err))),
            "iterations": int(res.loss_history.size),
            "best_iteration": int(res.best_iteration),
            "best_loss": finite_or_none(res.best_loss),
            "final_loss": finite_or_none(res.final_loss),  # null when the last trial step failed
            "skipped_steps": res.skipped_steps,
            "converged": res.converged,
            "stopped": res.stopped or None,
            "last_failure": res.failure or None,
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
            f"  RMS error {rms:.3g} % of the target's first peak ({peak:.4g} A/cm² at "
            f"{target_fom['peak_bias_V']:g} V); best loss {res.best_loss:.3g} at iteration {res.best_iteration}",
            *_stack_lines(res.params),
            grid_line(est, length, refine) if est is not None else
            f"  grid: N = {model.n_points} points; no spatial error estimate: {estimate_failure}",
            f"  wrote {', '.join(written)}",
            sep="\n",
        )
    if res.stopped:
        return not_converged_status(f"{res.stopped} ({res.failure})" if res.failure else res.stopped, written)
    return 0



# --------------------------------------------------------------------------------------
# qtbm design --model stack --spec: figures of merit of J(V) at a temperature (physics.md §12)
# --------------------------------------------------------------------------------------
#: Spec targets of a layer stack (A/cm², W/cm²) and the names of the same figures in
#: :mod:`diffsim_jax.design.spec`, whose smooth figures (eq. 12.7) do not depend on the unit.
STACK_SPEC_NAMES = {"peak_current_density_Acm2": "peak_current_uA", "mean_power_density_Wcm2": "mean_power_uW"}
#: Optimiser settings of a stack spec design: AdaBelief, then L-BFGS.
STACK_SPEC_FIT = dict(adabelief_steps=150, lbfgs_steps=50, learning_rate=0.05, final_lr_fraction=0.05)


def _to_stack_words(text: str) -> str:
    for ours, theirs in STACK_SPEC_NAMES.items():
        text = text.replace(theirs, ours)
    return text.replace("µA", "A/cm²").replace("µW", "W/cm²").replace("0 K current of physics.md §5", "forward bias")


def read_stack_spec(path: str):
    """A spec file for a layer stack (docs/cli.md): the box-model spec with the current and
    power targets in A/cm² and W/cm² (``peak_current_density_Acm2``, ``mean_power_density_Wcm2``);
    :class:`~diffsim_jax.design.spec.DesignSpec` under the spec module's names. InputError naming the file."""
    from ..design.spec import load_spec  # noqa: PLC0415
    from .io import InputError  # noqa: PLC0415
    from .stack_io import read_json_object  # noqa: PLC0415

    data = read_json_object(path, "a spec must be a JSON object")
    renamed = dict(data)
    for block in ("targets", "weights"):
        if isinstance(data.get(block), dict):
            box = sorted(set(data[block]) & set(STACK_SPEC_NAMES.values()))
            if box:
                raise InputError(f"{path}: {block}.{box[0]} is a box-model figure (µA, µW); a layer stack's spec "
                                 f"uses {', '.join(STACK_SPEC_NAMES)} (A/cm², W/cm²)")
            renamed[block] = {STACK_SPEC_NAMES.get(k, k): v for k, v in data[block].items()}
    try:
        return load_spec(renamed)
    except ValueError as err:
        raise InputError(f"{path}: {_to_stack_words(str(err))}") from None


def stack_spec_report(report: dict, biases, currents) -> dict:
    """The spec report under the stack's names, plus the first NDR region of ``simulate``."""
    from ..design.metrics import ndr_figures  # noqa: PLC0415

    renamed = {_to_stack_words(k): v for k, v in report.items()}
    return {**renamed, "first_ndr": ndr_figures(biases, currents)}


def cmd_design_spec_stack(args, argv: list[str]) -> int:
    import dataclasses  # noqa: PLC0415

    from .. import __version__  # noqa: PLC0415
    from .common import PROG, check_outputs, check_stack_work, not_converged_status, progress_option, sha256  # noqa: PLC0415
    from ..design import FitConfig  # noqa: PLC0415
    from ..design.spec import design_to_spec  # noqa: PLC0415
    from ..observables import stack_observable  # noqa: PLC0415
    from ..physics.convergence import DEFAULT_GRID_TOLERANCE, coarse_points, grid_estimate  # noqa: PLC0415
    from ..physics.materials import ALGAAS  # noqa: PLC0415
    from ..validation import InfeasibleError  # noqa: PLC0415
    from .io import InputError, StagedOutputs, json_text  # noqa: PLC0415
    from .stack_io import model_to_dict, read_stack_json  # noqa: PLC0415

    if not args.init:
        raise InputError("--model stack --spec needs --init STACK.json: the starting layer stack (docs/cli.md)")
    if args.self_consistent:
        raise InputError("--spec designs a layer stack without self-consistency; fit a --target J-V for "
                         "--self-consistent")
    formats = check_outputs({"--out": args.out, "--plot": args.plot}, [args.spec, args.init])
    spec = read_stack_spec(args.spec)
    f = read_stack_json(args.init)
    temperature = args.temperature if args.temperature is not None else (f.temperature_K or 300.0)
    start = f.params(temperature)
    biases = np.asarray(spec.biases_V)
    model, refine = choose_grid(f.model, start, temperature, args.points)
    tolerance = args.grid_tolerance or DEFAULT_GRID_TOLERANCE
    check_stack_work(args.init, model, start, biases, temperature, False)
    if refine:
        model = dataclasses.replace(model, n_points=stack_curve_estimate(model, start, biases, temperature,
                                                                         tolerance, True).n_points)
    try:
        res, report = design_to_spec(model, spec, start, stack_observable(temperature), FitConfig(**STACK_SPEC_FIT),
                                     progress=progress_option(args.quiet))
    except InfeasibleError as err:
        raise InputError(f"{args.init}: {err}") from None
    params = res.params
    currents = _curve(model, params, biases, temperature)
    coarse = _curve(dataclasses.replace(model, n_points=coarse_points(model.n_points)), params, biases, temperature)
    est = grid_estimate(currents, coarse, model.n_points, tolerance, peak_scale(biases))
    length = float(params.stack.length_nm)
    report = stack_spec_report(report, biases, currents)
    doc = {
        "params": params.to_dict(),
        "model": model_to_dict(model),
        "materials": model.materials.to_dict() if model.materials is not ALGAAS else None,
        "temperature_K": temperature,
        "spec": {"file": args.spec, "sha256": sha256(args.spec),
                 "targets": {_to_stack_words(k): v for k, v in spec.targets},
                 "weights": {_to_stack_words(k): v for k, v in spec.weights}, "temperature": spec.temperature},
        "figures_of_merit": report,
        "grid": grid_record(est, length, refine),
        "fit": {"iterations": int(np.size(res.loss_history)), "best_loss": float(np.nanmin(res.loss_history)),
                "seconds": round(float(res.seconds), 3), "converged": not res.stopped,
                "stopped": res.stopped or None, "last_failure": res.failure or None},
        "initial_params": start.to_dict(),
        "currents": {"bias_V": [float(v) for v in biases], "fitted_Acm2": [float(v) for v in currents]},
        "command": " ".join([PROG, *argv]),
        "version": __version__,
    }
    with StagedOutputs() as out:
        out.stage_text(args.out, json_text(doc))
        if args.plot:
            stage_plot(out, args.plot, formats["--plot"], biases=biases, currents=currents, model=model, params=params,
                       currents_label=f"designed, {temperature:g} K", initial_params=start,
                       title=f"{os.path.basename(args.spec)}: spec design at {temperature:g} K")
        written = out.commit()
    if not args.quiet:
        lines = [f"  {k}: target {v['target']:.4g}, achieved {v['achieved']:.4g} ({100 * v['relative_error']:+.2f} %)"
                 for k, v in report.items() if k != "first_ndr"]
        ndr = report["first_ndr"]
        print(f"{PROG} design: layer stack at {temperature:g} K to the figures of merit of {args.spec} "
              f"({doc['fit']['seconds']:.1f} s)", *lines,
              f"  first peak {ndr['peak']:.4g} A/cm² at {ndr['peak_bias_V']:g} V, peak-to-valley ratio {ndr['pvr']:.3g}",
              *_stack_lines(params), grid_line(est, length, refine), f"  wrote {', '.join(written)}", sep="\n")
    if res.stopped:
        return not_converged_status(f"{res.stopped} ({res.failure})" if res.failure else res.stopped, written)
    return 0
