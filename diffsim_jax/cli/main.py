"""``qtbm``: design and simulate resonant-tunnelling diodes on the command line.

    qtbm design   --target iv.csv [--init params.json] [--iterations N] [--seed S]
                  [--jitter J] [--out result.json] [--plot result.png] [--quiet]
                  [--model box|stack] [--self-consistent] [--temperature K]
    qtbm design   --spec spec.json [--model box|freeform] …
    qtbm simulate --params result.json [--biases 0:0.6:25] [--csv out.csv] [--plot out.png]
                  [--quiet] [--model box|stack] [--self-consistent] [--temperature K]
    qtbm docs     (prints docs/cli.md, the full manual, as installed with the package)

Also ``python -m diffsim_jax …``. Exit status (:data:`EXIT_STATUSES`): 0 success; 2 bad
input (usage, an unreadable or invalid file, a value outside the stated limits, a
computation too large for the memory, an output that cannot be written), one line on
stderr naming the file and the row or field, nothing written; 3 a design that did not
converge (the optimiser gave up), its best-so-far result written and the reason on
stderr; 130 interrupted, nothing written.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys

from .. import validation as val
from .common import (
    DEFAULT_BIASES,
    DEFAULT_START,
    EXIT_BAD_INPUT,
    EXIT_INTERRUPTED,
    EXIT_NOT_CONVERGED,
    PROG,
    bias_list,
    error_status,
    int_at_least,
    nonnegative_float,
)
from .stack import add_stack_options, reject_stack_only_options

#: Exit statuses of ``qtbm`` (also in ``qtbm --help`` and docs/cli.md).
EXIT_STATUSES = {
    0: "success",
    EXIT_BAD_INPUT: "bad input: one line on stderr naming the file and field, nothing written",
    EXIT_NOT_CONVERGED: "did not converge: a design's best-so-far result is written (a simulation writes "
    "nothing), the reason on stderr",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C): nothing written",
}
EXIT_HELP = "exit status:\n" + "\n".join(f"  {k:<3} {v}" for k, v in EXIT_STATUSES.items())


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors in the voice of every other ``qtbm`` error."""

    def error(self, message):
        self.exit(EXIT_BAD_INPUT, f"{PROG}: error: {' '.join(message.split())} (see '{self.prog} --help')\n")


#: A token that is a negative number or bias list ("-0.1", "-.5:0.2:4"), never an option.
NEGATIVE_VALUE = re.compile(r"-[0-9.]")


def join_negative_values(argv: list[str]) -> list[str]:
    """``--biases -0.1:0.2:4`` → ``--biases=-0.1:0.2:4``: argparse would take the value for an
    option and say "expected one argument"; joined, the option's own check explains the value."""
    out: list[str] = []
    for tok in argv:
        if out and NEGATIVE_VALUE.match(tok) and out[-1].startswith("--") and "=" not in out[-1]:
            out[-1] = f"{out[-1]}={tok}"
        else:
            out.append(tok)
    return out


# --------------------------------------------------------------------------------------
# Parser
# --------------------------------------------------------------------------------------
def add_command(sub, name: str, func, summary: str, description: str, example: str) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        name,
        help=summary,
        description=description,
        epilog=f"example{'s' if chr(10) in example else ''}:\n  {example}\n\n{EXIT_HELP}\n"
        "Manual: 'qtbm docs' (docs/cli.md).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(func=func)
    return parser


def add_plot_option(parser: argparse.ArgumentParser, curves: str) -> None:
    parser.add_argument(
        "--plot", metavar="IMAGE",
        help=f"also write a figure: {curves} (µA vs V; A/cm² vs V with --model stack), and the potential "
        "profile in eV vs nm; format from the extension (.png, .pdf, .svg)",
    )


MODELS = ("box", "stack", "freeform")


def temperature(text: str) -> float:
    """An argparse type: a temperature in K inside :data:`diffsim_jax.validation.TEMPERATURE_RANGE_K`."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a temperature in K, got {text!r}") from None
    try:
        return val.check_temperature("temperature", value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


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
    low, high = val.TEMPERATURE_RANGE_K
    parser.add_argument(
        "--temperature", type=temperature, default=None, metavar="K",
        help=f"temperature in K for --model stack, {low:g} to {high:g} (0 = the exact 0 K limit); default: a "
        "design result's temperature, otherwise 300",
    )


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = Parser(
        prog=PROG,
        description=(
            "Design and simulate resonant-tunnelling diodes. Two device models:\n"
            "  --model box    the paper's double barrier (smooth boxes: heights eV, centres nm,\n"
            "                 widths nm, Fermi level eV); 0 K current I in µA.\n"
            "  --model stack  a grown AlGaAs/GaAs layer stack (JSON 'layers': thickness_nm,\n"
            "                 al_fraction, doping_cm3 in cm^-3); Tsu-Esaki current density J in\n"
            "                 A/cm² at --temperature K (default 300), optionally --self-consistent\n"
            "                 (Schrödinger-Poisson charge, up and down sweeps, bistability).\n"
            "'design' fits a model to a measured or wanted I-V (J-V) curve, or (--spec) to figures\n"
            "of merit; 'simulate' computes the curve of a design or stack.\n"
            "Units: bias V, current µA (box) or A/cm² (stack), energy eV, length nm, temperature K.\n"
            f"Limits: temperature {val.TEMPERATURE_RANGE_K[0]:g}-{val.TEMPERATURE_RANGE_K[1]:g} K, layers at most "
            f"{val.MAX_LAYER_THICKNESS_NM:g} nm, at most {val.MAX_BIASES} biases, half the machine's memory."
        ),
        epilog=f"Run 'qtbm COMMAND --help' for the options of each command; 'qtbm docs' prints the manual\n"
        f"(docs/cli.md: formats, examples, limits).\n{EXIT_HELP}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s (diffsim_jax) {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    d = add_command(
        sub, "design", cmd_design,
        "fit a design to I-V data (box: barriers and Fermi level; stack: layer thicknesses and Al fractions)",
        (
            "Fit a design to I-V data by gradient descent (AdaBelief through the differentiable\n"
            "simulator), starting from --init.\n"
            "  --model box (default): barrier heights (eV), centres (nm), widths (nm) and the Fermi\n"
            "    level (eV) of the paper's device, to a 0 K current in µA.\n"
            "  --model stack: the free layer thicknesses (nm), Al fractions and the Fermi level of\n"
            "    the --init stack (required), to a current density in A/cm² at --temperature K;\n"
            "    with --self-consistent through the Schrödinger-Poisson J(V) (E_F from the doping).\n\n"
            "TARGET CSV: a header line 'bias_V,current_uA' ('bias_V,current_density_Acm2' for\n"
            "--model stack), then one row per bias: bias in V (>= 0, strictly increasing), current\n"
            "in µA (A/cm²); at least 3 rows, not all currents 0. Blank lines and lines starting\n"
            "with '#' are ignored."
        ),
        "qtbm design --target iv.csv --out result.json --plot result.png\n"
        "  qtbm design --model stack --init rtd.json --target jv.csv --temperature 77 --out fit.json",
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
        "biases_V (docs/cli.md); --model box or freeform; with --model stack the currents are "
        "peak_current_density_Acm2 (A/cm²) and mean_power_density_Wcm2 (W/cm²), at --temperature",
    )
    d.add_argument(
        "--init", metavar="JSON",
        help="starting design: JSON with heights_eV (eV), centers_nm (nm), widths_nm (nm), fermi_level_eV "
        "(eV), or a previous 'qtbm design' result; an optional 'config' block sets the device "
        f"(DeviceConfig fields). Default: {DEFAULT_START}. With --model stack (required there): a stack JSON "
        "(layers with thickness_nm, al_fraction, doping_cm3) or a stack design result",
    )
    d.add_argument(
        "--iterations", type=int_at_least(1), default=1000, metavar="N",
        help="optimiser (AdaBelief) steps; 1000 steps on 25 biases take about 10 s including compilation "
        "(box model); default %(default)s",
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
    add_stack_options(d, profiles=False)
    d.add_argument("--quiet", action="store_true", help="no progress bar and no summary on stdout")

    s = add_command(
        sub, "simulate", cmd_simulate,
        "compute the I-V curve of a design (box: µA vs V; stack: A/cm² vs V at a temperature)",
        (
            "Compute the curve of a design at each bias (V):\n"
            "  --model box (default): the 0 K current in µA; CSV columns bias_V,current_uA.\n"
            "  --model stack: the Tsu-Esaki current density in A/cm² at --temperature K (default\n"
            "    a design result's temperature, else 300); CSV columns bias_V,current_density_Acm2;\n"
            "    --self-consistent sweeps up and down with Schrödinger-Poisson charge.\n"
            "Without --csv the curve is printed on stdout as CSV, the format 'design' reads."
        ),
        "qtbm simulate --params result.json --biases 0:0.6:25 --csv iv.csv --plot iv.png\n"
        "  qtbm simulate --model stack --params rtd.json --temperature 300 --biases 0:0.4:33 --csv jv.csv",
    )
    s.add_argument(
        "--params", required=True, metavar="JSON",
        help="the design: a 'qtbm design' result (its params and config blocks are used), or JSON with "
        "heights_eV (eV), centers_nm (nm), widths_nm (nm), fermi_level_eV (eV) and an optional config block; "
        "with --model stack a stack JSON (layers: thickness_nm in nm, al_fraction, doping_cm3 in cm^-3) or a "
        "stack design result",
    )
    s.add_argument(
        "--biases", type=bias_list, metavar="SPEC",
        help="biases in V: START:STOP:N for N equally spaced biases from START to STOP V inclusive, "
        f"or a list V1,V2,...; >= 0, increasing, at most {val.MAX_BIASES} (default: the biases of a design "
        f"result, otherwise {DEFAULT_BIASES}, or 0:0.4:33 with --model stack)",
    )
    s.add_argument("--csv", metavar="CSV", help="write the curve here instead of stdout (bias_V in V, current_uA "
                   "in µA; current_density_Acm2 in A/cm² with --model stack)")
    add_plot_option(s, "the I-V (with the design target, if the file has one)")
    add_model_options(s)
    add_stack_options(s, profiles=True)
    s.add_argument("--quiet", action="store_true", help="no summary on stdout (the CSV is still printed without --csv)")

    doc = add_command(sub, "docs", cmd_docs, "print the manual (docs/cli.md, installed with the package)",
                      "Print the manual of qtbm (docs/cli.md): commands, file formats, limits, examples.",
                      "qtbm docs | less")
    doc.add_argument("--path", action="store_true", help="print where the installed manual is instead")
    return parser


# --------------------------------------------------------------------------------------
# Dispatch (each command family is imported only when it runs: ``qtbm --help`` stays fast)
# --------------------------------------------------------------------------------------
def cmd_design(args, argv: list[str]) -> int:
    if (args.target is None) == (args.spec is None):
        raise ValueError("design needs exactly one of --target CSV (a curve to fit) and --spec JSON (figures of merit)")
    if args.model != "stack":
        reject_stack_only_options(args)
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
    if args.model != "stack":
        reject_stack_only_options(args)
    if args.model == "freeform":
        raise ValueError("simulate supports --model box and stack; a free-form design is simulated in Python "
                         "(diffsim_jax.model_iv_curve)")
    if args.self_consistent and args.model != "stack":
        raise ValueError("--self-consistent needs --model stack (a layer stack with doped contacts)")
    if args.model == "stack":
        if args.discretisation == "fem":  # finite elements, abrupt interfaces (physics.md §14)
            from .stack_fem import cmd_simulate_stack_fem

            return cmd_simulate_stack_fem(args, argv)
        from .stack import cmd_simulate_stack

        return cmd_simulate_stack(args, argv)
    if args.temperature is not None:
        raise ValueError("--temperature needs --model stack (the paper's box model is a 0 K model)")
    from .box import cmd_simulate_box

    return cmd_simulate_box(args, argv)


def manual_path() -> str:
    """The installed manual: ``diffsim_jax/cli/cli.md`` (package data, a link to docs/cli.md in a
    checkout), else docs/cli.md beside the package (a source tree without the link)."""
    candidates = [os.path.join(os.path.dirname(os.path.abspath(__file__)), "cli.md"),
                  os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "cli.md")]
    for path in candidates:
        if os.path.isfile(path):
            return os.path.normpath(path)
    raise OSError(f"the manual is not installed (looked for {', '.join(map(os.path.normpath, candidates))}); "
                  "it is docs/cli.md in the source repository")


def cmd_docs(args, argv: list[str]) -> int:
    path = manual_path()
    if args.path:
        print(path)
    else:
        with open(path, encoding="utf-8") as f:
            sys.stdout.write(f.read())
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run ``qtbm`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status (:data:`EXIT_STATUSES`)."""
    argv = join_negative_values(list(sys.argv[1:] if argv is None else argv))
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors (status 2)
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT
    try:
        return args.func(args, argv)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; no output written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except val.NotConvergedError as err:  # a solver (not the input) failed: nothing was written
        print(f"{PROG}: did not converge: {' '.join(str(err).split())}; no output written", file=sys.stderr)
        return EXIT_NOT_CONVERGED
    except (ValueError, json.JSONDecodeError) as err:  # InputError and the library's argument checks
        return error_status(str(err))
    except OSError as err:
        where = f"{err.filename}: " if err.filename else ""
        return error_status(f"{where}{err.strerror or err}")


if __name__ == "__main__":
    sys.exit(main())
