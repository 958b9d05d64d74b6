#!/usr/bin/env python
"""Benchmarks of the differentiable simulator (issue #3). Prints times and ratios measured
in this one run (machines are noisy: compare ratios, not absolute times across runs).

    python bench/bench_simulator.py [--repeats R] [--json out.json]

Measures, after compilation unless stated:
  * T sweep, N = 100, 100 energies — the production path (transmission_many: O(N)
    recurrence + custom JVP) and the general Thomas solve of ψ (solve_qtbm's path);
  * full I–V (25 biases × 100 energies, paper defaults): forward, forward + gradient, ratio —
    with the production reverse mode (corner_green's recomputing custom VJP, physics.md §3.9)
    and, in the same run, with the stored-column custom JVP of physics.md §3.6 that the
    gradient used before (``forward_mode=True``);
  * transmission at N = 10², 10³, 10⁴ (100 energies) and the ratio t(10⁴)/t(10²);
  * a dense-matrix solve of the same QTBM system as baseline (N = 10², 10³);
  * wall time of 1000 design iterations including compilation.
"""

from __future__ import annotations

import os

# One BLAS thread: on a 2-core machine OpenBLAS's own threads oversubscribe the cores and
# make the dense baselines up to 30x slower (measured), which would flatter this package.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from functools import partial  # noqa: E402
from unittest import mock  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import diffsim_jax as ds  # noqa: E402
from diffsim_jax.observables import iv_curve_unchecked  # noqa: E402
from diffsim_jax.models.box import modified_params, original_params  # noqa: E402
from diffsim_jax.physics.qtbm import lead_phases, solve_many, lattice, transmission_many, transmission_sweep  # noqa: E402

# the module, not the function ``ds.current`` that the package exports under the same name
current_module = importlib.import_module("diffsim_jax.physics.current")


def timeit(fn, *args, repeats=30):
    """Median wall time (s) of fn(*args) after one warm-up (compilation) call."""
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def _dense_matrix(potential, energy, length, m_eff):
    """The physics.md §3 matrix A assembled densely (baseline only; the package never does this)."""
    lat = lattice(potential, length, m_eff)
    hopping = lat.hop
    lam_l, lam_r = lead_phases(lat, energy)
    onsite = lat.onsite - energy
    n = potential.shape[0]
    mat = jnp.diag(onsite.astype(jnp.complex128)) - hopping * (jnp.eye(n, k=1) + jnp.eye(n, k=-1))
    mat = mat.at[0, 0].add(-hopping * lam_l).at[-1, -1].add(-hopping * lam_r)
    return mat, hopping, lam_l, lam_r


@jax.jit
def dense_transmission(potential, energies, length, m_eff):
    """Baseline: the same system as a dense N×N matrix, LU-solved per energy with
    ``lax.map`` (JAX 0.4.38's *batched* complex LU on CPU is ~15x slower still, measured)."""

    def one(energy):
        mat, hopping, lam_l, lam_r = _dense_matrix(potential, energy, length, m_eff)
        rhs = jnp.zeros((potential.shape[0],), jnp.complex128).at[0].set(1.0)
        g = jnp.linalg.solve(mat, rhs)
        return 4.0 * hopping**2 * lam_l.imag * lam_r.imag * jnp.abs(g[-1]) ** 2

    return jax.lax.map(one, energies)


def numpy_dense_seconds(potential, energies, length, m_eff):
    """Baseline 2: NumPy's batched LAPACK solve (zgesv) of the dense matrices (assembly excluded)."""
    mats = np.asarray(jax.vmap(lambda e: _dense_matrix(potential, e, length, m_eff)[0])(energies))
    rhs = np.zeros((energies.shape[0], mats.shape[1], 1), complex)
    rhs[:, 0] = 1.0
    t0 = time.perf_counter()
    np.linalg.solve(mats, rhs)
    return time.perf_counter() - t0


def potential_on(n):
    cfg = ds.DeviceConfig(n_points=n)
    return ds.potential(original_params(), 0.2, cfg)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--json", help="also write the numbers to this JSON file")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run (tests): dense baselines at N = 100 only, 50 design iterations")
    args = parser.parse_args(argv)
    r = args.repeats
    out = {"jax": jax.__version__, "devices": str(jax.devices())}
    energies = jnp.linspace(0.001, 0.2, 100)
    L, m = 20.0, 0.067

    # T sweep at N = 100
    u100 = potential_on(100)
    out["t_sweep_N100_E100_ms"] = 1e3 * timeit(transmission_many, u100, energies, L, m, repeats=r)
    out["t_sweep_thomas_psi_N100_E100_ms"] = 1e3 * timeit(solve_many, u100, energies, L, m, repeats=r)

    # full I–V, paper defaults
    cfg = ds.DeviceConfig()
    biases = jnp.asarray(ds.default_biases())
    target = iv_curve_unchecked(modified_params(), biases, cfg)
    p0 = original_params()
    fwd = jax.jit(lambda p: iv_curve_unchecked(p, biases, cfg))
    grad = jax.jit(jax.value_and_grad(lambda p: jnp.mean((iv_curve_unchecked(p, biases, cfg) - target) ** 2)))
    out["iv_forward_ms"] = 1e3 * timeit(fwd, p0, repeats=r)
    out["iv_value_and_grad_ms"] = 1e3 * timeit(grad, p0, repeats=r)
    out["iv_grad_over_forward"] = out["iv_value_and_grad_ms"] / out["iv_forward_ms"]
    # the same gradient through the stored-column custom JVP (physics.md §3.6), traced with
    # transmission_sweep(..., forward_mode=True) in place of the production path
    with mock.patch.object(current_module, "transmission_sweep", partial(transmission_sweep, forward_mode=True)):
        grad_jvp = jax.jit(jax.value_and_grad(lambda p: jnp.mean((iv_curve_unchecked(p, biases, cfg) - target) ** 2)))
        jax.block_until_ready(grad_jvp(p0))  # trace and compile inside the patch
    out["iv_value_and_grad_stored_jvp_ms"] = 1e3 * timeit(grad_jvp, p0, repeats=r)
    out["iv_grad_stored_jvp_over_forward"] = out["iv_value_and_grad_stored_jvp_ms"] / out["iv_forward_ms"]

    # scaling with N
    for n in (100, 1000, 10000):
        out[f"t_N{n}_ms"] = 1e3 * timeit(transmission_many, potential_on(n), energies, L, m, repeats=max(5, r // 3))
    out["t_N10000_over_N100"] = out["t_N10000_ms"] / out["t_N100_ms"]
    for n in (100,) if args.quick else (100, 1000):
        u = potential_on(n)
        out[f"dense_jax_N{n}_E100_ms"] = 1e3 * timeit(dense_transmission, u, energies, L, m, repeats=3)
        out[f"dense_numpy_lapack_N{n}_E100_ms"] = 1e3 * min(numpy_dense_seconds(u, energies, L, m) for _ in range(3))
        out[f"dense_jax_over_recurrence_N{n}"] = out[f"dense_jax_N{n}_E100_ms"] / out[f"t_N{n}_ms"]

    # 1000 design iterations, including compilation
    t0 = time.perf_counter()
    iterations = 50 if args.quick else 1000
    res = ds.design(np.asarray(biases), np.asarray(target), p0, cfg, iterations=iterations, progress=False)
    out[f"design_{iterations}_iterations_s"] = time.perf_counter() - t0
    out["design_rms_percent_of_peak"] = res.rms_percent_of_peak

    width = max(len(k) for k in out)
    for k, v in out.items():
        print(f"{k:<{width}}  {v:.4g}" if isinstance(v, float) else f"{k:<{width}}  {v}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
