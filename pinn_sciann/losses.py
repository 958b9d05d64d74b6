"""Scaled residuals of the continuum QTBM equations (physics.md §2, eqs. 4–11), dimensionless.

Coordinates: ξ = x/L; energies and potentials in units of E_s; κ0 = L·sqrt(E_s/C);
k̂ = kL. The functions only use +, −, ×, /, ** and ``sqrt``/``diff`` supplied by the caller,
so they build SciANN functionals (training) and also work on NumPy arrays (tests).

Scaling (each residual is an error "in units of ψ"):

    (8, 9)  [ψ_ξξ + κ0²(ε − u)ψ]/κ0 = 0             C ψ'' + (E − U)ψ = 0,  × L²/(C κ0)
    (10)    (ψr ψi_ξξ − ψi ψr_ξξ)/κ0 = 0             × L²/κ0
    (4, 5)  ψr_ξ/k̂_L − ψi = 0,  ψi_ξ/k̂_L + ψr − 2 = 0    at ξ = 0,  ÷ k_L
    (6, 7)  ψr_ξ/k̂_R + ψi = 0,  ψi_ξ/k̂_R − ψr = 0        at ξ = 1,  ÷ k_R
    (11)    T = (k̂_R/k̂_L)(ψr² + ψi²), compared with T*(E)  at ξ = 1

Why 1/κ0 for (8)–(10), not 1/κ0² (the "units" of ψ_ξξ): a residual f = ψ_ξξ + K²ψ acts
as a source and changes ψ by about ∫|f| dξ/(2K) with K = kL ~ κ0, so f/κ0 is the error it
causes in ψ. With 1/κ0² the Schrödinger terms are κ0² ≈ 66 times too weak for L = 10 nm
and Adam settles on a ψ whose transmission is off by ~0.5 at a loss of 1e-3.
Dividing (4)–(7) by k turns them into the error of the incoming amplitude,
(ψ' + ikψ)/(2ik) − 1 at x = 0, and the amplitude of a wave coming in from the right at x = L.
"""

from __future__ import annotations


def wkb_phase(eps, xi, kappa0: float, v: float):
    """θ(ξ, E) = ∫₀^ξ k̂_ramp(s) ds = κ0·(2/(3v))·[(ε + vξ)^{3/2} − ε^{3/2}].

    The WKB phase of the bare ramp u(ξ) = −vξ, where k̂_ramp = κ0·sqrt(ε + vξ); so
    θ_ξ(0) = k̂_L and θ_ξ(1) = k̂_R (physics.md eqs. 2, 3 with U_L = 0, U_R = −V).
    """
    return (kappa0 * 2.0 / (3.0 * v)) * ((eps + v * xi) ** 1.5 - eps**1.5)


def residual_terms(psi_r, psi_i, dpsi_r, dpsi_i, d2psi_r, d2psi_i, eps, u, k_left, k_right, kappa0: float,
                   weights=(1.0, 1.0, 1.0)) -> dict:
    """The seven physics residuals of physics.md eqs. (4)–(10), scaled as in the module docstring.

    Args:
      psi_r, psi_i: ψr, ψi; dpsi_*: their ξ-derivatives; d2psi_*: second ξ-derivatives.
      eps: E/E_s.  u: U/E_s.  k_left, k_right: k_L·L, k_R·L.  kappa0: L·sqrt(E_s/C).
      weights: (w_pde, w_continuity, w_bc) multiplying the residuals (the loss gets w²).
    Returns:
      dict term name (see ``config.LOSS_TERMS``) -> residual.
    """
    w_pde, w_c, w_bc = weights
    k2 = eps - u  # (E − U)/E_s
    return {
        "schrodinger_re": w_pde * (d2psi_r * (1.0 / kappa0) + (kappa0 * k2) * psi_r),  # (8)
        "schrodinger_im": w_pde * (d2psi_i * (1.0 / kappa0) + (kappa0 * k2) * psi_i),  # (9)
        "continuity": (w_c / kappa0) * (psi_r * d2psi_i - psi_i * d2psi_r),  # (10)
        "bc_left_re": w_bc * (dpsi_r / k_left - psi_i),  # (4) ÷ k_L
        "bc_left_im": w_bc * (dpsi_i / k_left + psi_r - 2.0),  # (5) ÷ k_L
        "bc_right_re": w_bc * (dpsi_r / k_right + psi_i),  # (6) ÷ k_R
        "bc_right_im": w_bc * (dpsi_i / k_right - psi_r),  # (7) ÷ k_R
    }


def transmission(psi_r, psi_i, k_left, k_right):
    """T = (k_R/k_L)(ψr² + ψi²) at ξ = 1 (physics.md eq. 11)."""
    return (k_right / k_left) * (psi_r**2 + psi_i**2)
