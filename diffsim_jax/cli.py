"""``qtbm``: design a double-barrier RTD from I–V data on the command line.

    qtbm design   --target iv.csv [--init params.json] [--iterations N] [--seed S]
                  [--jitter J] [--out result.json] [--plot result.png] [--quiet]
                  [--model box|stack] [--temperature K]
    qtbm simulate --params result.json [--biases 0:0.6:25] [--csv out.csv] [--plot out.png]
                  [--quiet] [--model box|stack] [--temperature K]

Also ``python -m diffsim_jax …``. Exit status: 0 on success, 2 on bad input (usage, an
unreadable or invalid file, an output that cannot be written) with one line on stderr
naming the file and the row or field, 130 when interrupted. A failed run writes nothing.
The formats are documented in ``docs/cli.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys

import numpy as np

PROG = "qtbm"
DEFAULT_BIASES = "0:0.6:25"
DEFAULT_START = (
    "the paper's original RTD: two 0.3 eV high, 2 nm wide barriers centred at 7.4 nm and 12.6 nm, "
    "Fermi level 0.1 eV"
)
LOSS_SAMPLES = 40


# --------------------------------------------------------------------------------------
# Argument types
# --------------------------------------------------------------------------------------
def int_at_least(minimum: int):
    """An argparse type: an integer >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}")
        return value

    return parse


def nonnegative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value


def bias_list(text: str) -> np.ndarray:
    """``START:STOP:N`` (N equally spaced biases, both ends included) or ``V1,V2,…``, in V."""
    try:
        if ":" in text:
            start, stop, count = text.split(":")
            start, stop, n = float(start), float(stop), int(count)
            if n < 1:
                raise ValueError
            biases = np.round(np.linspace(start, stop, n), 12)  # 0.1, not 0.09999999999999999
        else:
            biases = np.array([float(v) for v in text.split(",")])
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected START:STOP:N (e.g. {DEFAULT_BIASES}) or a comma-separated list of biases in V, got {text!r}"
        ) from None
    if not np.all(np.isfinite(biases)) or np.any(biases < 0):
        raise argparse.ArgumentTypeError(f"biases must be finite and >= 0 V, got {text!r}")
    if np.any(np.diff(biases) <= 0):
        raise argparse.ArgumentTypeError(f"biases must increase without repeats, got {text!r}")
    return biases


# --------------------------------------------------------------------------------------
# Parser
# --------------------------------------------------------------------------------------
def add_command(sub, name: str, func, summary: str, description: str, example: str) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        name,
        help=summary,
        description=description,
        epilog=f"example:\n  {example}\n\n"
        "Exit status 2 with one line on stderr for bad input; nothing is written then.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(func=func)
    return parser


def add_plot_option(parser: argparse.ArgumentParser, curves: str) -> None:
    parser.add_argument(
        "--plot", metavar="IMAGE",
        help=f"also write a figure: {curves} in µA vs V, and the potential profile in eV vs nm; "
        "format from the extension (.png, .pdf, .svg)",
    )


MODELS = ("box", "stack", "freeform")


def temperature(text: str) -> float:
    """An argparse type: a temperature in K, finite and >= 0."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"expected a temperature in K (a finite number >= 0), got {text!r}")
    return value


def add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", choices=MODELS, default="box",
        help="device model: 'box' = the paper's smooth boxes, 0 K current in µA (CSV column current_uA); "
        "'stack' = an AlGaAs/GaAs layer stack (JSON with a 'layers' list, docs/cli.md), Tsu-Esaki current "
        "density in A/cm² (CSV column current_density_Acm2) at --temperature; 'freeform' = a network potential "
        "on the paper's device (design --spec only); default %(default)s",
    )
    parser.add_argument(
        "--self-consistent", action="store_true",
        help="--model stack only: Schrödinger-Poisson self-consistent charge (physics.md §11); the emitter Fermi "
        "level follows from its doping; simulate sweeps the bias up and down and reports bistability",
    )
    parser.add_argument(
        "--temperature", type=temperature, default=None, metavar="K",
        help="temperature in K for --model stack (0 = the exact 0 K limit); default: a design result's "
        "temperature, otherwise 300",
    )


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Design the barriers (or, with --model stack, the AlGaAs/GaAs layers) and Fermi level\n"
            "of a resonant-tunnelling diode that produce a measured or wanted I-V curve, and\n"
            "simulate designs. Units: bias in V, current in µA (box model) or current density in\n"
            "A/cm² (stack model), energies in eV, lengths in nm, temperature in K."
        ),
        epilog="Run 'qtbm COMMAND --help' for the options of each command. Formats: docs/cli.md.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s (diffsim_jax) {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    d = add_command(
        sub, "design", cmd_design,
        "fit barrier heights (eV), centres (nm), widths (nm) and Fermi level (eV) to I-V data",
        (
            "Fit the barriers and Fermi level of the device to I-V data by gradient descent\n"
            "(AdaBelief through the differentiable simulator), starting from --init.\n\n"
            "TARGET CSV: a header line 'bias_V,current_uA', then one row per bias: bias in V\n"
            "(>= 0, strictly increasing), current in µA; at least 3 rows, not all currents 0.\n"
            "Blank lines and lines starting with '#' are ignored."
        ),
        "qtbm design --target iv.csv --out result.json --plot result.png",
    )
    d.add_argument(
        "--target", metavar="CSV",
        help="I-V data to fit: CSV with columns bias_V (V) and current_uA (µA) "
        "(current_density_Acm2 in A/cm² with --model stack); give --target or --spec",
    )
    d.add_argument(
        "--spec", metavar="JSON",
        help="design from figures of merit instead of a curve: JSON with targets peak_bias_V (V), "
        "peak_current_uA (µA), peak_to_valley_ratio, mean_power_uW (µW), any subset, optional weights and "
        "biases_V (docs/cli.md); --model box or freeform",
    )
    d.add_argument(
        "--init", metavar="JSON",
        help="starting design: JSON with heights_eV (eV), centers_nm (nm), widths_nm (nm), fermi_level_eV "
        "(eV), or a previous 'qtbm design' result; an optional 'config' block sets the device "
        f"(DeviceConfig fields). Default: {DEFAULT_START}",
    )
    d.add_argument(
        "--iterations", type=int_at_least(1), default=1000, metavar="N",
        help="optimiser (AdaBelief) steps; 1000 steps on 25 biases take about 10 s including compilation; "
        "default %(default)s",
    )
    d.add_argument(
        "--seed", type=int_at_least(0), default=0, metavar="S",
        help="random seed, recorded in the result; it only matters with --jitter > 0 "
        "(the fit itself is deterministic); default %(default)s",
    )
    d.add_argument(
        "--jitter", type=nonnegative_float, default=0.0, metavar="J",
        help="perturb the start before fitting by normal noise of standard deviation J in the optimiser's "
        "normalised coordinates (seeded by --seed): heights by J*0.1 eV, centres by J*1 nm, log-widths by "
        "J/2, the Fermi level's logit by J; default 0: start exactly at --init",
    )
    d.add_argument(
        "--out", default="result.json", metavar="JSON",
        help="where to write the design result (JSON); default %(default)s",
    )
    add_plot_option(d, "target and fitted I-V")
    add_model_options(d)
    d.add_argument("--quiet", action="store_true", help="no progress bar and no summary on stdout")

    s = add_command(
        sub, "simulate", cmd_simulate,
        "compute the I-V curve (µA vs V) of a design",
        (
            "Compute the 0 K current (µA) of a design at each bias (V). Without --csv the I-V\n"
            "is printed on stdout as CSV (bias_V,current_uA), the format 'design' reads."
        ),
        "qtbm simulate --params result.json --biases 0:0.6:25 --csv iv.csv --plot iv.png",
    )
    s.add_argument(
        "--params", required=True, metavar="JSON",
        help="the design: a 'qtbm design' result (its params and config blocks are used), or JSON with "
        "heights_eV (eV), centers_nm (nm), widths_nm (nm), fermi_level_eV (eV) and an optional config block",
    )
    s.add_argument(
        "--biases", type=bias_list, metavar="SPEC",
        help="biases in V: START:STOP:N for N equally spaced biases from START to STOP V inclusive, "
        "or a list V1,V2,... (default: the biases of a design result, otherwise "
        f"{DEFAULT_BIASES})",
    )
    s.add_argument("--csv", metavar="CSV", help="write the I-V here (bias_V in V, current_uA in µA) instead of stdout")
    add_plot_option(s, "the I-V (with the design target, if the file has one)")
    add_model_options(s)
    s.add_argument("--quiet", action="store_true", help="no summary on stdout (the CSV is still printed without --csv)")
    return parser


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------
def _same_file(a: str, b: str) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def check_outputs(outputs: dict[str, str | None], inputs: list[str]) -> dict[str, str]:
    """Validate output paths before any work: writable location, distinct, not an input.

    ``outputs`` maps an option name ("--out") to its path (``None`` = not requested).
    Returns option → image format for the paths of "--plot".
    """
    from .io import InputError, check_output_path

    given = [(opt, path) for opt, path in outputs.items() if path]
    formats = {}
    for k, (opt, path) in enumerate(given):
        check_output_path(path, opt)
        for src in inputs:
            if src and _same_file(path, src):
                raise InputError(f"{opt} {path}: would overwrite the input file {src}")
        for other, other_path in given[:k]:
            if _same_file(path, other_path):
                raise InputError(f"{opt} {path}: same file as {other}")
        if opt == "--plot":
            from .cli_plot import supported_formats

            fmt = os.path.splitext(path)[1].lstrip(".").lower()
            if fmt not in supported_formats():
                raise InputError(f"{opt} {path}: unknown image format {fmt!r}; use a .png, .pdf or .svg name")
            formats[opt] = fmt
    return formats


def jittered_start(p0, cfg, design_config, jitter: float, seed: int):
    """``p0`` moved by ``jitter`` standard deviations in the optimiser's normalised coordinates.

    Uses :class:`diffsim_jax.design.Normalization` (heights by jitter·Δh, centres by
    jitter·Δc, widths by exp(jitter·N(0,1)/2), the Fermi level's logit by jitter·N(0,1)),
    so widths stay > 0 and the Fermi level inside the tabulated window. ``jitter = 0``
    returns ``p0`` unchanged.
    """
    if jitter == 0:
        return p0
    import jax

    from .design import Normalization

    rng = np.random.default_rng(seed)
    norm = Normalization(p0, cfg.energy_window_eV[1], design_config.height_scale_eV, design_config.center_scale_nm)
    z = jax.tree_util.tree_map(lambda leaf: jitter * rng.standard_normal(np.shape(leaf)), norm.zeros())
    return jax.tree_util.tree_map(np.asarray, norm.to_physical(z))


def _finite(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def loss_summary(history: np.ndarray, n_samples: int = LOSS_SAMPLES) -> dict:
    """First, minimum and last loss and about ``n_samples`` (iteration, loss) pairs, log-spaced."""
    n = history.size
    finite = np.isfinite(history)
    idx = np.unique(np.round(np.geomspace(1, n, min(n, n_samples))).astype(int) - 1)
    return {
        "first": _finite(history[0]),
        "min": _finite(np.min(history[finite])) if finite.any() else None,
        "min_iteration": int(np.argmin(np.where(finite, history, np.inf))),
        "last": _finite(history[-1]),
        "non_finite_steps": int(np.sum(~finite)),
        "samples": [[int(i), _finite(history[i])] for i in idx],
    }


def iv_figures_of_merit(biases, currents) -> dict:
    from .metrics import mean_power_uW, peak_to_valley_ratio

    i = np.asarray(currents, float)
    k = int(np.argmax(i))
    return {
        "peak_uA": float(i[k]),
        "peak_bias_V": float(np.asarray(biases)[k]),
        "peak_to_valley_ratio": peak_to_valley_ratio(biases, i),
        "mean_power_uW": mean_power_uW(biases, i),
    }


def _sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _params_lines(params) -> list[str]:
    d = params.to_dict()
    lines = [
        f"  barrier {j + 1}: height {h:.4f} eV, centre {c:.3f} nm, width {w:.3f} nm"
        for j, (h, c, w) in enumerate(zip(d["heights_eV"], d["centers_nm"], d["widths_nm"]))
    ]
    return lines + [f"  Fermi level {d['fermi_level_eV']:.4f} eV"]


def _stage_plot(out, path, fmt, **kwargs) -> None:
    from .cli_plot import plot_iv_and_potential

    out.stage(path, lambda f: plot_iv_and_potential(f, fmt, **kwargs))


# --------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------
def design_document(result, data, args, start, target_sha256: str, argv: list[str]) -> dict:
    """The JSON result of ``qtbm design`` (documented in docs/cli.md)."""
    import dataclasses

    from . import __version__

    return {
        "params": result.params.to_dict(),
        "fit": {
            "rms_percent_of_peak": result.rms_percent_of_peak,
            "max_abs_error_uA": float(np.max(np.abs(result.currents - result.target_currents))),
            "iterations": int(result.loss_history.size),
            "best_iteration": int(result.best_iteration),
            "best_loss": _finite(result.loss_history[result.best_iteration]),
            "final_loss": _finite(result.loss_history[-1]),
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


def cmd_design(args, argv: list[str]) -> int:
    if (args.target is None) == (args.spec is None):
        raise ValueError("design needs exactly one of --target CSV (a curve to fit) and --spec JSON (figures of merit)")
    if args.spec is not None:
        from .cli_spec import cmd_design_spec

        return cmd_design_spec(args, argv)
    if args.model == "freeform":
        raise ValueError("--model freeform designs from a --spec only (docs/cli.md)")
    if args.self_consistent and args.model != "stack":
        raise ValueError("--self-consistent needs --model stack (a layer stack with doped contacts)")
    if args.model == "stack":
        from .cli_stack import cmd_design_stack

        return cmd_design_stack(args, argv)
    if args.temperature is not None:
        raise ValueError("--temperature needs --model stack (the paper's box model is a 0 K model)")
    from .design import DesignConfig, design
    from .device import DeviceConfig, default_params
    from .io import StagedOutputs, json_text, read_iv_csv, read_params_json

    formats = check_outputs({"--out": args.out, "--plot": args.plot}, [args.target, args.init])
    data = read_iv_csv(args.target)
    target_sha256 = _sha256(args.target)
    if args.init:
        init = read_params_json(args.init)
        p0, cfg = init.params, init.config
    else:
        p0, cfg = default_params(), DeviceConfig()
    dcfg = DesignConfig(iterations=args.iterations)
    start = jittered_start(p0, cfg, dcfg, args.jitter, args.seed)
    result = design(
        data.biases, data.currents, start, cfg, args.iterations, design_config=dcfg, progress=not args.quiet
    )
    doc = design_document(result, data, args, start, target_sha256, argv)
    with StagedOutputs() as out:
        out.stage_text(args.out, json_text(doc))
        if args.plot:
            _stage_plot(
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
            *_params_lines(result.params),
            f"  wrote {', '.join(written)}",
            sep="\n",
        )
    return 0


def cmd_simulate(args, argv: list[str]) -> int:
    if args.model == "freeform":
        raise ValueError("simulate supports --model box and stack; a free-form design is simulated in Python "
                         "(diffsim_jax.freeform.model_iv_curve)")
    if args.self_consistent and args.model != "stack":
        raise ValueError("--self-consistent needs --model stack (a layer stack with doped contacts)")
    if args.model == "stack":
        from .cli_stack import cmd_simulate_stack

        return cmd_simulate_stack(args, argv)
    if args.temperature is not None:
        raise ValueError("--temperature needs --model stack (the paper's box model is a 0 K model)")
    from .current import iv_curve
    from .io import StagedOutputs, iv_csv_text, read_params_json

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
            _stage_plot(
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


def _error(message: str) -> int:
    print(f"{PROG}: error: {' '.join(str(message).split())}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    """Run ``qtbm`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors (status 2)
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return args.func(args, argv)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; no output written", file=sys.stderr)
        return 130
    except (ValueError, json.JSONDecodeError) as err:  # InputError and the library's argument checks
        return _error(str(err))
    except OSError as err:
        where = f"{err.filename}: " if err.filename else ""
        return _error(f"{where}{err.strerror or err}")


if __name__ == "__main__":
    sys.exit(main())
