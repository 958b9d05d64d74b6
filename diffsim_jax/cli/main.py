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
import json
import math
import sys


from .common import DEFAULT_BIASES, DEFAULT_START, PROG, bias_list, error_status, int_at_least, nonnegative_float


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
    from .. import __version__

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
# Dispatch (each command family is imported only when it runs: ``qtbm --help`` stays fast)
# --------------------------------------------------------------------------------------
def cmd_design(args, argv: list[str]) -> int:
    if (args.target is None) == (args.spec is None):
        raise ValueError("design needs exactly one of --target CSV (a curve to fit) and --spec JSON (figures of merit)")
    if args.spec is not None:
        from .spec import cmd_design_spec

        return cmd_design_spec(args, argv)
    if args.model == "freeform":
        raise ValueError("--model freeform designs from a --spec only (docs/cli.md)")
    if args.self_consistent and args.model != "stack":
        raise ValueError("--self-consistent needs --model stack (a layer stack with doped contacts)")
    if args.model == "stack":
        from .stack import cmd_design_stack

        return cmd_design_stack(args, argv)
    if args.temperature is not None:
        raise ValueError("--temperature needs --model stack (the paper's box model is a 0 K model)")
    from .box import cmd_design_box

    return cmd_design_box(args, argv)


def cmd_simulate(args, argv: list[str]) -> int:
    if args.model == "freeform":
        raise ValueError("simulate supports --model box and stack; a free-form design is simulated in Python "
                         "(diffsim_jax.model_iv_curve)")
    if args.self_consistent and args.model != "stack":
        raise ValueError("--self-consistent needs --model stack (a layer stack with doped contacts)")
    if args.model == "stack":
        from .stack import cmd_simulate_stack

        return cmd_simulate_stack(args, argv)
    if args.temperature is not None:
        raise ValueError("--temperature needs --model stack (the paper's box model is a 0 K model)")
    from .box import cmd_simulate_box

    return cmd_simulate_box(args, argv)


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
        return error_status(str(err))
    except OSError as err:
        where = f"{err.filename}: " if err.filename else ""
        return error_status(f"{where}{err.strerror or err}")


if __name__ == "__main__":
    sys.exit(main())
