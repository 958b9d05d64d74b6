"""Fig. 11: finite elements against finite differences (physics.md §14, issue #17).

``run(profile, out)`` writes fig11_fem.png and fig11_fem.json and returns ``{"fig11": metrics}``:

(a) convergence: max|T − T_exact| on the Pöschl–Teller barrier (physics.md §3.4) against
    the number of unknowns, finite differences and p = 1 … 4 on uniform meshes, with the
    orders measured between the two finest points of each curve (expect 2 and 2p);
(b) the Fig. 8 RTD (abrupt interfaces) at 300 K: J(V) from finite elements, converged
    (p = 4, tol = 1e-8), against the smooth-interface finite-difference model at the
    Fig. 8 grid; for each method the unknowns and wall time it needs for J within 1e-4
    (max over the biases, relative to max J) of its own converged value:
    ``unknowns_ratio`` and ``speed_ratio`` (FD / FEM). The FD converged value is the
    Richardson extrapolation (a² law) of its two finest grids; N for 1e-4 comes from the
    measured a² constant and is timed at that N.
(c) a design in layer thicknesses: both barriers (one recipe) and the well of the Fig. 8 RTD,
    bounded to 2–6 nm and 3–8 nm (:class:`BarrierWellCoordinates`), from 3/5 nm to the 300 K J(V)
    of a 3.5/4.5 nm target device computed on the converged abrupt model; the same loss
    (:func:`~diffsim_jax.design.iv_loss`, physics.md eq. 6.2), start and optimiser (L-BFGS in
    :func:`~diffsim_jax.design.optimize`) on (i) the abrupt finite-element model (p = 3; the
    interfaces are element ends, so d L/d thickness is exact — checked against a central
    difference at the start) and (ii) the smooth-interface finite-difference model with
    δ = 0.15 nm (StackModel's default δ = a/2 on the Fig. 8 grid, N = 271) on a converged grid
    (N = 2001: J within 1.4e-4 of max J of N = 4001 at this δ). Both designed stacks are then evaluated
    on the converged abrupt model (the grown device has abrupt interfaces). Why they differ is
    measured on the zero-bias resonance (energy E_r and full width Γ of 𝒯, abrupt and smoothed):
    with smoothing E_r rises (the well acts narrower) and Γ widens (the barriers act more
    transparent); the smoothed design compensates with thicker barriers (at every bias
    sampling tried) and, with the default 25 biases, a wider well, and on the abrupt device it
    then resonates too low and too narrow. The well correction depends on the sampling of the
    NDR drop: 9 biases (the quick profile) give a narrower well (measured 4.45 nm, 17 biases
    4.49, 25 biases 4.54 nm; target 4.5).

(d) one switch: the self-consistent (Schrödinger–Poisson) J(V) of the intrinsically bistable RTD of
    Fig. 9 (:func:`experiments.selfconsistent.bistable_rtd`), swept up and down by the same
    :func:`~diffsim_jax.models.selfconsistent.self_consistent_iv` with ``config=FemSolverConfig()``
    (abrupt finite elements, physics.md §14.11) and with ``SolverConfig`` on the Fig. 9 grid (N = 300)
    and on a finer one (smoothed interfaces, δ = a/2): the bistable windows, the agreement of the
    branches and the wall time of each.

StackModel's *default* δ = a/2 shrinks with the grid, so at a converged grid that model is the
abrupt one (panel (b): ``fd.abrupt_minus_smooth``); a fixed physical δ is what a smoothed design
really differs by.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from diffsim_jax.design.loop import lbfgs, optimize
from diffsim_jax.design.losses import iv_loss
from diffsim_jax.design.metrics import ndr_figures
from diffsim_jax.models import selfconsistent as sc
from diffsim_jax.models.stack import StackModel, StackParams, contact_fermi_level
from diffsim_jax.models.stack_fem import StackFemModel, current_density_curve_fem
from diffsim_jax.observables import current_density_curve, stack_observable
from diffsim_jax.physics import fem
from diffsim_jax.physics.analytic import poschl_teller_transmission
from diffsim_jax.physics.layers import Layer, Stack
from diffsim_jax.physics.qtbm import transmission_many

from . import write_json
from .fem_plots import plot_fig11
from .selfconsistent import bistable_rtd

FIGURES = ("fig11",)
U0, ALPHA, LENGTH, M_EFF = 0.25, 0.6, 60.0, 0.067
ENERGIES = np.linspace(0.05, 0.35, 16)
TEMPERATURE_K = 300.0
MAX_BIAS_V = 0.4
#: Panel (d): the self-consistent sweeps of the bistable RTD run from 0 to this bias (as Fig. 9).
SC_MAX_BIAS_V = 0.6
TARGET = 1e-4
#: Panel (c): layer indices of the two barriers and the well in :func:`rtd_stack`.
BARRIERS, WELL = (2, 4), 3
#: Bounds (nm) of the designed barrier and well thicknesses.
DESIGN_BOUNDS_NM = ((2.0, 6.0), (3.0, 8.0))
#: The target device (barrier, well in nm): its abrupt J(V) at 300 K is the design target.
DESIGN_TARGET_NM = (3.5, 4.5)
#: δ of the smoothed design: StackModel's default δ = a/2 on the Fig. 8 grid (N = 271, a = 0.30 nm).
SMOOTH_WIDTH_NM = 0.15
#: Step of the central difference that checks the FEM thickness gradient.
GRADIENT_STEP_NM = 1e-4
#: (biases, FD grids for the convergence panel, FEM element counts, FD grids for the current,
#: L-BFGS steps of the design, FEM tol of the design, FD points of the smoothed design) per profile.
PROFILES = {
    "quick": dict(biases=9, fd=(101, 201, 401, 801), fem=(24, 48, 96), fd_current=(401, 801), design=12,
                  design_tol=1e-3, smooth_points=1001, sc_biases=13, sc_fd_points=(300,)),
    "default": dict(biases=25, fd=(101, 201, 401, 801, 1601, 3201), fem=(24, 48, 96, 192), fd_current=(801, 1601, 3201),
                    design=12, design_tol=1e-4, smooth_points=2001, sc_biases=25, sc_fd_points=(300, 1200)),
}
PROFILES["paper"] = PROFILES["default"]


def barrier(x):
    return U0 / jnp.cosh(ALPHA * (x - LENGTH / 2)) ** 2


def exact_T(e):
    """Closed-form T of the Pöschl–Teller barrier (physics.md §3.4)."""
    return poschl_teller_transmission(e, U0, ALPHA, M_EFF)


def rtd_stack():
    return Stack([Layer(30.0, 0.0, 2e18), Layer(5.0), Layer(3.0, 0.3), Layer(5.0), Layer(3.0, 0.3), Layer(5.0),
                  Layer(30.0, 0.0, 2e18)])


def rtd_params() -> StackParams:
    """The Fig. 8 RTD with the emitter's Fermi level at 300 K."""
    stack = rtd_stack()
    return StackParams(stack, jnp.asarray(contact_fermi_level(stack, TEMPERATURE_K)))


def order_fit(unknowns, errors):
    u, e = np.asarray(unknowns, float), np.asarray(errors, float)
    return float(-np.log(e[-1] / e[-2]) / np.log(u[-1] / u[-2]))


def convergence(prof):
    exact = exact_T(ENERGIES)
    rows = {"fd": []}
    for n in prof["fd"]:
        u = barrier(np.linspace(0.0, LENGTH, n))
        rows["fd"].append((n, float(np.max(np.abs(np.asarray(transmission_many(u, ENERGIES, LENGTH, M_EFF)) - exact)))))
    for p in (1, 2, 3, 4):
        rows[f"p{p}"] = []
        for n in prof["fem"]:
            n_el = n * (4 if p == 1 else 1)
            try:
                t = fem.transmission_fem(barrier, ENERGIES, LENGTH, M_EFF, p, n_el)
            except ValueError:  # too coarse for p = 1 (physics.md eq. 14.6)
                continue
            err = float(np.max(np.abs(np.asarray(t) - exact)))
            if err > 1e-13:
                rows[f"p{p}"].append((n_el * p + 1, err))
    orders = {k: order_fit(*zip(*v)) for k, v in rows.items() if len(v) >= 2}
    return rows, orders


def timed(fn, *args, repeats=3):
    jax.block_until_ready(fn(*args))
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - t0)
    return best


def currents(prof):
    params = rtd_params()
    biases = jnp.asarray(np.linspace(0.0, MAX_BIAS_V, prof["biases"]))

    def fem_curve(order, tol):
        model = StackFemModel(order=order, tol=tol)
        mesh = model.mesh(params, MAX_BIAS_V, TEMPERATURE_K)
        fn = jax.jit(lambda p, b: current_density_curve_fem(model, p, b, TEMPERATURE_K, mesh))
        return fn, mesh.unknowns(order)

    ref_fn, ref_unknowns = fem_curve(4, 1e-8)
    j_ref = np.asarray(ref_fn(params, biases))
    scale = np.max(np.abs(j_ref))
    fem_row = None
    for tol in (1e-2, 1e-3, 1e-4, 1e-5):
        fn, unknowns = fem_curve(3, tol)
        err = float(np.max(np.abs(np.asarray(fn(params, biases)) - j_ref)) / scale)
        if err <= TARGET:
            fem_row = dict(order=3, tol=tol, unknowns=unknowns, error=err, seconds=timed(fn, params, biases))
            break

    def fd_curve(n):
        model = StackModel(n_points=n)
        return jax.jit(lambda p, b: current_density_curve(model, p, b, TEMPERATURE_K))

    fd_j = {n: np.asarray(fd_curve(n)(params, biases)) for n in prof["fd_current"]}
    n1, n2 = prof["fd_current"][-2:]
    a1, a2 = 1.0 / (n1 - 1), 1.0 / (n2 - 1)
    fd_conv = fd_j[n2] + (fd_j[n2] - fd_j[n1]) * a2**2 / (a1**2 - a2**2)  # Richardson, a² law
    err_n2 = float(np.max(np.abs(fd_j[n2] - fd_conv)) / scale)
    n_needed = int(math.ceil(1 + (n2 - 1) * math.sqrt(err_n2 / TARGET)))
    fd_fn = fd_curve(n_needed)
    fd_row = dict(points=n_needed, error_at_finest=err_n2, seconds=timed(fd_fn, params, biases),
                  abrupt_minus_smooth=float(np.max(np.abs(fd_conv - j_ref)) / scale))
    fd_fig8 = np.asarray(fd_curve(271)(params, biases))
    return dict(biases=np.asarray(biases), j_fem=j_ref, j_fd_fig8=fd_fig8, j_fd_conv=fd_conv, fem=fem_row, fd=fd_row,
                fem_reference_unknowns=ref_unknowns)


# ------------------------------------------------------------------ (c) thickness design
@dataclasses.dataclass(frozen=True, eq=False)
class BarrierWellCoordinates:
    """Optimiser coordinates z = (z_b, z_w) of the RTD's barrier and well thicknesses (both barriers
    share z_b, grown from one recipe), bounded to ``bounds_nm`` = ((b_lo, b_hi), (w_lo, w_hi)):

        d = d_lo + (d_hi − d_lo)·sigmoid(logit((d₀ − d_lo)/(d_hi − d_lo)) + z),   z = 0 at the start

    The normalization :func:`diffsim_jax.design.optimize` expects (``zeros``, ``to_physical``).
    """

    init: StackParams
    bounds_nm: tuple = DESIGN_BOUNDS_NM

    def __post_init__(self):
        start = np.asarray(self.init.stack.thickness_nm)[[BARRIERS[0], WELL]]
        for d0, (lo, hi), name in zip(start, self.bounds_nm, ("barrier", "well")):
            if not lo < d0 < hi:
                raise ValueError(f"the start {name} thickness {d0} nm must lie inside its bounds ({lo}, {hi}) nm")

    def zeros(self):
        return jnp.zeros(2)

    def thicknesses_nm(self, z):
        lo, hi = (jnp.asarray(v, jnp.float64) for v in zip(*self.bounds_nm))
        d0 = self.init.stack.thickness_nm[jnp.array([BARRIERS[0], WELL])]
        f0 = (d0 - lo) / (hi - lo)
        return lo + (hi - lo) * jax.nn.sigmoid(jnp.log(f0 / (1 - f0)) + z)

    def to_physical(self, z) -> StackParams:
        return with_barrier_well(self.init, *self.thicknesses_nm(z))


def with_barrier_well(params: StackParams, barrier_nm, well_nm) -> StackParams:
    """``params`` with both barriers ``barrier_nm`` and the well ``well_nm`` thick (traceable)."""
    s = params.stack
    thick = s.thickness_nm.at[jnp.array(BARRIERS)].set(barrier_nm).at[WELL].set(well_nm)
    return StackParams(Stack.from_arrays(thick, s.al_fraction, s.doping_cm3), params.fermi_level)


def abrupt_reference(params: StackParams) -> StackFemModel:
    """The converged abrupt model of panel (b) (p = 4, tol = 1e-8) on its mesh graded at ``params``."""
    return StackFemModel(order=4, tol=1e-8).with_mesh(params, MAX_BIAS_V, TEMPERATURE_K)


#: The ``observable`` of :func:`iv_loss` for both models: J(V) in A/cm² at 300 K
#: (:func:`~diffsim_jax.observables.current_density_curve`, whose ``model`` switches the discretisation).
curve = stack_observable(TEMPERATURE_K)


def resonance(transmission, e_lo=0.005, e_hi=0.25, n=1201):
    """(E_r, Γ) in eV of the first transmission peak at zero bias: the maximum of 𝒯 on a coarse grid,
    refined on a fine one around it; Γ the full width at half maximum (linear interpolation)."""
    e = np.linspace(e_lo, e_hi, n)
    t = np.asarray(transmission(jnp.asarray(e)))
    k = int(np.argmax(t))
    width = 40 * (e[1] - e[0])
    e = np.linspace(e[max(k - 40, 0)], e[max(k - 40, 0)] + 2 * width, 4001)
    t = np.asarray(transmission(jnp.asarray(e)))
    k = int(np.argmax(t))
    half = 0.5 * t[k]
    left = k - int(np.argmax(t[k::-1] < half))
    right = k + int(np.argmax(t[k:] < half))
    if t[left] >= half or t[right] >= half:
        raise ValueError("the resonance is wider than the refinement window")
    e_left = np.interp(half, [t[left], t[left + 1]], [e[left], e[left + 1]])
    e_right = np.interp(half, [t[right], t[right - 1]], [e[right], e[right - 1]])
    return float(e[k]), float(e_right - e_left)


def thickness_design(prof, biases) -> dict:
    """Panel (c): the same design on the abrupt FEM model and on the smoothed FD model (module docstring)."""
    start = rtd_params()
    b_t, w_t = DESIGN_TARGET_NM
    ref = abrupt_reference(start)
    target = np.asarray(curve(ref, with_barrier_well(start, b_t, w_t), biases))
    coords = BarrierWellCoordinates(start)
    fem_model = StackFemModel(order=3, tol=prof["design_tol"])
    fem_design = fem_model.with_mesh(start, MAX_BIAS_V, TEMPERATURE_K)
    smooth_model = StackModel(n_points=prof["smooth_points"], interface_width_nm=SMOOTH_WIDTH_NM)
    losses = {"fem": iv_loss(fem_design, curve, biases, jnp.asarray(target)),
              "smooth": iv_loss(smooth_model, curve, biases, jnp.asarray(target))}
    loss_abrupt = iv_loss(ref, curve, biases, jnp.asarray(target))  # its J(V) is jitted (cached from panel b)

    # exact thickness gradient of the FEM design loss at the start against a central difference
    loss_fem_d = jax.jit(jax.value_and_grad(lambda d: losses["fem"](with_barrier_well(start, d[0], d[1]))))
    d0 = jnp.asarray(np.asarray(start.stack.thickness_nm)[[BARRIERS[0], WELL]])
    grad = np.asarray(loss_fem_d(d0)[1])
    h = GRADIENT_STEP_NM
    central = np.array([(float(loss_fem_d(d0 + h * e)[0]) - float(loss_fem_d(d0 - h * e)[0])) / (2 * h)
                        for e in np.eye(2)])
    grad_error = float(np.max(np.abs(grad - central)) / np.max(np.abs(central)))

    out = {"target_nm": {"barrier": b_t, "well": w_t}, "start_nm": {"barrier": float(d0[0]), "well": float(d0[1])},
           "smooth_interface_width_nm": SMOOTH_WIDTH_NM, "smooth_points": prof["smooth_points"],
           "fem_design_unknowns": fem_design.fixed_mesh.unknowns(fem_model.order),
           "gradient_fem_per_nm": grad.tolist(), "gradient_central_per_nm": central.tolist(),
           "gradient_check_rel_error": grad_error, "loss_start_on_abrupt": float(loss_abrupt(start))}
    curves = {"target": target}
    stages = [lbfgs(prof["design"])]
    for name in ("fem", "smooth"):
        t0 = time.perf_counter()
        res = optimize(losses[name], coords, stages, progress=False, desc=f"fig11 design ({name})")
        designed = jax.tree_util.tree_map(jnp.asarray, res.params)
        d = np.asarray(designed.stack.thickness_nm)
        curves[name] = np.asarray(curve(ref, designed, biases))
        out[name] = {"barrier_nm": float(d[BARRIERS[0]]), "well_nm": float(d[WELL]), "loss_own_model": res.best_loss,
                     "loss_on_abrupt": float(loss_abrupt(designed)), "steps": int(res.loss_history.size),
                     "evaluations": int(res.evaluations.sum()), "seconds": time.perf_counter() - t0,
                     "stopped": res.stopped}
    own = jax.jit(lambda p: curve(smooth_model, p, biases))
    curves["smooth_own"] = np.asarray(own(with_barrier_well(start, out["smooth"]["barrier_nm"], out["smooth"]["well_nm"])))
    # why: the zero-bias resonance (energy E_r, full width Γ) of the same layers, abrupt and smoothed
    t_abrupt = jax.jit(lambda p, e: ref.transmission(p, 0.0, e, ref.fixed_mesh))
    for name, (b, w) in (("start", (float(d0[0]), float(d0[1]))), ("target", DESIGN_TARGET_NM),
                         ("smooth_design", (out["smooth"]["barrier_nm"], out["smooth"]["well_nm"]))):
        p = with_barrier_well(start, b, w)
        si = smooth_model.solver_input(p, 0.0)
        e_a, g_a = resonance(lambda e, p=p: t_abrupt(p, e))
        e_s, g_s = resonance(lambda e, si=si: transmission_many(si.potential_eV, e, si.length_nm, si.m_eff))
        out[f"resonance_{name}"] = {"abrupt_E_meV": 1e3 * e_a, "abrupt_width_meV": 1e3 * g_a,
                                    "smooth_E_meV": 1e3 * e_s, "smooth_width_meV": 1e3 * g_s}
    r0 = out["resonance_start"]
    out["smoothing_resonance_shift_meV"] = r0["smooth_E_meV"] - r0["abrupt_E_meV"]
    out["smoothing_width_ratio"] = r0["smooth_width_meV"] / r0["abrupt_width_meV"]
    out["barrier_difference_nm"] = out["smooth"]["barrier_nm"] - out["fem"]["barrier_nm"]
    out["well_difference_nm"] = out["smooth"]["well_nm"] - out["fem"]["well_nm"]
    out["loss_fem_on_abrupt"] = out["fem"]["loss_on_abrupt"]
    out["loss_smooth_on_abrupt"] = out["smooth"]["loss_on_abrupt"]
    out["thicknesses_fem_nm"] = [out["fem"]["barrier_nm"], out["fem"]["well_nm"]]
    out["thicknesses_smooth_nm"] = [out["smooth"]["barrier_nm"], out["smooth"]["well_nm"]]
    for name in ("target", "fem", "smooth"):
        fom = ndr_figures(np.asarray(biases), curves[name])
        out[f"figures_{name}_on_abrupt"] = {"peak_Acm2": fom["peak"], "peak_bias_V": fom["peak_bias_V"],
                                            "pvr": fom["pvr"]}
    return out, curves


def bistable_window(biases, sweep) -> list | None:
    """[first, last] bias (V) where the up and down sweeps differ (``SweepResult.bistable``), or None."""
    b = np.asarray(biases)[np.asarray(sweep.bistable)]
    return [float(b.min()), float(b.max())] if b.size else None


def selfconsistent_switch(prof) -> tuple[dict, dict]:
    """Panel (d): the bistable RTD of Fig. 9 swept up and down on finite elements and finite differences."""
    stack = bistable_rtd()
    biases = np.linspace(0.0, SC_MAX_BIAS_V, prof["sc_biases"])
    configs = {"fem": sc.FemSolverConfig()} | {f"fd_{n}": sc.SolverConfig(n_points=n) for n in prof["sc_fd_points"]}
    out, curves = {}, {"biases": biases}
    for name, config in configs.items():
        t0 = time.perf_counter()
        sweep = sc.self_consistent_iv(stack, biases, TEMPERATURE_K, config=config, progress=True)
        seconds = time.perf_counter() - t0
        up, down = np.asarray(sweep.current_up), np.asarray(sweep.current_down)
        curves[name] = (up, down)
        sols = sweep.solutions_up + sweep.solutions_down
        out[name] = {"bistable_V": bistable_window(biases, sweep), "seconds": seconds,
                     "iterations": int(np.sum(sweep.iterations_up) + np.sum(sweep.iterations_down)),
                     "max_residual_eV": float(max(s.residual_eV for s in sols)),
                     "peak_up_Acm2": float(np.max(up))}
        if name == "fem":
            out[name]["unknowns"] = int(sweep.solutions_up[0].mesh.unknowns(config.order))
        else:
            out[name]["points"] = config.n_points
        print(f"[fig11] (d) {name}: bistable {out[name]['bistable_V']}, {seconds:.1f} s")
    j_fem = np.concatenate(curves["fem"])
    scale = float(np.max(np.abs(j_fem)))
    for name in configs:
        if name != "fem":
            j = np.concatenate(curves[name])
            out[name]["max_difference_to_fem"] = float(np.max(np.abs(j - j_fem)) / scale)
    out["device"] = stack.to_dict()["layers"]
    return out, curves


def run(profile: str, out: Path, **_options) -> dict:
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {tuple(PROFILES)}, got {profile!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    prof = PROFILES[profile]
    t0 = time.perf_counter()
    rows, orders = convergence(prof)
    cur = currents(prof)
    t_design = time.perf_counter()
    design, design_curves = thickness_design(prof, jnp.asarray(cur["biases"]))
    design["seconds"] = time.perf_counter() - t_design
    switch, switch_curves = selfconsistent_switch(prof)
    plot_fig11(out / "fig11_fem.png", rows, orders, cur, design, design_curves, switch, switch_curves)
    metrics = {
        "orders": orders,
        "fem": cur["fem"],
        "fd": cur["fd"],
        "unknowns_ratio": cur["fd"]["points"] / cur["fem"]["unknowns"] if cur["fem"] else None,
        "speed_ratio": cur["fd"]["seconds"] / cur["fem"]["seconds"] if cur["fem"] else None,
        "fd_fig8_grid_error": float(np.max(np.abs(cur["j_fd_fig8"] - cur["j_fem"])) / np.max(np.abs(cur["j_fem"]))),
        "design": design,
        "selfconsistent": switch,
        "seconds": time.perf_counter() - t0,
    }
    write_json(out / "fig11_fem.json", {"metrics": metrics, "convergence": {k: v for k, v in rows.items()},
                                        "biases_V": cur["biases"].tolist(), "j_fem_A_cm2": cur["j_fem"].tolist(),
                                        "j_fd_fig8_A_cm2": cur["j_fd_fig8"].tolist(),
                                        "design_J_on_abrupt_A_cm2": {k: v.tolist() for k, v in design_curves.items()},
                                        "selfconsistent_J_up_down_A_cm2": {k: np.asarray(v).tolist()
                                                                           for k, v in switch_curves.items()}})
    return {"fig11": metrics}
