#!/usr/bin/env python
"""Benchmarks of the 2-D transport solver (issue #18; physics.md §13). Prints times and
ratios measured in this one run (compare ratios, not absolute times across runs).

    python bench/bench_2d.py [--quick] [--device cpu|gpu] [--nx 200] [--ny 60] [--energies 20]
                             [--repeats R] [--kwant-python PATH] [--json out.json]
                             [--all-cpus]

Measures, after compilation:
  * T(E) of an N_x × N_y strip with a smooth random potential and a perpendicular field
    (default 200 × 60, 20 energies): forward, value + gradient (w.r.t. the potential), ratio;
  * scaling: time against N_x and against N_y, each over a decade, and the fitted exponents
    (expected 1 and 3: O(N_x·N_y³));
  * with ``--kwant-python`` (a Python that imports Kwant 1.5): the same system solved by
    Kwant in a subprocess, its solver, its time, the time ratio and max |T − T_Kwant|.

``--device`` selects JAX's platform before JAX starts (``gpu`` = CUDA); the device that ran
is printed and written to the JSON. ``--quick`` runs tiny sizes in a few seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run of a few seconds)")
    p.add_argument("--device", choices=("cpu", "gpu"), default=None, help="JAX platform (default: JAX's choice)")
    p.add_argument("--nx", type=int, default=200)
    p.add_argument("--ny", type=int, default=60)
    p.add_argument("--energies", type=int, default=20)
    p.add_argument("--spacing", type=float, default=2.0, help="lattice spacing a in nm")
    p.add_argument("--field", type=float, default=0.5, help="magnetic field B in T")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-scaling", action="store_true", help="skip the N_x and N_y scans")
    p.add_argument("--all-cpus", action="store_true",
                   help="let XLA use every CPU (default: pinned to one, as Kwant's sequential solver runs)")
    p.add_argument("--kwant-python", default=None, help="python executable with Kwant 1.5 installed")
    p.add_argument("--json", default=None, help="write the numbers here")
    args = p.parse_args(argv)
    if args.quick:
        args.nx, args.ny, args.energies, args.repeats = 12, 6, 4, 1
    return args


KWANT_SCRIPT = r"""
import json, sys, time
import numpy as np
import kwant
d = json.load(open(sys.argv[1]))
U = np.array(d["potential"]); E = np.array(d["energies"]); t = d["hopping"]; theta = np.array(d["phases"])
nx, ny = U.shape
lat = kwant.lattice.square(1, norbs=1)
syst = kwant.Builder()
for i in range(nx):
    for j in range(ny):
        syst[lat(i, j)] = 4 * t + U[i, j]
        if j > 0:
            syst[lat(i, j), lat(i, j - 1)] = -t
        if i > 0:  # H[(i, j), (i-1, j)] = -t exp(-i theta_j)
            syst[lat(i, j), lat(i - 1, j)] = -t * np.exp(-1j * theta[j])
for side, col, step in (("left", 0, -1), ("right", nx - 1, 1)):
    lead = kwant.Builder(kwant.TranslationalSymmetry((step, 0)))
    for j in range(ny):
        lead[lat(0, j)] = 4 * t + U[col, j]
        if j > 0:
            lead[lat(0, j), lat(0, j - 1)] = -t
        lead[lat(1, j), lat(0, j)] = -t * np.exp(-1j * theta[j])
    syst.attach_lead(lead)
fsyst = syst.finalized()
kwant.smatrix(fsyst, float(E[0])).transmission(1, 0)  # warm-up
t0 = time.perf_counter()
T = [kwant.smatrix(fsyst, float(e)).transmission(1, 0) for e in E]
wall = time.perf_counter() - t0
print(json.dumps({"T": T, "seconds": wall, "solver": type(kwant.solvers.default.smatrix.__self__).__module__,
                  "kwant": kwant.__version__}))
"""


def main(argv=None):
    args = parse(argv)
    if not args.all_cpus and hasattr(os, "sched_setaffinity"):
        # one CPU thread, like Kwant's sequential MUMPS below, and away from the intermittent
        # hang of XLA's multi-threaded CPU runtime (jaxlib 0.10.2; docs/benchmarks.md). XLA sizes
        # its thread pool from the affinity when JAX starts, which is after this line.
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    if args.device is not None:
        os.environ["JAX_PLATFORMS"] = "cuda" if args.device == "gpu" else "cpu"
    import jax
    import jax.numpy as jnp
    import numpy as np

    import diffsim_jax  # noqa: F401  (float64)
    from diffsim_jax.physics import transport2d as t2
    from diffsim_jax.physics.constants import kinetic_prefactor

    device = f"{jax.devices()[0].platform}: {jax.devices()[0].device_kind} × {len(jax.devices())}"
    print(f"device: {device}")
    a = args.spacing
    hop = kinetic_prefactor(0.067) / a**2

    def smooth_potential(nx, ny, seed=0):
        """A smooth random landscape (Gaussian-filtered noise, ≈ 0.2t peak) over a saddle."""
        rng = np.random.default_rng(seed)
        noise = rng.standard_normal((nx, ny))
        kx = np.fft.fftfreq(nx)[:, None]
        ky = np.fft.rfftfreq(ny)[None, :]
        filt = np.exp(-((kx * nx / 8.0) ** 2 + (ky * ny / 8.0) ** 2))
        smooth = np.fft.irfft2(np.fft.rfft2(noise) * filt, s=(nx, ny))
        smooth *= 0.05 * hop / max(np.abs(smooth).max(), 1e-30)
        x = np.linspace(-1, 1, nx)[:, None]
        y = np.linspace(-1, 1, ny)[None, :]
        return smooth + 0.2 * hop * np.exp(-4 * x**2) * (1 - 0.7 * np.exp(-4 * y**2))

    def energies_for(n):
        return np.linspace(0.15, 1.2, n) * hop

    def timeit(fn, *xs):
        jax.block_until_ready(fn(*xs))
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            jax.block_until_ready(fn(*xs))
            times.append(time.perf_counter() - t0)
        return float(np.median(times))

    field = args.field
    forward = jax.jit(lambda p, e: t2.transmission_2d(p, e, a, 0.067, field))
    weights = lambda n: jnp.cos(jnp.arange(n))
    value_grad = jax.jit(jax.value_and_grad(lambda p, e: jnp.sum(weights(e.shape[0]) * t2.transmission_2d(p, e, a, 0.067, field))))

    out = {"device": device, "nx": args.nx, "ny": args.ny, "energies": args.energies, "field_T": field, "spacing_nm": a}
    pot = smooth_potential(args.nx, args.ny)
    e = energies_for(args.energies)
    t_fwd = timeit(forward, pot, e)
    t_vg = timeit(value_grad, pot, e)
    trans = np.asarray(forward(pot, e))
    out.update(forward_s=t_fwd, value_and_grad_s=t_vg, grad_over_forward=t_vg / t_fwd)
    print(f"T(E), {args.nx} x {args.ny}, {args.energies} energies, B = {field} T: forward {t_fwd * 1e3:.1f} ms, "
          f"value+grad {t_vg * 1e3:.1f} ms, ratio {t_vg / t_fwd:.2f}; T in [{trans.min():.3f}, {trans.max():.3f}]")

    if not args.no_scaling:
        if args.quick:  # reuse the compiled main shape: two new shapes only
            base_y, base_x, nxs, nys = args.ny, args.nx, [args.nx // 2, args.nx], [args.ny // 2, args.ny]
        else:
            base_y, base_x = max(4, args.ny // 3), max(8, args.nx // 4)
            nxs = sorted({max(4, args.nx // 10), max(4, args.nx // 4), args.nx})
            nys = sorted({max(2, args.ny // 10), max(2, args.ny // 4), max(2, args.ny // 2), args.ny})
        rows_x = [(n, timeit(forward, smooth_potential(n, base_y), e)) for n in nxs]
        rows_y = [(n, timeit(forward, smooth_potential(base_x, n), e)) for n in nys]
        slope_x = float(np.polyfit(np.log([r[0] for r in rows_x]), np.log([r[1] for r in rows_x]), 1)[0])
        # the N_y exponent from the two largest widths (small N_y is dominated by overheads)
        slope_y = float(np.log(rows_y[-1][1] / rows_y[-2][1]) / np.log(rows_y[-1][0] / rows_y[-2][0]))
        out.update(scaling_nx={str(n): s for n, s in rows_x}, scaling_ny={str(n): s for n, s in rows_y},
                   exponent_nx=slope_x, exponent_ny_top=slope_y, scaling_ny_at_nx=base_x, scaling_nx_at_ny=base_y)
        print(f"scaling in N_x (N_y = {base_y}): " + ", ".join(f"{n}: {s * 1e3:.1f} ms" for n, s in rows_x)
              + f"; exponent {slope_x:.2f}")
        print(f"scaling in N_y (N_x = {base_x}): " + ", ".join(f"{n}: {s * 1e3:.1f} ms" for n, s in rows_y)
              + f"; exponent between the two widest {slope_y:.2f}")

    if args.kwant_python:
        lat = t2.lattice_2d(pot, a, 0.067, field)
        with tempfile.TemporaryDirectory() as tmp:
            inp = Path(tmp) / "in.json"
            inp.write_text(json.dumps({"potential": pot.tolist(), "energies": e.tolist(), "hopping": float(lat.hopping),
                                       "phases": np.asarray(lat.phases).tolist()}))
            env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
            res = subprocess.run([args.kwant_python, "-c", KWANT_SCRIPT, str(inp)], check=False, capture_output=True, text=True,
                                 env=env, timeout=3000)
        if res.returncode != 0:
            print("kwant failed:\n" + res.stderr[-2000:])
            out["kwant_error"] = res.stderr[-2000:]
        else:
            k = json.loads(res.stdout.strip().splitlines()[-1])
            err = float(np.max(np.abs(np.asarray(k["T"]) - trans)))
            out.update(kwant_s=k["seconds"], kwant_solver=k["solver"], kwant_version=k["kwant"],
                       kwant_over_forward=k["seconds"] / t_fwd, max_abs_diff_vs_kwant=err)
            print(f"Kwant {k['kwant']} ({k['solver']}): {k['seconds'] * 1e3:.1f} ms for {len(e)} energies; "
                  f"Kwant / this forward = {k['seconds'] / t_fwd:.2f}; max |T - T_Kwant| = {err:.2e}")

    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
