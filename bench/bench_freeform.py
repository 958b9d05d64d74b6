#!/usr/bin/env python
"""Benchmarks of the free-form potentials (physics.md §12). Prints times and ratios measured in
this one run (machines are noisy: compare ratios, not absolute times across runs).

    python bench/bench_freeform.py [--repeats R] [--json out.json]

Measures, after compilation unless stated:
  * the transmission problem of Fig. 6 (N = 1000, 100 energies): loss + gradient of the
    network potential vs of a plain (N,) potential array (the network's overhead), and the
    compilation time of one L-BFGS step vs one step's run time;
  * the I–V loss + gradient (31 biases × 100 energies, N = 100): free-form model vs the
    paper's box model (the network's overhead in the I–V design);
  * the same free-form loss + gradient on a 4× finer grid (N = 397) over N = 100.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import diffsim_jax as ds
import pinn_sciann as pn
from diffsim_jax.design import losses
from diffsim_jax import observables
from diffsim_jax.design import loop
from diffsim_jax.design.losses import iv_loss
from diffsim_jax.models.box import BoxModel
from diffsim_jax.models.box import original_params
from diffsim_jax.physics.qtbm import transmission_sweep
from experiments.freeform import iv_freeform_model, transmission_model, triple_barrier
from pinn_sciann.targets import eval_energies


def timeit(fn, *args, repeats=20):
    """Median wall time (s) of fn(*args) after one warm-up (compilation) call."""
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    r = args.repeats
    out = {}

    # Fig. 6 problem
    cfg = pn.PINNConfig()
    e = jnp.asarray(eval_energies(cfg))
    target = jnp.asarray(pn.target_transmission(np.asarray(e), cfg))
    model = transmission_model(cfg)
    p = loop.strongly_typed(model.random_params(0, scale=0.5))
    loss = losses.transmission_loss(model, cfg.bias_V, e, target)
    vg_net = jax.jit(jax.value_and_grad(loss))
    u = model.solver_input(p, cfg.bias_V).potential_eV
    def array_loss(u):
        return jnp.mean((transmission_sweep(u, e, cfg.length_nm, cfg.m_eff) - target) ** 2)

    vg_arr = jax.jit(jax.value_and_grad(array_loss))
    out["t_problem_grad_network_s"] = timeit(vg_net, p, repeats=r)
    out["t_problem_grad_array_s"] = timeit(vg_arr, u, repeats=r)
    out["t_problem_network_overhead_ratio"] = out["t_problem_grad_network_s"] / out["t_problem_grad_array_s"]

    lbfgs = optax.lbfgs(memory_size=30)
    value_and_grad = optax.value_and_grad_from_state(loss)

    def step(z, state):
        v, g = value_and_grad(z, state=state)
        upd, state = lbfgs.update(g, state, z, value=v, grad=g, value_fn=loss)
        return optax.apply_updates(z, upd), state

    state = loop.strongly_typed(lbfgs.init(p))
    t0 = time.perf_counter()
    compiled = jax.jit(step).lower(p, state).compile()
    out["lbfgs_compile_s"] = time.perf_counter() - t0
    out["lbfgs_step_s"] = timeit(compiled, p, state, repeats=r)
    out["lbfgs_compile_over_step"] = out["lbfgs_compile_s"] / out["lbfgs_step_s"]

    # I–V problem of Fig. 7
    dcfg = ds.DeviceConfig()
    biases = jnp.linspace(0.0, 0.6, 31)
    i_t = jnp.asarray(ds.iv_curve(triple_barrier(), biases, dcfg))
    fmodel = iv_freeform_model(dcfg)
    fp = loop.strongly_typed(fmodel.random_params(0, scale=0.5, fermi_level_eV=0.05))
    f_vg = jax.jit(jax.value_and_grad(iv_loss(fmodel, observables.iv_observable(dcfg), biases, i_t)))
    bmodel = BoxModel.from_config(dcfg)
    b_vg = jax.jit(jax.value_and_grad(iv_loss(bmodel, observables.iv_observable(dcfg), biases, i_t)))
    out["iv_grad_freeform_s"] = timeit(f_vg, fp, repeats=r)
    out["iv_grad_box_s"] = timeit(b_vg, loop.strongly_typed(original_params()), repeats=r)
    out["iv_freeform_over_box"] = out["iv_grad_freeform_s"] / out["iv_grad_box_s"]
    cfg4 = dataclasses.replace(dcfg, n_points=397)
    f4_vg = jax.jit(jax.value_and_grad(iv_loss(fmodel.with_grid(397), observables.iv_observable(cfg4), biases, i_t)))
    out["iv_grad_freeform_4x_grid_s"] = timeit(f4_vg, fp, repeats=r)
    out["iv_4x_grid_over_1x"] = out["iv_grad_freeform_4x_grid_s"] / out["iv_grad_freeform_s"]

    for k, v in out.items():
        print(f"{k:36s} {v:.4g}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
