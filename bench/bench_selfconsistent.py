#!/usr/bin/env python
"""Benchmark of the self-consistent Schrödinger–Poisson RTD (physics.md §11).

    python bench/bench_selfconsistent.py [--points 300] [--biases 25] [--repeats 3] [--json out.json]

Device: a realistic GaAs/Al₀.₃Ga₀.₇As double-barrier RTD — 2e18 cm⁻³ GaAs contacts (30 nm),
undoped 5 nm spacers, 3 nm barriers, a 5 nm well; N grid points (default 300), 300 K.

Measures, after compilation (compile times are reported separately):
  * forward: self-consistent J(V) at K biases (default 25, 0–0.5 V), continued in bias,
    up and down (bistability check); fixed-point iterations per bias;
  * where the forward time goes: one density evaluation (both contacts, all energies),
    one predictor (nonlinear Poisson by Newton), one full iteration, Python overhead;
  * gradient: d/dθ of the I–V loss mean((J − J*)²)/J_peak² over the sweep, θ the stack's
    thicknesses, Al fractions and doping, by the implicit function theorem; ratio to
    the forward sweep.

Times are wall-clock medians over ``--repeats`` runs and CPU (process) times; the CPU is
shared with other jobs, so compare ratios within one run.
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

import diffsim_jax  # noqa: F401  (float64)
from diffsim_jax.models import selfconsistent as sc
from diffsim_jax.physics.density import density_on_grid
from diffsim_jax.physics.layers import Layer, Stack


def realistic_rtd() -> Stack:
    """2e18 contacts, 5 nm spacers, Al0.3 3 nm barriers, 5 nm well (73 + 8 nm... L = 81 nm)."""
    return Stack(
        [
            Layer(30.0, 0.0, 2e18),
            Layer(5.0),
            Layer(3.0, 0.3),
            Layer(5.0),
            Layer(3.0, 0.3),
            Layer(5.0),
            Layer(30.0, 0.0, 2e18),
        ]
    )


def timed(fn, *args):
    """(result, wall s, cpu s)."""
    w, c = time.perf_counter(), time.process_time()
    out = fn(*args)
    jax.block_until_ready(jax.tree_util.tree_leaves(out))
    return out, time.perf_counter() - w, time.process_time() - c


def micro(fn, *args, repeats=20):
    """Median wall time of a jitted call after warm-up."""
    jax.block_until_ready(fn(*args))
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=300)
    ap.add_argument("--biases", type=int, default=25)
    ap.add_argument("--vmax", type=float, default=0.5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)

    stack = realistic_rtd()
    cfg = sc.SolverConfig(n_points=args.points)
    biases = np.linspace(0.0, args.vmax, args.biases)
    out: dict = {"n_points": args.points, "n_biases": args.biases, "vmax": args.vmax, "devices": str(jax.devices())}

    # ---- compilation (first sweep of 3 biases + one gradient)
    _, w, _ = timed(lambda: sc.self_consistent_iv(stack, biases[:3], config=cfg, direction="up", progress=False))
    out["compile_forward_s"] = w

    # ---- forward sweeps
    walls, cpus, res = [], [], None
    for _ in range(args.repeats):
        res, w, c = timed(lambda: sc.self_consistent_iv(stack, biases, config=cfg, direction="up", progress=False))
        walls.append(w)
        cpus.append(c)
    out["forward_up_wall_s"] = float(np.median(walls))
    out["forward_up_cpu_s"] = float(np.median(cpus))
    out["iterations_up"] = res.iterations_up.tolist()
    both, w, c = timed(lambda: sc.self_consistent_iv(stack, biases, config=cfg, direction="both", progress=False))
    out["forward_up_and_down_wall_s"] = w
    out["iterations_down"] = both.iterations_down.tolist()
    out["current_up_Acm2"] = np.asarray(both.current_up).tolist()
    out["current_down_Acm2"] = np.asarray(both.current_down).tolist()
    out["bistable_biases"] = biases[both.bistable].tolist()
    out["max_residual_eV"] = max(s.residual_eV for s in both.solutions_up + both.solutions_down)
    out["max_quadrature_error"] = max(s.quadrature_error for s in both.solutions_up + both.solutions_down)

    # ---- where the time goes (at the peak)
    j_up = np.asarray(both.current_up)
    drops = np.nonzero(np.diff(j_up) < 0)[0]
    k_peak = int(drops[0]) if drops.size else int(np.argmax(j_up))  # first maximum (NDR peak)
    sol = both.solutions_up[k_peak]
    p = sc.point_inputs(stack, biases[k_peak], 300.0, cfg)
    dcfg = cfg.density
    dens = jax.jit(lambda u, g: density_on_grid(u, p.m_eff, p.length_nm, p.mu_left, p.mu_right, p.kT, p.emitter_mask, g, dcfg))
    t_dens = micro(dens, sol.potential_eV, sol.grid)
    n_nm3 = dens(sol.potential_eV, sol.grid).density_nm3
    pred = jax.jit(lambda u, n: sc.predictor(u, n, p, cfg.newton_steps))
    t_pred = micro(pred, sol.potential_eV, n_nm3)
    one_iter = jax.jit(lambda u, g: sc.solve_point(p, u, g, sc.SolverConfig(n_points=args.points, max_iterations=1)))
    t_iter = micro(one_iter, sol.potential_eV, sol.grid)
    t_point = micro(lambda u, g: sc.solve_point(p, u, g, cfg), both.solutions_up[k_peak - 1].potential_eV, sol.grid, repeats=5)
    out["peak_bias_V"] = float(biases[k_peak])
    out["peak_current_Acm2"] = float(j_up[k_peak])
    out["valley_current_Acm2"] = float(np.min(j_up[k_peak:]))
    out["density_eval_ms"] = 1e3 * t_dens
    out["predictor_ms"] = 1e3 * t_pred
    out["one_iteration_ms"] = 1e3 * t_iter
    out["solve_point_from_previous_bias_ms"] = 1e3 * t_point
    out["python_overhead_per_bias_ms"] = 1e3 * (out["forward_up_wall_s"] / args.biases) - 1e3 * t_iter * float(
        np.mean(res.iterations_up)
    )

    # ---- gradient of an I–V loss over the sweep (implicit function theorem)
    target = np.asarray(res.current_up) * (1.0 + 0.1 * np.sin(np.linspace(0, 3, args.biases)))
    scale = float(np.max(np.abs(target)))

    def loss(st):
        r = sc.self_consistent_iv(st, biases, config=cfg, direction="up", progress=False)
        return jnp.mean((r.current_up - target) ** 2) / scale**2

    _, w, _ = timed(lambda: jax.grad(loss)(stack))
    out["compile_gradient_s"] = w
    walls, cpus, grad = [], [], None
    for _ in range(args.repeats):
        grad, w, c = timed(lambda: jax.value_and_grad(loss)(stack))
        walls.append(w)
        cpus.append(c)
    out["forward_plus_gradient_wall_s"] = float(np.median(walls))
    out["forward_plus_gradient_cpu_s"] = float(np.median(cpus))
    out["gradient_over_forward_wall"] = out["forward_plus_gradient_wall_s"] / out["forward_up_wall_s"]
    out["gradient_over_forward_cpu"] = out["forward_plus_gradient_cpu_s"] / out["forward_up_cpu_s"]
    out["grad_thickness"] = np.asarray(grad[1].thickness_nm).tolist()

    for k, v in out.items():
        if isinstance(v, float):
            print(f"{k:40s} {v:.4g}")
        elif isinstance(v, list) and len(v) > 8:
            print(f"{k:40s} {np.array2string(np.asarray(v), precision=3, max_line_width=200)}")
        else:
            print(f"{k:40s} {v}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1)
    return out


if __name__ == "__main__":
    main()
