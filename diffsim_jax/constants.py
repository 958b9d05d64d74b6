"""Physical constants and unit conventions (physics.md §1).

Units throughout the package: energy and potential in eV, length in nm, bias in V
(an electron's potential energy drops by V eV), current in µA.
"""

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
