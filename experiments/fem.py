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

Not done here (stage 3 of the issue): the thickness design abrupt vs smoothed.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from diffsim_jax.models.stack import StackModel, StackParams, contact_fermi_level
from diffsim_jax.models.stack_fem import StackFemModel, current_density_curve_fem
from diffsim_jax.observables import current_density_curve
from diffsim_jax.physics import fem
from diffsim_jax.physics.analytic import poschl_teller_transmission
from diffsim_jax.physics.layers import Layer, Stack
from diffsim_jax.physics.qtbm import transmission_many

from . import write_json

FIGURES = ("fig11",)
U0, ALPHA, LENGTH, M_EFF = 0.25, 0.6, 60.0, 0.067
ENERGIES = np.linspace(0.05, 0.35, 16)
TEMPERATURE_K = 300.0
MAX_BIAS_V = 0.4
TARGET = 1e-4
#: (biases, FD grids for the convergence panel, FEM element counts, FD grids for the current) per profile.
PROFILES = {
    "quick": dict(biases=9, fd=(101, 201, 401, 801), fem=(24, 48, 96), fd_current=(401, 801)),
    "default": dict(biases=25, fd=(101, 201, 401, 801, 1601, 3201), fem=(24, 48, 96, 192), fd_current=(801, 1601, 3201)),
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
    stack = rtd_stack()
    params = StackParams(stack, jnp.asarray(contact_fermi_level(stack, TEMPERATURE_K)))
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


def plot(path: Path, rows, orders, cur):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for k, v in rows.items():
        if not v:
            continue
        n, e = zip(*v)
        label = ("FD" if k == "fd" else f"FEM p={k[1:]}") + (f" (order {orders[k]:.2f})" if k in orders else "")
        ax1.loglog(n, e, "o-", label=label)
    ax1.set_xlabel("unknowns")
    ax1.set_ylabel("max |T − T_exact|")
    ax1.set_title("(a) Pöschl–Teller barrier")
    ax1.legend(fontsize=8)
    ax2.plot(cur["biases"], cur["j_fem"] / 1e3, "k-", label="FEM, abrupt (p=4, converged)")
    ax2.plot(cur["biases"], cur["j_fd_conv"] / 1e3, "b--", label="FD smooth, extrapolated")
    ax2.plot(cur["biases"], cur["j_fd_fig8"] / 1e3, "r:", label="FD smooth, Fig. 8 grid (N=271)")
    ax2.set_xlabel("bias (V)")
    ax2.set_ylabel("J (kA/cm²)")
    ax2.set_title("(b) Fig. 8 RTD at 300 K")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def run(profile: str, out: Path, **_options) -> dict:
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {tuple(PROFILES)}, got {profile!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    prof = PROFILES[profile]
    t0 = time.perf_counter()
    rows, orders = convergence(prof)
    cur = currents(prof)
    plot(out / "fig11_fem.png", rows, orders, cur)
    metrics = {
        "orders": orders,
        "fem": cur["fem"],
        "fd": cur["fd"],
        "unknowns_ratio": cur["fd"]["points"] / cur["fem"]["unknowns"] if cur["fem"] else None,
        "speed_ratio": cur["fd"]["seconds"] / cur["fem"]["seconds"] if cur["fem"] else None,
        "fd_fig8_grid_error": float(np.max(np.abs(cur["j_fd_fig8"] - cur["j_fem"])) / np.max(np.abs(cur["j_fem"]))),
        "seconds": time.perf_counter() - t0,
    }
    write_json(out / "fig11_fem.json", {"metrics": metrics, "convergence": {k: v for k, v in rows.items()},
                                        "biases_V": cur["biases"].tolist(), "j_fem_A_cm2": cur["j_fem"].tolist(),
                                        "j_fd_fig8_A_cm2": cur["j_fd_fig8"].tolist()})
    return {"fig11": metrics}
