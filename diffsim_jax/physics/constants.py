"""Physical constants and unit conventions (physics.md §1): each defined here and only here.

Units throughout the package: energy and potential in eV, length in nm, bias in V
(an electron's potential energy drops by V eV), current in µA.
"""

import math

#: ħ²/(2 m0) in eV·nm² (physics.md §1).
HBAR2_OVER_2M0_EV_NM2 = 0.0380998

#: Default effective mass in units of m0 (GaAs conduction band).
DEFAULT_M_EFF = 0.067

#: (2q/h)·(1 eV) in µA: the spin-degenerate conductance quantum 2q²/h = 7.748091729e-5 S
#: times one volt (physics.md §1). Multiplying ∫T dE (eV) by this gives a current in µA.
CURRENT_UA_PER_EV = 77.48091729


def kinetic_prefactor(m_eff):
    """C = ħ²/(2 m*) in eV·nm² for an effective mass ``m_eff`` in units of m0 (physics.md §1)."""
    return HBAR2_OVER_2M0_EV_NM2 / m_eff


#: Boltzmann constant in eV/K (CODATA 2018, exact; physics.md §10).
K_B_EV_PER_K = 8.617333262e-5

# CODATA 2018 (q, k_B, h exact; m₀ from CODATA 2018).
_Q_C = 1.602176634e-19
_M0_KG = 9.1093837015e-31
_KB_J_PER_K = 1.380649e-23
_HBAR_J_S = 1.054571817e-34

#: Richardson constant A* = q m₀ k_B²/(2π²ħ³) for the free-electron mass, in A cm⁻² K⁻²
#: (120.173; physics.md eq. 10.3). Multiply by m_t/m₀.
RICHARDSON_A_PER_CM2_K2 = _Q_C * _M0_KG * _KB_J_PER_K**2 / (2.0 * math.pi**2 * _HBAR_J_S**3) * 1e-4

#: A*/k_B² in A cm⁻² eV⁻² (1.61831e10): J = this·m_t·∫𝒯(E)·supply(E) dE with the supply
#: function in eV (physics.md eq. 10.4).
TSU_ESAKI_A_PER_CM2_EV2 = RICHARDSON_A_PER_CM2_K2 / K_B_EV_PER_K**2

#: 1 nm⁻³ in cm⁻³, and its inverse.
CM3_PER_NM3 = 1e21
NM3_PER_CM3 = 1e-21

#: The flux quantum h/e in T·nm² (physics.md §13: Peierls phases of the 2-D lattice).
FLUX_QUANTUM_T_NM2 = 4135.667696
