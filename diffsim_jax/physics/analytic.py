"""Closed-form transmissions the solvers are checked against (physics.md §3.4, §14).

One place for the analytic references used by the tests, the benchmarks and Fig. 11.
"""

from __future__ import annotations

import numpy as np

from .constants import DEFAULT_M_EFF, kinetic_prefactor


def poschl_teller_transmission(energies_eV, height_eV, alpha_per_nm, m_eff=DEFAULT_M_EFF):
    """Exact continuum T(E) of the Pöschl–Teller barrier U(x) = U₀/cosh²(αx) (physics.md §3.4).

    T = sinh²(πk/α)/[sinh²(πk/α) + cosh²(½π·√(4U₀/(Cα²) − 1))], k = √(E/C), C = ħ²/(2m*)
    (Landau & Lifshitz, *Quantum Mechanics* §25, problem 4), for U₀ > Cα²/4 and E > 0.
    NumPy, elementwise in ``energies_eV``.
    """
    c = kinetic_prefactor(m_eff)
    if not height_eV > c * alpha_per_nm**2 / 4:
        raise ValueError(f"height_eV must exceed Cα²/4 = {c * alpha_per_nm**2 / 4:.4g} eV for this form, "
                         f"got {height_eV}")
    s = np.sinh(np.pi * np.sqrt(np.asarray(energies_eV, float) / c) / alpha_per_nm) ** 2
    return s / (s + np.cosh(0.5 * np.pi * np.sqrt(4 * height_eV / (c * alpha_per_nm**2) - 1)) ** 2)
