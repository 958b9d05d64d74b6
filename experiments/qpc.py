"""Fig. 10: two-dimensional gate-defined devices (physics.md §13, §13.10).

``run(profile, out)`` writes into ``out``:

* fig10_qpc.png — (a) a saddle-point constriction against Büttiker's formula, with the error
  against the lattice spacing; (b) a split-gate QPC: G(V_g) at 0, 1, 2 and 4 K and in a
  perpendicular field; (c) the design: G against the plunger voltage of a disordered QPC
  before and after the design of its gate fingers; (d) loss against wall time and against
  simulator calls for the gradient design and for CMA-ES;
* fig10_saddle.csv (a, max |T − T_Büttiker|), fig10_split_gate.csv, fig10_design.json;
* fig10/result.npz — the designed device (potential, spacing, energies, T from
  ``transmission_2d``), for anyone to re-solve with another code;

and returns ``{"fig10": metrics}``.

The design problem (physics.md §13.10): a 2 × n array of gate fingers tiles a split gate;
the fingers' voltages are v_k + V_p, with V_p the common plunger voltage swept to open
the contact. Smooth disorder destroys the clean device's conductance staircase; the design
chooses the offsets v_k so that G(V_p) of the disordered device follows the clean
device's staircase again. Loss (eq. 13.27): L = mean_i (G(V_p,i)/G₀ − S_i)², S the clean
staircase at the same plunger voltages. The same loss and simulator are minimised by the
project's optimisation loop (:func:`diffsim_jax.design.optimize`: L-BFGS with reverse-mode
gradients, and for comparison the paper's first-order AdaBelief) and by CMA-ES (``cma``,
default settings). Every method's clock includes its own compilation.
"""

from __future__ import annotations

import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from diffsim_jax.design import adabelief, lbfgs, optimize
from diffsim_jax.models.qpc import (
    GatedDevice,
    buttiker_transmission,
    finger_array_edges,
    gate_params,
    saddle_potential,
)
from diffsim_jax.physics.constants import CURRENT_UA_PER_EV
from diffsim_jax.physics.transport2d import conductance_2d, transmission_2d

from . import write_json

FIGURES = ("fig10",)

#: Run in a child process pinned to one CPU (experiments.run): with two or more threads,
#: XLA's CPU runtime (jaxlib 0.10.2) deadlocked in this experiment's design and CMA-ES steps
#: with every thread idle (gdb: all workers in WaitForWork, the main thread waiting on the
#: result); reproduced in 2 of 5 runs of the two leads' mode decompositions at 64 energies
#: on the 48 × 20 lattice when they ran as separate batches, never in 6 runs on one CPU.
ONE_CPU = True

# --- (1) the saddle point (physics.md eqs. 13.25–13.26)
#: ħω_x, ħω_y (eV); x_p (nm) of the parabola's flat continuation; strip width (nm).
SADDLE = dict(hw_x_eV=1e-3, hw_y_eV=3e-3, flat_nm=100.0, width_nm=160.0)

# --- (2), (3) the gated devices (physics.md §13.10): a 48 × 20 lattice of 8 nm (376 × 168 nm),
# the 2DEG 30 nm below the surface at n_s = 1.1e11 cm⁻² (E_F = 3.93 meV), a split gate
# with an 80 nm gap and 200 nm length, cut into 2 × N_FINGERS fingers.
DEVICE = dict(n_x=48, n_y=20, spacing_nm=8.0, depth_nm=30.0, sheet_density_cm2=1.1e11)
GAP_NM, GATE_LENGTH_NM = 80.0, 200.0
#: Smooth disorder: RMS (eV), correlation length (nm), seed.
DISORDER = dict(disorder_rms_eV=8e-4, disorder_correlation_nm=30.0, disorder_seed=1)
TEMPERATURES_K = (0.0, 1.0, 2.0, 4.0)
FIELD_T = 1.0
#: Split-gate / plunger voltages swept (V): from pinch-off to three open modes.
SWEEP_V = (-0.028, -0.004)
#: The design coordinates: v_k = VOLTAGE_SCALE_V·z_k.
VOLTAGE_SCALE_V = 2e-3
#: Peak step of the first-order comparison (AdaBelief, cosine-decayed), in z.
LEARNING_RATE = 0.6
CMA_SIGMA0 = 1.0
CMA_SEED = 1

#: profile -> saddle spacings (nm), saddle energies, gate-voltage samples (split gate and
#: design), fingers per side, gradient iterations, CMA-ES generations, thermal node step (k_BT).
PROFILE_SETTINGS = {
    "quick": dict(spacings=(10.0, 8.0), n_saddle_E=9, n_plunger=9, n_fingers=4, iterations=8, generations=3,
                  step_kT=1.0),
    "default": dict(spacings=(10.0, 8.0, 6.0, 4.0), n_saddle_E=25, n_plunger=21, n_fingers=8,
                    iterations=150, generations=100, step_kT=0.5),
}
PROFILE_SETTINGS["paper"] = PROFILE_SETTINGS["default"]


# --------------------------------------------------------------------------------------
# (1) saddle point against Büttiker
# --------------------------------------------------------------------------------------
def saddle_lattice(spacing_nm: float, hw_x_eV, hw_y_eV, flat_nm, width_nm):
    """(potential (N_x, N_y) eV, N_x, N_y) of the flattened saddle (eq. 13.25) on spacing a.

    The device spans 4x_p along x (the parabola over ±x_p, its flattening to ±2x_p) and the
    width W = (N_y+1)a ≈ ``width_nm``; the saddle point (U₀ = 0) sits at the centre.
    """
    n_x = int(round(4 * flat_nm / spacing_nm)) + 1
    n_y = int(round(width_nm / spacing_nm)) - 1
    x = np.arange(n_x) * spacing_nm
    y = (np.arange(n_y) + 1.0) * spacing_nm
    pot = saddle_potential(x[:, None] - x[-1] / 2, y[None, :] - (n_y + 1) * spacing_nm / 2, 0.0,
                           hw_x_eV, hw_y_eV, flat_nm)
    return np.asarray(pot), n_x, n_y


def saddle_convergence(spacings, n_energies: int):
    """max_E |T_lattice − T_Büttiker| for each spacing, and the finest curves (physics.md eq. 13.26)."""
    s = SADDLE
    energies = s["hw_y_eV"] * np.linspace(0.0, 3.0, n_energies)
    exact = np.asarray(buttiker_transmission(energies, 0.0, s["hw_x_eV"], s["hw_y_eV"]))
    rows, curves = [], {}
    for a in spacings:
        pot, n_x, n_y = saddle_lattice(a, **s)
        t0 = time.perf_counter()
        t = np.asarray(transmission_2d(pot, energies, a))
        rows.append({"spacing_nm": a, "n_x": n_x, "n_y": n_y, "max_error": float(np.max(np.abs(t - exact))),
                     "seconds": time.perf_counter() - t0})
        curves[a] = t
        print(f"[fig10] saddle a = {a:g} nm ({n_x} × {n_y}): max |T − T_B| = {rows[-1]['max_error']:.3g}")
    return energies, exact, rows, curves


# --------------------------------------------------------------------------------------
# (2), (3) gated devices
# --------------------------------------------------------------------------------------
def devices(n_fingers: int):
    """(clean device, disordered device, (2·n_fingers, 4) finger edges)."""
    clean = GatedDevice(**DEVICE)
    dirty = GatedDevice(**DEVICE, **DISORDER)
    return clean, dirty, finger_array_edges(clean, GAP_NM, GATE_LENGTH_NM, n_fingers)


def plunger_curve(device: GatedDevice, offsets_V, edges, plunger_V, field_T=0.0):
    """T(E_F) (= G/G₀ at 0 K) for finger voltages offsets + V_p at each plunger voltage (pure)."""
    energy = jnp.asarray([device.fermi_energy_eV])

    def one(vp):
        p = gate_params(offsets_V + vp, edges, field_T)
        return transmission_2d(device.potential_unchecked(p), energy, device.spacing_nm, device.m_eff,
                               p.magnetic_field_T)[0]

    return jax.vmap(one)(plunger_V)


#: :func:`plunger_curve` compiled once per device and shape (the device is static, hashable).
_curve = jax.jit(plunger_curve, static_argnums=0)


def split_gate_sweeps(clean: GatedDevice, edges, sweep, step_kT: float):
    """G/G₀ against the split-gate voltage at each temperature, and at B = FIELD_T (0 K)."""
    zeros = jnp.zeros(edges.shape[0])
    out, errors = {}, {}
    for temp in TEMPERATURES_K:
        if temp == 0.0:
            out[temp], errors[temp] = np.asarray(_curve(clean, zeros, edges, sweep)), 0.0
            continue
        g, err = [], []
        for v in sweep:
            pot = clean.potential_eV(gate_params(zeros + v, edges))
            gi, ei = conductance_2d(pot, clean.fermi_energy_eV, clean.spacing_nm, clean.m_eff, 0.0, temp,
                                    step_kT=step_kT, with_error=True)
            g.append(float(gi) / CURRENT_UA_PER_EV)
            err.append(float(ei) / CURRENT_UA_PER_EV)
        out[temp], errors[temp] = np.asarray(g), float(np.max(err))
        print(f"[fig10] split gate at {temp:g} K (quadrature error ≤ {errors[temp]:.1e} G₀)")
    field = np.asarray(_curve(clean, zeros, edges, sweep, FIELD_T))
    return out, errors, field


def plateau_rms(g, staircase, tol: float = 0.05):
    """RMS of G/G₀ − n over the samples where the clean staircase lies within ``tol`` of a plateau n ≥ 1 (eq. 13.28)."""
    n = np.round(staircase)
    on = (np.abs(staircase - n) < tol) & (n >= 1)
    return float(np.sqrt(np.mean((np.asarray(g)[on] - n[on]) ** 2))), int(on.sum())


def design(dirty: GatedDevice, edges, plunger, staircase, iterations: int, method: str = "lbfgs"):
    """The gradient design with :func:`diffsim_jax.design.optimize` from equal fingers;
    ``method`` "lbfgs" (the design) or "adabelief" (the first-order comparison).
    Returns (result, loss, normalization)."""

    def loss(params):
        g = plunger_curve(dirty, params.voltages_V, edges, plunger)
        return jnp.mean((g - staircase) ** 2)

    norm = dirty.normalization(gate_params(np.zeros(edges.shape[0]), edges), voltage_scale_V=VOLTAGE_SCALE_V)
    stage = lbfgs(iterations) if method == "lbfgs" else adabelief(iterations, LEARNING_RATE)
    res = optimize(loss, norm, stage, desc=f"fig10 design ({method})")
    return res, loss, norm


def cma_design(dirty: GatedDevice, edges, plunger, staircase, generations: int):
    """CMA-ES (default settings, population 4 + ⌊3 ln n⌋, seed CMA_SEED) on the same loss."""
    import cma  # a real dependency (requirements.txt); imported here to keep module import light

    n = edges.shape[0]

    def loss_z(z):
        g = plunger_curve(dirty, VOLTAGE_SCALE_V * z, edges, plunger)
        return jnp.mean((g - staircase) ** 2)

    batch = jax.jit(jax.vmap(loss_z))
    es = cma.CMAEvolutionStrategy(np.zeros(n), CMA_SIGMA0, {"seed": CMA_SEED, "verbose": -9})
    pop = es.popsize
    t0 = time.perf_counter()
    times, best, evals = [], [], []
    for _ in range(generations):
        xs = es.ask()
        f = np.asarray(batch(jnp.asarray(np.asarray(xs))))
        es.tell(xs, [float(v) if np.isfinite(v) else 1e3 for v in f])
        times.append(time.perf_counter() - t0)
        best.append(float(es.result.fbest))
        evals.append(len(evals) * pop + pop)
    return dict(times=np.asarray(times), best=np.asarray(best), evals=np.asarray(evals), popsize=pop,
                x_best=VOLTAGE_SCALE_V * np.asarray(es.result.xbest))


def cost_ratio(loss, norm, repeats: int = 3):
    """(value-and-gradient time / value time, value-and-gradient seconds) of the compiled design loss."""
    z = norm.zeros()
    f = jax.jit(lambda z: loss(norm.to_physical(z)))
    g = jax.jit(jax.value_and_grad(lambda z: loss(norm.to_physical(z))))
    f(z).block_until_ready(), g(z)[0].block_until_ready()
    t0 = time.perf_counter()
    for _ in range(repeats):
        f(z).block_until_ready()
    tf = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(repeats):
        g(z)[0].block_until_ready()
    tg = time.perf_counter() - t0
    return tg / tf, tg / repeats


def time_to_reach(times, losses, level):
    """First time at which the running best of ``losses`` is ≤ ``level`` (None if never)."""
    running = np.minimum.accumulate(np.asarray(losses))
    hit = np.nonzero(running <= level)[0]
    return float(np.asarray(times)[hit[0]]) if hit.size else None


# --------------------------------------------------------------------------------------
def run(profile: str, out: Path, **_options) -> dict:
    """Saddle vs Büttiker, split-gate QPC, the disordered-QPC design and CMA-ES; returns {"fig10": ...}."""
    from .qpc_plots import plot_fig10

    cfg = PROFILE_SETTINGS[profile]
    out = Path(out)
    (out / "fig10").mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()

    # (1) saddle point
    energies, exact, rows, curves = saddle_convergence(cfg["spacings"], cfg["n_saddle_E"])
    np.savetxt(out / "fig10_saddle.csv", [[r["spacing_nm"], r["n_x"], r["n_y"], r["max_error"]] for r in rows],
               delimiter=",", comments="", fmt="%.10g", header="spacing_nm,n_x,n_y,max_abs_T_minus_buttiker")

    # (2) split gate (the finger array at equal voltages); its 0 K curve is the design's target
    clean, dirty, edges = devices(cfg["n_fingers"])
    sweep = plunger = jnp.asarray(np.linspace(*SWEEP_V, cfg["n_plunger"]))
    split, thermal_err, field = split_gate_sweeps(clean, edges, sweep, cfg["step_kT"])
    cols = [np.asarray(sweep)] + [split[t] for t in TEMPERATURES_K] + [field]
    np.savetxt(out / "fig10_split_gate.csv", np.column_stack(cols), delimiter=",", comments="", fmt="%.10g",
               header="gate_V," + ",".join(f"G_over_G0_{t:g}K" for t in TEMPERATURES_K) + f",G_over_G0_0K_{FIELD_T:g}T")
    stair = split[0.0]
    staircase = jnp.asarray(stair)
    on_plateau_0k = float(np.mean(np.abs(stair - np.round(stair)) < 0.02))

    # (3) design: L-BFGS, and the paper's first-order AdaBelief for comparison, from equal fingers
    zeros = jnp.zeros(edges.shape[0])
    before = np.asarray(_curve(dirty, zeros, edges, plunger))
    res, loss, norm = design(dirty, edges, plunger, staircase, cfg["iterations"], "lbfgs")
    res_ab, _, _ = design(dirty, edges, plunger, staircase, cfg["iterations"], "adabelief")
    after = np.asarray(_curve(dirty, jnp.asarray(res.params.voltages_V), edges, plunger))
    after_ab = np.asarray(_curve(dirty, jnp.asarray(res_ab.params.voltages_V), edges, plunger))
    rms_before, n_plateau = plateau_rms(before, stair)
    rms_after, _ = plateau_rms(after, stair)
    rms_ab, _ = plateau_rms(after_ab, stair)
    ratio, _ = cost_ratio(loss, norm)
    gradient_runs = {name: dict(times=r.step_seconds, losses=r.loss_history, calls=ratio * np.cumsum(r.evaluations))
                     for name, r in (("L-BFGS", res), ("AdaBelief", res_ab))}
    for name, r in (("L-BFGS", res), ("AdaBelief", res_ab)):
        print(f"[fig10] design ({name}): loss {r.loss_history[0]:.3g} → {r.best_loss:.3g} in {r.seconds:.1f} s, "
              f"{int(r.evaluations.sum())} value+gradient evaluations")
    print(f"[fig10] plateau RMS {rms_before:.3g} → {rms_after:.3g} (L-BFGS), {rms_ab:.3g} (AdaBelief); "
          f"value+gradient = {ratio:.2f} values")

    # (4) CMA-ES on the same loss
    cmares = cma_design(dirty, edges, plunger, staircase, cfg["generations"])
    cma_best = float(cmares["best"][-1])
    t_cma = time_to_reach(cmares["times"], cmares["best"], cma_best)
    t_grad = time_to_reach(res.step_seconds, res.loss_history, cma_best)
    t_ab = time_to_reach(res_ab.step_seconds, res_ab.loss_history, cma_best)
    speedup = t_cma / t_grad if t_grad is not None else None
    cma_after = np.asarray(_curve(dirty, jnp.asarray(cmares["x_best"]), edges, plunger))
    rms_cma, _ = plateau_rms(cma_after, stair)
    print(f"[fig10] CMA-ES (population {cmares['popsize']}): best loss {cma_best:.3g} after {t_cma:.1f} s; "
          f"L-BFGS reaches it after "
          + (f"{t_grad:.1f} s: speedup {speedup:.2f}" if t_grad is not None else "— (never)"))

    # (5) the designed device, at the plunger voltage in the middle of the first plateau
    on_first = np.nonzero(np.abs(stair - 1.0) < 0.05)[0]
    vp_saved = float(plunger[on_first[len(on_first) // 2]]) if on_first.size else float(plunger[len(plunger) // 2])
    p_saved = gate_params(jnp.asarray(res.params.voltages_V) + vp_saved, edges)
    pot = np.asarray(dirty.potential_eV(p_saved))
    e_saved = dirty.fermi_energy_eV + np.linspace(-1e-3, 1e-3, 21)
    t_saved = np.asarray(transmission_2d(pot, e_saved, dirty.spacing_nm, dirty.m_eff, 0.0))
    np.savez(out / "fig10" / "result.npz", potential=pot, spacing_nm=dirty.spacing_nm, energies=e_saved,
             transmission=t_saved, m_eff=dirty.m_eff, magnetic_field_T=0.0, plunger_V=vp_saved,
             finger_voltages_V=np.asarray(res.params.voltages_V) + vp_saved, gate_edges_nm=np.asarray(edges),
             depth_nm=dirty.depth_nm, fermi_energy_eV=dirty.fermi_energy_eV)

    design_json = {
        "loss": "mean_i (G(V_p,i)/G0 - S_i)^2, S = clean split-gate staircase (physics.md eq. 13.27)",
        "plunger_V": np.asarray(plunger).tolist(),
        "staircase": stair.tolist(),
        "before": before.tolist(),
        "after": after.tolist(),
        "after_cmaes": cma_after.tolist(),
        "after_adabelief": after_ab.tolist(),
        "finger_offsets_V": np.asarray(res.params.voltages_V).tolist(),
        "finger_offsets_cmaes_V": cmares["x_best"].tolist(),
        "finger_offsets_adabelief_V": np.asarray(res_ab.params.voltages_V).tolist(),
        "gradient_method": "L-BFGS (optax.lbfgs, zoom line search, memory 30)",
        "gradient_loss_history": res.loss_history.tolist(),
        "gradient_times_s": res.step_seconds.tolist(),
        "gradient_evaluations": res.evaluations.tolist(),
        "adabelief_loss_history": res_ab.loss_history.tolist(),
        "adabelief_times_s": res_ab.step_seconds.tolist(),
        "cmaes_best_history": cmares["best"].tolist(),
        "cmaes_times_s": cmares["times"].tolist(),
        "cmaes_evaluations": cmares["evals"].tolist(),
        "value_and_gradient_cost_in_values": ratio,
    }
    write_json(out / "fig10_design.json", design_json)
    plot_fig10(out / "fig10_qpc.png", energies, exact, rows, curves, np.asarray(sweep), split, field, FIELD_T,
               np.asarray(plunger), stair, before, after, after_ab, cma_after, gradient_runs, cmares)

    metrics = {
        "saddle_max_error": rows[-1]["max_error"],
        "saddle_spacing_nm": rows[-1]["spacing_nm"],
        "saddle_convergence": [{k: r[k] for k in ("spacing_nm", "n_x", "n_y", "max_error")} for r in rows],
        "split_gate_fraction_on_plateaus_0K": on_plateau_0k,
        "split_gate_max_conductance_G0": float(np.max(stair)),
        "thermal_quadrature_max_error_G0": max(thermal_err.values()),
        "plateau_rms_before": rms_before,
        "plateau_rms_after": rms_after,
        "plateau_rms_after_cmaes": rms_cma,
        "plateau_rms_after_adabelief": rms_ab,
        "plateau_points": n_plateau,
        "loss_before": float(res.loss_history[0]),
        "loss_after": res.best_loss,
        "loss_cmaes_best": cma_best,
        "loss_after_adabelief": res_ab.best_loss,
        "gradient_method": "L-BFGS",
        "gradient_seconds": res.seconds,
        "gradient_iterations": cfg["iterations"],
        "gradient_evaluations": int(res.evaluations.sum()),
        "adabelief_seconds": res_ab.seconds,
        "adabelief_seconds_to_cmaes_best": t_ab,
        "cmaes_seconds": float(cmares["times"][-1]),
        "cmaes_generations": cfg["generations"],
        "cmaes_popsize": cmares["popsize"],
        "cmaes_seconds_to_best": t_cma,
        "gradient_seconds_to_cmaes_best": t_grad,
        "speedup_vs_cmaes": speedup,
        "value_and_gradient_cost_in_values": ratio,
        "seconds": time.perf_counter() - t_start,
    }
    rows_h = [
        ("(fig10 saddle)", f"ħω_x = {SADDLE['hw_x_eV'] * 1e3:g} meV, ħω_y = {SADDLE['hw_y_eV'] * 1e3:g} meV, "
                           f"x_p = {SADDLE['flat_nm']:g} nm, W = {SADDLE['width_nm']:g} nm, a = "
                           + ", ".join(f"{a:g}" for a in cfg["spacings"]) + " nm"),
        ("(fig10 device)", f"{DEVICE['n_x']} × {DEVICE['n_y']} sites of {DEVICE['spacing_nm']:g} nm, depth "
                           f"{DEVICE['depth_nm']:g} nm, n_s = {DEVICE['sheet_density_cm2']:.3g} cm⁻², split gate "
                           f"gap {GAP_NM:g} nm × {GATE_LENGTH_NM:g} nm as 2 × {cfg['n_fingers']} fingers; disorder "
                           f"{DISORDER['disorder_rms_eV'] * 1e3:g} meV RMS, {DISORDER['disorder_correlation_nm']:g} nm"),
        ("(fig10 design)", f"{cfg['iterations']} L-BFGS steps (memory 30, zoom line search) in z = v/"
                           f"{VOLTAGE_SCALE_V * 1e3:g} mV (comparison: {cfg['iterations']} AdaBelief steps, peak "
                           f"{LEARNING_RATE:g}, cosine); CMA-ES σ₀ = {CMA_SIGMA0:g}, population "
                           f"{cmares['popsize']}, seed {CMA_SEED}, {cfg['generations']} generations"),
    ]
    return {"fig10": {**metrics, "hyperparameters": rows_h}}
