"""The SciANN graph of the physics-informed inverse problem (physics.md §2, §7).

Everything inside the networks is dimensionless:

    ξ = x/L ∈ [0, 1],   Ê = (E − E_min)/(E_max − E_min) ∈ [0, 1]     (network inputs)
    ε = E/E_s,  u = U/E_s,  E_s = bias (0.375 eV),  κ0 = L·sqrt(E_s/C)
    k̂_L = k_L·L = κ0·sqrt(ε − u_L),   k̂_R = k_R·L = κ0·sqrt(ε − u_R)       (physics.md eqs. 2, 3)

Networks (each ``hidden_layers`` deep, tanh, on Gaussian Fourier features, physics.md §7):

* a(ξ, Ê), b(ξ, Ê): the wavefunction. With ``ansatz="none"`` ψr = a and ψi = b. With
  ``ansatz="wkb"`` ψ = e^{iθ}(a + ib), i.e. ψr = a·cos θ − b·sin θ, ψi = a·sin θ + b·cos θ,
  where θ(ξ, E) = ∫₀^ξ k̂_ramp(s) ds = κ0·(2/(3v))·[(ε + vξ)^{3/2} − ε^{3/2}] is the WKB
  phase of the bare ramp (v = V/E_s). θ' = k̂_L at ξ = 0 and k̂_R at ξ = 1, so the fast
  carrier of a wave travelling to the right is analytic and a, b only carry the slow
  envelope and the reflected part.
* N_U(ξ): the potential, u(ξ) = −vξ + ξ(1 − ξ)·(U_scale/E_s)·N_U(ξ), which pins U(0) = 0
  and U(L) = −V exactly (physics.md §7). The output layer of N_U starts at zero, so U starts as
  the bare ramp.

The loss terms and their scaling are in :mod:`pinn_sciann.losses`.
"""

from __future__ import annotations

import numpy as np

from diffsim_jax.physics.shapes import bias_ramp

from .compat import import_sciann
from .config import LOSS_TERMS, PINNConfig
from .features import fourier_features, gaussian_matrix
from .losses import residual_terms, transmission, wkb_phase

_ACTIVATION = {"tanh": "tanh", "sin": "sin", "sigmoid": "sigmoid", "gelu": "gelu", "swish": "swish"}


class PINNModel:
    """SciANN functionals for ψr, ψi, U and the loss terms, plus the SciModels that train them.

    Attributes:
      cfg: the configuration.
      B_psi: (rows, 2) Fourier matrix of the wavefunction networks (inputs ξ, Ê).
      B_u: (rows, 1) Fourier matrix of the potential network (input ξ).
    """

    def __init__(self, cfg: PINNConfig):
        sn = import_sciann()
        self.sn = sn
        self.cfg = cfg
        sn.reset_session()
        sn.set_floatx(cfg.dtype)
        sn.set_random_seed(cfg.seed)
        self.B_psi = gaussian_matrix(cfg.fourier_features, 2, cfg.fourier_std, cfg.fourier_mean, cfg.seed)
        self.B_u = gaussian_matrix(cfg.fourier_features, 1, cfg.fourier_std, cfg.fourier_mean, cfg.seed + 1)

        hidden = list(cfg.hidden_layers)
        act = _ACTIVATION[cfg.activation]
        xi = sn.Variable("xi", dtype=cfg.dtype)
        e_hat = sn.Variable("e_hat", dtype=cfg.dtype)
        self.xi, self.e_hat = xi, e_hat

        # --- wavefunction networks on Fourier features of (ξ, Ê)
        ff_psi = fourier_features([xi, e_hat], self.B_psi, "ff_psi")
        self.net_a = sn.Functional("psi_a", ff_psi, hidden, act)
        self.net_b = sn.Functional("psi_b", ff_psi, hidden, act)

        # --- dimensionless energy, lead wavenumbers (physics.md eqs. 2, 3; u_L = 0, u_R = −v)
        es = cfg.energy_scale_eV
        v = cfg.bias_V / es
        k0 = cfg.kappa0
        self.v, self.k0 = v, k0
        eps = e_hat * ((cfg.energy_max_eV - cfg.energy_min_eV) / es) + cfg.energy_min_eV / es
        self.eps = eps
        self.k_left = k0 * sn.sqrt(eps)
        self.k_right = k0 * sn.sqrt(eps + v)

        if cfg.ansatz == "wkb":
            theta = wkb_phase(eps, xi, k0, v)
            cos_t, sin_t = sn.cos(theta), sn.sin(theta)
            self.psi_r = self.net_a * cos_t - self.net_b * sin_t
            self.psi_i = self.net_a * sin_t + self.net_b * cos_t
        else:
            self.psi_r, self.psi_i = self.net_a, self.net_b

        # --- potential network on Fourier features of ξ, pinned at both terminals
        ff_u = fourier_features([xi], self.B_u, "ff_u")
        self.net_u = sn.Functional("u_net", ff_u, hidden, act)
        out = self.net_u.layers[-1]
        out.set_weights([np.zeros_like(w) for w in out.get_weights()])
        self.u_ramp = bias_ramp(xi, v, 1.0)  # −vξ: physics.md eq. 4.5 in units of E_s and L
        self.u = self.u_ramp + (cfg.potential_scale_eV / es) * (xi * (1.0 - xi)) * self.net_u
        self.u_fixed = self.u_ramp if cfg.forward_potential == "ramp" else self._reference_u(xi)

        # --- derivatives (first ones shared by the BCs and the second derivatives)
        self.dpsi_r = sn.diff(self.psi_r, xi)
        self.dpsi_i = sn.diff(self.psi_i, xi)
        self.d2psi_r = sn.diff(self.dpsi_r, xi)
        self.d2psi_i = sn.diff(self.dpsi_i, xi)
        self.transmission = transmission(self.psi_r, self.psi_i, self.k_left, self.k_right)  # (11)
        self._eval_cache: dict = {}
        self._terms_cache: dict = {}

    def _reference_u(self, xi):
        """The reference potential of :mod:`pinn_sciann.targets` as a SciANN functional, in units of E_s
        (only for the diagnostic forward problem ``forward_potential="reference"``)."""
        sn, cfg = self.sn, self.cfg
        c, w = cfg.ref_center_frac, cfg.ref_width_frac

        def g(t):
            return np.exp(-((t - c) ** 2) / (2.0 * w**2))

        bump = sn.exp(((xi - c) ** 2) * (-1.0 / (2.0 * w**2))) - (g(0.0) * (1.0 - xi) + g(1.0) * xi)
        return self.u_ramp + (cfg.ref_height_eV / cfg.energy_scale_eV) * bump

    # ------------------------------------------------------------------ loss terms
    def terms(self, u, with_target: bool) -> dict:
        """Scaled residual functionals of physics.md eqs. (4)–(11) for the potential functional ``u``."""
        cfg = self.cfg
        weights = tuple(float(np.sqrt(w)) for w in (cfg.weight_pde, cfg.weight_continuity, cfg.weight_bc))
        t = residual_terms(self.psi_r, self.psi_i, self.dpsi_r, self.dpsi_i, self.d2psi_r, self.d2psi_i,
                           self.eps, u, self.k_left, self.k_right, self.k0, weights)
        if with_target:
            t["target"] = float(np.sqrt(cfg.weight_target)) * self.transmission  # (11), against √w·T*
        return t

    def scimodel(self, inverse: bool, optimizer: str = "adam"):
        """A SciModel over (ξ, Ê). Forward: U is fixed (the bare ramp, or the reference potential
        when ``forward_potential="reference"``) and there is no target term.
        Inverse: U is the network and the target (11) is on. Networks are shared."""
        sn = self.sn
        terms = self.terms(self.u if inverse else self.u_fixed, with_target=inverse)
        names = [n for n in LOSS_TERMS if n in terms]
        constraints = [sn.Data(terms[n], name=n) for n in names]
        model = sn.SciModel([self.xi, self.e_hat], constraints, loss_func="mse", optimizer=optimizer)
        return model, names

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, functionals, xi, e_hat) -> list[np.ndarray]:
        """Values of SciANN functionals at the points (ξ, Ê), as flat float64 arrays.

        Functionals built on other functionals keep those as their SciANN "inputs", so they
        are evaluated from the two Variables with a Keras backend function instead of
        ``Functional.eval``.
        """
        from keras import backend as K  # noqa: PLC0415

        xi = np.asarray(xi, float).reshape(-1, 1)
        e_hat = np.broadcast_to(np.asarray(e_hat, float).reshape(-1, 1), xi.shape)
        key = tuple(id(f) for f in functionals)
        fn = self._eval_cache.get(key)
        if fn is None:
            outputs = [f.outputs[0] for f in functionals]
            fn = K.function(self.xi.outputs + self.e_hat.outputs, outputs)
            self._eval_cache[key] = fn
        dtype = np.float32 if self.cfg.dtype == "float32" else np.float64
        out = fn([xi.astype(dtype), np.ascontiguousarray(e_hat, dtype=dtype)])
        return [np.asarray(o, dtype=float).ravel() for o in out]

    def wavefunction(self, xi, e_hat):
        """(ψr, ψi) at the points (ξ, Ê)."""
        return tuple(self.evaluate([self.psi_r, self.psi_i], xi, e_hat))

    def pinn_transmission(self, e_hat) -> np.ndarray:
        """T(E) = (k_R/k_L)(ψr(L)² + ψi(L)²) read from the networks at ξ = 1 (physics.md eq. 11)."""
        e_hat = np.asarray(e_hat, float).ravel()
        return self.evaluate([self.transmission], np.ones_like(e_hat), e_hat)[0]

    def potential_eV(self, xi) -> np.ndarray:
        """U(x) in eV at the points ξ = x/L."""
        xi = np.asarray(xi, float).ravel()
        return self.evaluate([self.u], xi, np.zeros_like(xi))[0] * self.cfg.energy_scale_eV

    def residuals(self, xi, e_hat, inverse: bool = True) -> dict:
        """Scaled residual of each physics term (physics.md eqs. 4–10) at the points (ξ, Ê).

        Boundary terms are returned everywhere; they are meaningful at ξ = 0 (4, 5) and ξ = 1 (6, 7).
        """
        if inverse not in self._terms_cache:
            self._terms_cache[inverse] = self.terms(self.u if inverse else self.u_fixed, with_target=False)
        terms = self._terms_cache[inverse]
        values = self.evaluate(list(terms.values()), xi, e_hat)
        return dict(zip(terms.keys(), values))
