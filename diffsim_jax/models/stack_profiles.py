"""What an engineer inspects beside J(V): band diagram, density, T(E), resonances (physics.md §9.5).

At one bias V, :func:`bias_profile` returns, on the model's grid x_j = j·L/(N − 1):

* the conduction band U(x) the electrons see (band offset ΔE_c(x) plus the electrostatic
  potential energy: the bias drop of eq. 9.9, or the self-consistent Hartree energy U_H of
  §11), and its two parts;
* the quasi-Fermi level: μ_L = E_F on the emitter side of the first barrier's centre and
  μ_R = E_F − V beyond it (the reference contacts of the density, physics.md §11.1);
* the electron density n(x) in cm⁻³ (physics.md eq. 11.2: the self-consistent one, or the
  scattering-state density of the fixed potential without self-consistency);
* 𝒯(E) on [E_lo, E_top], E_lo = max(U(0), U(L)) (both leads propagate), E_top = the top of the
  supply window, on a uniform energy grid densified around every resonance;
* the resonances: the complex poles E_r − iΓ_r/2 of G_{N−1,0} (physics.md §10.1), found by
  real-axis Newton steps from every local maximum of 𝒯 on the uniform grid (Γ_r the real-axis
  Newton estimate of the pole, ħ/Γ_r the lifetime), and the full width at half maximum of
  the peak of 𝒯 measured on the densified grid (it differs from Γ_r where the lead
  self-energies vary across the peak, e.g. near a band edge).
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from ..physics.density import electron_density
from ..physics.energy_grid import pole_step
from ..physics.layers import first_barrier_centre_nm, profiles
from ..physics.qtbm import transmission_sweep
from ..physics.statistics import thermal_energy_eV
from .stack import StackModel, StackParams

#: Energies of the uniform part of the 𝒯(E) grid.
N_TRANSMISSION_ENERGIES = 2001
#: The 𝒯(E) window ends this many k_BT above the highest chemical potential …
TRANSMISSION_WINDOW_KT = 15.0
#: … but at least this far above the emitter band edge (eV; also the 0 K window).
MIN_TRANSMISSION_WINDOW_EV = 0.3
#: Real-axis Newton steps that refine each resonance (physics.md §10.1).
RESONANCE_NEWTON_STEPS = 12
#: Added energies per resonance, at E_r + Γ_r·(offsets) (resolves peaks narrower than the grid).
RESONANCE_OFFSETS = (-4.0, -2.0, -1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0, 2.0, 4.0)


class BiasProfile(NamedTuple):
    """The profiles of a stack at one bias (module docstring). Energies in eV, x in nm."""

    bias_V: float
    x_nm: np.ndarray
    band_offset_eV: np.ndarray
    electrostatic_eV: np.ndarray
    conduction_band_eV: np.ndarray
    quasi_fermi_eV: np.ndarray
    mu_left_eV: float
    mu_right_eV: float
    density_cm3: np.ndarray | None
    doping_cm3: np.ndarray
    energies_eV: np.ndarray
    transmission: np.ndarray
    resonance_energies_eV: np.ndarray
    resonance_widths_eV: np.ndarray
    resonance_transmission: np.ndarray
    resonance_fwhm_eV: np.ndarray


def resonances(potential_eV, length_nm, m_eff, e_lo: float, e_hi: float, energies, trans):
    """Poles E_r − iΓ_r/2 inside (e_lo, e_hi) from the local maxima of ``trans`` at ``energies``.

    Returns (E_r, Γ_r, 𝒯(E_r)) as sorted NumPy arrays; a start whose Newton iteration
    leaves the window or does not settle (last step > Γ/2) is dropped, duplicates merged.
    """
    t = np.asarray(trans)
    peaks = np.nonzero((t[1:-1] > t[:-2]) & (t[1:-1] >= t[2:]))[0] + 1
    if peaks.size == 0:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    e = jnp.asarray(np.asarray(energies)[peaks])
    z = e
    for _ in range(RESONANCE_NEWTON_STEPS):
        e_prev = e
        z, _ = pole_step(potential_eV, length_nm, m_eff, e)
        e = jnp.clip(jnp.real(jnp.nan_to_num(z)), e_lo, e_hi)
    z, e_prev = np.asarray(z), np.asarray(e_prev)
    gamma = -2.0 * np.imag(z)
    ok = (np.isfinite(z) & (gamma > 0) & (np.real(z) > e_lo) & (np.real(z) < e_hi)
          & (np.abs(np.real(z) - e_prev) <= 0.5 * gamma))
    found = sorted(zip(np.real(z[ok]), gamma[ok]))
    kept: list[tuple[float, float]] = []
    for er, g in found:
        if kept and abs(er - kept[-1][0]) < 0.25 * max(g, kept[-1][1]):
            continue
        kept.append((er, g))
    if not kept:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    er = np.array([k[0] for k in kept])
    tr = np.asarray(transmission_sweep(jnp.asarray(potential_eV), jnp.asarray(er), length_nm, m_eff))
    return er, np.array([k[1] for k in kept]), tr


def full_width_half_maximum(energies, trans, e_r: float, t_r: float) -> float:
    """Width of the peak of 𝒯 at E_r between the nearest energies on each side where 𝒯 falls
    below 𝒯(E_r)/2 (linear interpolation); NaN where it does not fall that low on both sides."""
    e, t = np.asarray(energies), np.asarray(trans)
    k = int(np.searchsorted(e, e_r))
    low = np.nonzero(t[:k] < 0.5 * t_r)[0]
    high = np.nonzero(t[k:] < 0.5 * t_r)[0]
    if low.size == 0 or high.size == 0:
        return float("nan")
    i, j = int(low[-1]), k + int(high[0])
    left = np.interp(0.5 * t_r, [t[i], t[i + 1]], [e[i], e[i + 1]])
    right = np.interp(0.5 * t_r, [t[j], t[j - 1]], [e[j], e[j - 1]])
    return float(right - left)


def transmission_and_resonances(potential_eV, length_nm, m_eff, e_lo: float, e_hi: float):
    """(energies, 𝒯(E), E_r, Γ_r, 𝒯(E_r), FWHM_r): 𝒯 on a uniform grid of [e_lo, e_hi] plus
    :data:`RESONANCE_OFFSETS` around each resonance (module docstring)."""
    u = jnp.asarray(potential_eV, jnp.float64)
    m = jnp.asarray(m_eff, jnp.float64)
    span = e_hi - e_lo
    base = np.linspace(e_lo + 1e-9 * span, e_hi, N_TRANSMISSION_ENERGIES)
    trans = np.asarray(transmission_sweep(u, jnp.asarray(base), length_nm, m))
    er, gamma, tr = resonances(u, length_nm, m, e_lo, e_hi, base, trans)
    extra = (er[:, None] + gamma[:, None] * np.asarray(RESONANCE_OFFSETS)[None, :]).ravel()
    extra = extra[(extra > base[0]) & (extra < e_hi)]
    if extra.size:
        energies = np.unique(np.concatenate([base, extra]))
        trans = np.asarray(transmission_sweep(u, jnp.asarray(energies), length_nm, m))
    else:
        energies = base
    fwhm = np.array([full_width_half_maximum(energies, trans, e, t) for e, t in zip(er, tr)])
    return energies, trans, er, gamma, tr, fwhm


def bias_profile(model: StackModel, params: StackParams, bias_V: float, temperature_K: float, *,
                 potential_eV=None, density_cm3=None) -> BiasProfile:
    """The profiles of a stack at ``bias_V`` (module docstring) on ``model``'s grid (n_points set).

    Without ``potential_eV`` the potential is the model's (physics.md eq. 9.9) and the density
    the scattering-state density in it (needs ``temperature_K`` > 0; None at 0 K). A
    self-consistent solution passes its own ``potential_eV`` and ``density_cm3`` (same grid).
    """
    if model.n_points is None:
        raise ValueError("bias_profile needs model.n_points (model.with_grid(params, temperature_K))")
    stack = params.stack
    prof = profiles(stack, model.n_points, model.interface_width_nm, model.materials)
    x = np.asarray(prof.x_nm)
    length = float(stack.length_nm)
    if potential_eV is None:
        potential_eV = np.asarray(model.solver_input(params, bias_V).potential_eV)
    u = np.asarray(potential_eV, float)
    band = np.asarray(prof.band_edge_eV)
    mu_l = float(params.fermi_level)
    mu_r = mu_l - float(bias_V)
    barrier = float(first_barrier_centre_nm(stack))
    if density_cm3 is None and temperature_K > 0:
        density_cm3 = electron_density(jnp.asarray(u), mu_l, float(bias_V), length, prof.m_eff, temperature_K,
                                       emitter_end_nm=barrier)
    kt = float(thermal_energy_eV(temperature_K)) if temperature_K > 0 else 0.0
    e_lo = float(max(u[0], u[-1]))
    e_hi = max(max(mu_l, mu_r) + TRANSMISSION_WINDOW_KT * kt, e_lo + MIN_TRANSMISSION_WINDOW_EV)
    energies, trans, er, gamma, tr, fwhm = transmission_and_resonances(u, length, prof.m_eff, e_lo, e_hi)
    return BiasProfile(
        bias_V=float(bias_V),
        x_nm=x,
        band_offset_eV=band,
        electrostatic_eV=u - band,
        conduction_band_eV=u,
        quasi_fermi_eV=np.where(x < barrier, mu_l, mu_r),
        mu_left_eV=mu_l,
        mu_right_eV=mu_r,
        density_cm3=None if density_cm3 is None else np.asarray(density_cm3, float),
        doping_cm3=np.asarray(prof.doping_cm3),
        energies_eV=energies,
        transmission=trans,
        resonance_energies_eV=er,
        resonance_widths_eV=gamma,
        resonance_transmission=tr,
        resonance_fwhm_eV=fwhm,
    )
