#!/usr/bin/env python
"""Finite elements vs finite differences at equal accuracy (physics.md §14, §3; issue #17).

    PYTHONPATH=. python bench/bench_fem.py [--quick] [--repeats R] [--json out.json] [--only sech2|rtd] [--rtd-tol T]

Problem: the Pöschl–Teller barrier U₀/cosh²(α(x − L/2)), U₀ = 0.25 eV, α = 0.6 nm⁻¹,
L = 60 nm, m* = 0.067, at 16 energies 0.05 … 0.35 eV, against its closed-form T
(physics.md §3.4). For each target max|T − T_exact| (1e-6, 1e-8, 1e-10; --quick: 1e-4):

  * finite differences (physics.md §3): the smallest N that meets it (N from the measured
    a² error constant, then checked and increased by 1 % until met); none is tried beyond
    N_MAX_FD (the a² law then says how many points it would need);
  * finite elements of degree p (p = 3 for every target, p = 4 too; physics.md §14): the
    smallest number of elements of the graded mesh (eq. 14.8 with a fixed count) that meets
    it, found by bisection on the count.

Unknowns: N for FD, n_elements·p + 1 for FEM (before condensation; the recurrence itself
runs over n_elements + 1 end values). Wall time: the jitted solver for all 16 energies,
medians of interleaved rounds after compilation (the machine is shared: compare the ratios
printed, which come from this one run).

Value + gradient on the Fig. 8 RTD (``rtd``; physics.md §14.3, the derivative of eq. 14.5): J(V) at 300 K
for 25 biases 0 … 0.4 V on the finite-element stack model (p = 3, graded mesh tol = 1e-2, the
mesh on which Fig. 11 finds J within 1e-4 of its converged value; --quick: 5 biases), forward
and value + gradient of Σ J² with respect to the whole StackParams, both jitted, timed in
interleaved rounds in this process. Also printed: the XLA temporary memory of each compiled
program and the page faults per call (a temporary buffer above glibc's 32 MB mmap threshold
is mapped afresh, and faulted in, on every call).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import diffsim_jax  # noqa: E402,F401  (enables float64)
from diffsim_jax.models.stack import StackParams, contact_fermi_level  # noqa: E402
from diffsim_jax.models.stack_fem import StackFemModel, current_density_curve_fem  # noqa: E402
from diffsim_jax.physics import fem  # noqa: E402
from diffsim_jax.physics.layers import Layer, Stack  # noqa: E402
from diffsim_jax.physics.analytic import poschl_teller_transmission  # noqa: E402
from diffsim_jax.physics.qtbm import transmission_many  # noqa: E402

U0, ALPHA, LENGTH, M_EFF = 0.25, 0.6, 60.0, 0.067
ENERGIES = np.linspace(0.05, 0.35, 16)
N_MAX_FD = 40_000
#: The Fig. 8 RTD of Fig. 11 (experiments/fem.py): temperature, largest bias, mesh tolerance.
RTD_TEMPERATURE_K, RTD_MAX_BIAS_V, RTD_TOL = 300.0, 0.4, 1e-2


def barrier(x):
    return U0 / jnp.cosh(ALPHA * (x - LENGTH / 2)) ** 2


def exact_T(e):
    """Closed-form T of the Pöschl–Teller barrier (physics.md §3.4)."""
    return poschl_teller_transmission(e, U0, ALPHA, M_EFF)


EXACT = exact_T(ENERGIES)


def fd_solver(n):
    u = jnp.asarray(barrier(np.linspace(0.0, LENGTH, n)))
    e = jnp.asarray(ENERGIES)
    return lambda: transmission_many(u, e, LENGTH, M_EFF)


def fd_error(n):
    return float(np.max(np.abs(np.asarray(fd_solver(n)()) - EXACT)))


def fd_points_for(target):
    """Smallest N (to 1 %) with FD error ≤ target, from the a² law; None beyond N_MAX_FD (and the law's N)."""
    n0 = 301
    const = fd_error(n0) * (n0 - 1) ** 2  # error ≈ const·a²/L² ∝ 1/(N − 1)²
    n = int(math.ceil(1 + math.sqrt(const / target)))
    if n > N_MAX_FD:
        return None, n
    while fd_error(n) > target:
        n = int(n * 1.01) + 1
    while n > 3 and fd_error(int(n / 1.01)) <= target:
        n = int(n / 1.01)
    return n, n


_fem_jit = jax.jit(fem.transmission_on_mesh, static_argnames="order")


def fem_problem(order, n_elements):
    mesh = fem.graded_mesh(barrier, M_EFF, ENERGIES, LENGTH, (), order, n_elements=n_elements)
    return fem.prepare(barrier, ENERGIES, LENGTH, M_EFF, order, mesh=mesh)


def fem_solver(order, n_elements):
    p = fem_problem(order, n_elements)
    return lambda: _fem_jit(p.nodes, p.u_q, p.c_q, p.leads, p.energies, order=order)


def fem_error(order, n_elements):
    try:
        return float(np.max(np.abs(np.asarray(fem_solver(order, n_elements)()) - EXACT)))
    except ValueError:  # too coarse for the energies (physics.md eq. 14.6)
        return math.inf


def fem_elements_for(order, target):
    """Smallest element count of the graded mesh with error ≤ target (bisection; error falls with n)."""
    hi = 4
    while fem_error(order, hi) > target:
        hi *= 2
        if hi > 20_000:
            return None
    lo = hi // 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fem_error(order, mid) <= target:
            hi = mid
        else:
            lo = mid
    return hi


def median_times(fns, repeats):
    """Interleaved rounds of each callable (already compiled); median seconds per call."""
    for f in fns.values():
        jax.block_until_ready(f())
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, f in fns.items():
            t0 = time.perf_counter()
            jax.block_until_ready(f())
            times[k].append(time.perf_counter() - t0)
    return {k: float(np.median(v)) for k, v in times.items()}


def rtd_params() -> StackParams:
    """The Fig. 8 RTD (30/5/3/5/3/5/30 nm, Al₀.₃Ga₀.₇As barriers, 2e18 cm⁻³ contacts) at 300 K."""
    stack = Stack([Layer(30.0, 0.0, 2e18), Layer(5.0), Layer(3.0, 0.3), Layer(5.0), Layer(3.0, 0.3), Layer(5.0),
                   Layer(30.0, 0.0, 2e18)])
    return StackParams(stack, jnp.asarray(contact_fermi_level(stack, RTD_TEMPERATURE_K)))


def rtd_value_and_grad(n_biases, repeats, tol=RTD_TOL):
    """Forward J(V) and value + gradient of Σ J² w.r.t. StackParams on the FEM stack model, same process."""
    params = rtd_params()
    biases = jnp.asarray(np.linspace(0.0, RTD_MAX_BIAS_V, n_biases))
    model = StackFemModel(order=3, tol=tol)
    mesh = model.mesh(params, RTD_MAX_BIAS_V, RTD_TEMPERATURE_K)

    def curve(p):
        return current_density_curve_fem(model, p, biases, RTD_TEMPERATURE_K, mesh)

    fns = {"forward": jax.jit(curve), "value_and_grad": jax.jit(jax.value_and_grad(lambda p: jnp.sum(curve(p) ** 2)))}
    row = {"biases": n_biases, "tol": tol, "unknowns": mesh.unknowns(3), "elements": mesh.n_elements}
    for k, f in fns.items():
        row[f"{k}_temp_MB"] = f.lower(params).compile().memory_analysis().temp_size_in_bytes / 1e6
    calls = {k: (lambda f=f: f(params)) for k, f in fns.items()}
    faults = {}
    for k, f in calls.items():
        jax.block_until_ready(f())
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(3):
            jax.block_until_ready(f())
        faults[k] = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 3
    times = median_times(calls, repeats)
    for k in fns:
        row[f"{k}_seconds"] = times[k]
        row[f"{k}_page_faults_per_call"] = faults[k]
    row["ratio"] = times["value_and_grad"] / times["forward"]
    grads = jax.tree_util.tree_leaves(fns["value_and_grad"](params)[1])
    row["gradient_finite"] = bool(all(np.all(np.isfinite(np.asarray(g))) for g in grads))
    print(f"RTD J(V), {n_biases} biases, p = 3, {row['unknowns']} unknowns: forward {times['forward'] * 1e3:.3g} ms, "
          f"value + gradient {times['value_and_grad'] * 1e3:.3g} ms = {row['ratio']:.2f}x forward "
          f"(XLA temp {row['forward_temp_MB']:.1f} / {row['value_and_grad_temp_MB']:.1f} MB, "
          f"page faults per call {faults['forward']:.0f} / {faults['value_and_grad']:.0f})", flush=True)
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one loose target (1e-4), few repeats: a smoke run")
    parser.add_argument("--repeats", type=int, default=30, help="rounds of interleaved timings")
    parser.add_argument("--json", help="also write the numbers to this JSON file")
    parser.add_argument("--only", choices=("sech2", "rtd"), help="run only the Pöschl–Teller table or only the RTD value + gradient")
    parser.add_argument("--rtd-tol", type=float, default=RTD_TOL, help="graded-mesh tolerance of the RTD (default %(default)g)")
    args = parser.parse_args(argv)
    targets = (1e-4,) if args.quick else (1e-6, 1e-8, 1e-10)
    orders = (3,) if args.quick else (3, 4)
    repeats = 2 if args.quick else args.repeats
    out = {"energies": len(ENERGIES), "targets": {}}
    if args.only != "rtd":
        sech2_table(out, targets, orders, repeats)
    if args.only != "sech2":
        out["rtd"] = rtd_value_and_grad(5 if args.quick else 25, repeats, args.rtd_tol)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=2)
    return out


def sech2_table(out, targets, orders, repeats):
    """FD and FEM unknowns and times at each accuracy target on the Pöschl–Teller barrier (module docstring)."""
    for target in targets:
        row = {}
        n_fd, n_fd_law = fd_points_for(target)
        row["fd_points"] = n_fd
        row["fd_points_by_a2_law"] = n_fd_law
        solvers = {}
        if n_fd is not None:
            row["fd_error"] = fd_error(n_fd)
            solvers["fd"] = fd_solver(n_fd)
        for p in orders:
            n_el = fem_elements_for(p, target)
            if n_el is None:
                continue
            row[f"p{p}_elements"] = n_el
            row[f"p{p}_unknowns"] = n_el * p + 1
            row[f"p{p}_error"] = fem_error(p, n_el)
            solvers[f"p{p}"] = fem_solver(p, n_el)
        times = median_times(solvers, repeats)
        for k, t in times.items():
            row[f"{k}_seconds"] = t
        for p in orders:
            if f"p{p}_unknowns" in row:
                row[f"p{p}_unknowns_ratio_fd_over_fem"] = n_fd_law / row[f"p{p}_unknowns"]
                if "fd" in times:
                    row[f"p{p}_speed_ratio_fd_over_fem"] = times["fd"] / times[f"p{p}"]
        out["targets"][f"{target:.0e}"] = row
        line = [f"target {target:.0e}:"]
        if n_fd is not None:
            line.append(f"FD N = {n_fd} ({times['fd'] * 1e3:.3g} ms)")
        else:
            line.append(f"FD N ≈ {n_fd_law} by the a² law (not run, > {N_MAX_FD})")
        for p in orders:
            if f"p{p}_unknowns" in row:
                s = f"p={p}: {row[f'p{p}_elements']} elements, {row[f'p{p}_unknowns']} unknowns ({times[f'p{p}'] * 1e3:.3g} ms), "
                s += f"unknowns FD/FEM = {row[f'p{p}_unknowns_ratio_fd_over_fem']:.1f}"
                if f"p{p}_speed_ratio_fd_over_fem" in row:
                    s += f", time FD/FEM = {row[f'p{p}_speed_ratio_fd_over_fem']:.1f}"
                line.append(s)
        print("  ".join(line), flush=True)


if __name__ == "__main__":
    main()
