"""``qtbm simulate --model stack --discretisation fem``: J(V) on finite elements (docs/cli.md, physics.md §14).

The stack's interfaces are element ends, so the band offsets, masses (and, self-consistently,
permittivities and dopings) are abrupt — the grown device — with no smoothing width. The
current is solved at degree p = 3 and p = 4 on the graded mesh of physics.md eq. 14.8
(:class:`~diffsim_jax.models.stack_fem.StackFemModel`; with ``--self-consistent`` the sweep of
:func:`~diffsim_jax.models.selfconsistent.self_consistent_iv` with a
:class:`~diffsim_jax.models.selfconsistent_fem.FemSolverConfig`, physics.md §14.11): the p = 4
result is written and max|J₃ − J₄| (relative to the first peak) is reported as its error
estimate — an upper bound, since p = 4 converges faster than p = 3 (physics.md §14.5) — against
``--grid-tolerance``. The same validation, outputs and exit statuses as the finite-difference path
(:mod:`.stack`).
"""

from __future__ import annotations

import sys

import numpy as np

#: Element degrees of the estimate: the result (last) and the coarser comparison (first).
ORDERS = (3, 4)
UNSUPPORTED = {"points": "--points", "plot": "--plot", "save_profiles": "--save-profiles",
               "profile_biases": "--profile-biases"}


def fem_currents(f, params, biases, temperature_K: float, self_consistent: bool, order: int, progress):
    """(J up in A/cm² (K,), J down or None, the sweep or None, unknowns) at degree ``order``."""
    from ..models.selfconsistent import FemSolverConfig, self_consistent_iv  # noqa: PLC0415
    from ..models.stack_fem import StackFemModel, current_density_curve_fem  # noqa: PLC0415

    if self_consistent:
        sweep = self_consistent_iv(f.stack, biases, temperature_K, config=FemSolverConfig(order=order),
                                   fermi_level_eV=f.fermi_level_eV, direction="both", progress=progress,
                                   materials=f.model.materials)
        unknowns = sweep.solutions_up[0].mesh.unknowns(order)
        return np.asarray(sweep.current_up), np.asarray(sweep.current_down), sweep, unknowns
    model = StackFemModel(order=order, materials=f.model.materials, bias_drop=f.model.bias_drop,
                          contact_layers=f.model.contact_layers)
    mesh = model.mesh(params, float(np.max(biases)), temperature_K)
    j = current_density_curve_fem(model, params, biases, temperature_K, mesh=mesh)
    return np.asarray(j), None, None, mesh.unknowns(order)


def cmd_simulate_stack_fem(args, argv: list[str]) -> int:
    from ..design.metrics import ndr_figures  # noqa: PLC0415
    from ..physics.convergence import DEFAULT_GRID_TOLERANCE  # noqa: PLC0415
    from ..validation import InfeasibleError  # noqa: PLC0415
    from .common import PROG, check_outputs, check_stack_work, progress_option  # noqa: PLC0415
    from .io import JV_COLUMNS, InputError, StagedOutputs, iv_csv_text  # noqa: PLC0415
    from .stack import peak_scale, simulate_biases, sweep_note  # noqa: PLC0415
    from .stack_io import read_stack_json  # noqa: PLC0415
    from .stack_profiles import SC_JV_COLUMNS, iv_csv_text_columns  # noqa: PLC0415

    for attr, option in UNSUPPORTED.items():
        if getattr(args, attr, None) is not None:
            raise ValueError(f"{option} is not available with --discretisation fem yet (use --discretisation fd)")
    check_outputs({"--csv": args.csv}, [args.params])
    f = read_stack_json(args.params)
    temperature = args.temperature if args.temperature is not None else (f.temperature_K or 300.0)
    if not temperature > 0:
        raise ValueError("--temperature must be > 0 K with --discretisation fem (the finite-element current has no "
                         "0 K path; use --discretisation fd)")
    params = f.params(temperature)
    biases = simulate_biases(args, f)
    model = f.model if f.model.n_points is not None else f.model.with_grid(params, temperature)
    check_stack_work(args.params, model, params, biases, temperature, args.self_consistent)
    tolerance = args.grid_tolerance or DEFAULT_GRID_TOLERANCE
    results = []
    for order in ORDERS:
        try:
            results.append(fem_currents(f, params, biases, temperature, args.self_consistent, order,
                                        progress_option(args.quiet)))
        except InfeasibleError as err:  # e.g. a contact too short to stay neutral: the file's stack
            raise InputError(f"{args.params}: {err}") from None
    (j_coarse, down_coarse, _, n_coarse), (currents, down, sweep, unknowns) = results
    scale = peak_scale(biases)(currents)
    error = float(np.max(np.abs(currents - j_coarse))) / scale
    if down is not None:
        error = max(error, float(np.max(np.abs(down - down_coarse))) / scale)
    met = error <= tolerance
    if sweep is not None:
        text = iv_csv_text_columns(biases, [currents, down], SC_JV_COLUMNS)
    else:
        text = iv_csv_text(biases, currents, JV_COLUMNS)
    text += (f"# discretisation: fem (abrupt interfaces), order={ORDERS[-1]}, unknowns={unknowns}\n"
             f"# spatial_error: {error:.3g} of the first peak (max over the biases; |J_p{ORDERS[-1]} - J_p{ORDERS[0]}|, "
             f"p{ORDERS[0]}: {n_coarse} unknowns), tolerance {tolerance:g}, met={str(met).lower()}\n")
    fom = ndr_figures(biases, currents)
    bistable_note = sweep_note(biases, sweep.bistable, currents, down) if sweep is not None else ""
    with StagedOutputs() as out:
        if args.csv:
            out.stage_text(args.csv, text)
        written = out.commit()
    line = (f"  mesh: finite elements p = {ORDERS[-1]}, {unknowns} unknowns, abrupt interfaces; spatial error ≤ "
            f"{100 * error:.2g} % of the peak (|J_p{ORDERS[-1]} − J_p{ORDERS[0]}|; tolerance {100 * tolerance:g} %)"
            + ("" if met else " — NOT MET"))
    if not args.csv:
        sys.stdout.write(text)
    elif not args.quiet:
        print(
            f"{PROG} simulate: stack of {params.stack.n_layers} layers at {temperature:g} K on finite elements, "
            f"{biases.size} biases from {biases[0]:g} to {biases[-1]:g} V; first peak {fom['peak']:.4g} A/cm² at "
            f"{fom['peak_bias_V']:g} V, peak-to-valley ratio {fom['pvr']:.3g}"
            + (" (self-consistent" + bistable_note + ")" if args.self_consistent else ""),
            line, f"  wrote {', '.join(written)}", sep="\n",
        )
    if not met and not args.quiet:
        print(f"{PROG}: warning: {line.strip()}", file=sys.stderr)
    return 0
