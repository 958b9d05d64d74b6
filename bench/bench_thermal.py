#!/usr/bin/env python
"""Benchmark of the finite-temperature current (physics.md §10; diffsim_jax/thermal.py).

    PYTHONPATH=. python bench/bench_thermal.py [--repeats R] [--json out.json]

Device: 10 nm GaAs / 3 nm Al₀.₃Ga₀.₇As / 5 nm GaAs / 3 nm Al₀.₃Ga₀.₇As / 10 nm GaAs on
N = 170 points with per-site masses, E_F = 0.05 eV, 300 K, J(V) at 25 biases 0–0.5 V
(one potential per bias), all in one jit(vmap(...)). Measured after compilation, medians
of interleaved rounds (the machine is shared: compare the ratios printed, which come from
this one run, not absolute times across runs):

  * forward J(V) with the default grid (EnergyGridConfig(): 160 energies per bias after a
    48-point resonance search), and its parts: resonance search, grid construction, 𝒯;
  * value + gradient of an I–V loss w.r.t. all 25 potentials, E_F and the masses; ratio;
  * the paper's scheme for comparison: 100 uniformly spaced energies over the same window,
    trapezoid rule — its time and its error against the default grid.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import diffsim_jax  # noqa: E402,F401  (enables float64)
from diffsim_jax.physics import energy_grid as eg
from diffsim_jax.physics import thermal as th
from diffsim_jax.physics.constants import K_B_EV_PER_K
from diffsim_jax.physics import statistics
from diffsim_jax.physics.qtbm import transmission_sweep  # noqa: E402
from diffsim_jax.physics.layers import abrupt_double_barrier  # noqa: E402

EF = 0.05
TEMPERATURE_K = 300.0


rtd = abrupt_double_barrier  # 3/5/3 nm Al0.3 barriers/well between 10 nm GaAs leads, N = 170: (U, L, m)


def uniform_grid_current(u, ef, v, length, m, kT, n=100):
    """The paper's quadrature (physics.md §5) applied to eq. 10.3: n equally spaced energies over
    the same window [E_lo, max μ + 40 kT], trapezoid rule."""
    e_lo, e_hi, mu_l, mu_r = th.integration_window(u, ef, v, kT)
    nodes = jnp.linspace(e_lo, e_hi, n)
    t = transmission_sweep(u, nodes, length, m)
    return th.TSU_ESAKI_A_PER_CM2_EV2 * m[0] * jnp.trapezoid(t * statistics.supply_function(nodes, mu_l, mu_r, kT), nodes)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=20, help="rounds of interleaved timings")
    parser.add_argument("--json", help="also write the numbers to this JSON file")
    args = parser.parse_args(argv)

    biases = np.linspace(0.0, 0.5, 25)
    data = [rtd(v) for v in biases]
    pots = jnp.asarray(np.stack([d[0] for d in data]))
    length, m = data[0][1], jnp.asarray(data[0][2])
    vs = jnp.asarray(biases)
    kT = K_B_EV_PER_K * TEMPERATURE_K
    cfg = eg.EnergyGridConfig()

    def j_default(us, ef, mm):
        return jax.vmap(lambda u, v: th.current_density_unchecked(u, ef, v, length, mm, kT, cfg))(us, vs)

    def j_uniform(us, ef, mm):
        return jax.vmap(lambda u, v: uniform_grid_current(u, ef, v, length, mm, kT))(us, vs)

    target = j_default(pots, EF, m) * 0.9
    scale = jnp.max(jnp.abs(target))

    def loss(fn):
        return lambda us, ef, mm: jnp.mean(((fn(us, ef, mm) - target) / scale) ** 2)

    # parts of the forward pass (same code as thermal.energy_integral)
    def parts(what):
        def one(u, v):
            e_lo, e_hi, mu_l, mu_r = th.integration_window(u, EF, v, kT)

            def imp(e):
                return jnp.abs(statistics.supply_function(e, mu_l, mu_r, kT))

            res = eg.locate_resonances(u, length, m, e_lo, e_hi, (mu_l, mu_r), kT, imp, cfg)
            if what == "search":
                return res.energy
            return eg.mapped_grid(e_lo, e_hi, res, (mu_l, mu_r), kT, cfg)[0]

        return jax.jit(jax.vmap(one))

    energies = jax.vmap(lambda u, v: eg.mapped_grid(*th.integration_window(u, EF, v, kT)[:2], None, (EF, EF - v), kT, cfg)[0])(pots, vs)
    fns = {
        "forward_ms": (jax.jit(j_default), (pots, EF, m)),
        "value_and_grad_ms": (jax.jit(jax.value_and_grad(loss(j_default), argnums=(0, 1, 2))), (pots, EF, m)),
        "search_ms": (parts("search"), (pots, vs)),
        "search_and_grid_ms": (parts("grid"), (pots, vs)),
        "transmission_160_ms": (jax.jit(jax.vmap(lambda u, e: transmission_sweep(u, e, length, m))), (pots, energies)),
        "uniform100_forward_ms": (jax.jit(j_uniform), (pots, EF, m)),
        "uniform100_value_and_grad_ms": (jax.jit(jax.value_and_grad(loss(j_uniform), argnums=(0, 1, 2))), (pots, EF, m)),
    }
    compile_s = {}
    for name, (f, a) in fns.items():
        t0 = time.perf_counter()
        jax.block_until_ready(f(*a))
        compile_s[name] = time.perf_counter() - t0
    times = {name: [] for name in fns}
    for _ in range(args.repeats):  # interleaved rounds: load changes hit all entries alike
        for name, (f, a) in fns.items():
            t0 = time.perf_counter()
            jax.block_until_ready(f(*a))
            times[name].append(time.perf_counter() - t0)
    out = {name: 1e3 * float(np.median(t)) for name, t in times.items()}
    out["grad_over_forward"] = out["value_and_grad_ms"] / out["forward_ms"]
    out["default_over_uniform100_forward"] = out["forward_ms"] / out["uniform100_forward_ms"]
    out["default_over_uniform100_value_and_grad"] = out["value_and_grad_ms"] / out["uniform100_value_and_grad_ms"]
    out["first_call_s (trace + compile)"] = {k: round(v, 2) for k, v in compile_s.items()}

    j_def = np.asarray(j_default(pots, EF, m))
    j_uni = np.asarray(j_uniform(pots, EF, m))
    nz = j_def != 0
    out["uniform100_max_rel_error_vs_default"] = float(np.max(np.abs(j_uni[nz] / j_def[nz] - 1)))
    k = int(np.argmax(j_def[biases < 0.3]))  # the resonant peak (J rises again by thermionic emission)
    out["resonant_peak_V"] = float(biases[k])
    out["resonant_peak_J_A_cm2"] = float(j_def[k])
    out["peak_to_valley_ratio"] = float(j_def[k] / j_def[k:][biases[k:] < 0.3].min())

    print(f"J(V), 25 biases, N = {pots.shape[1]} (per-site masses), {TEMPERATURE_K:.0f} K, jax {jax.__version__}")
    for k, v in out.items():
        print(f"  {k:42s} {v:.4g}" if isinstance(v, float) else f"  {k:42s} {v}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=2)


if __name__ == "__main__":
    main()
