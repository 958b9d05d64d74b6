"""Configuration of the physics-informed inverse problem (physics.md §7) and its three profiles.

Units: eV, nm. ``PINNConfig()`` is the ``default`` profile; ``PINNConfig.from_profile``
gives ``quick`` (CI smoke test), ``default`` (``python reproduce.py``) and ``paper`` (the
hyperparameters of the paper's table, "PINNs" column). Every field is validated in
``__post_init__`` and a bad value raises ``ValueError`` naming the field.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from diffsim_jax.physics.constants import kinetic_prefactor

PROFILES = ("quick", "default", "paper")
ANSATZES = ("none", "wkb")
FORWARD_POTENTIALS = ("ramp", "reference")
ACTIVATIONS = ("tanh", "sin", "sigmoid", "gelu", "swish")
DTYPES = ("float32", "float64")

#: Names of the loss terms, in the order they enter the SciANN model (physics.md eqs. 4–11).
LOSS_TERMS = (
    "schrodinger_re",  # (8)
    "schrodinger_im",  # (9)
    "continuity",  # (10)
    "bc_left_re",  # (4)
    "bc_left_im",  # (5)
    "bc_right_re",  # (6)
    "bc_right_im",  # (7)
    "target",  # (11)
)


@dataclasses.dataclass(frozen=True)
class PINNConfig:
    """Everything that defines one training run (physics.md §7). Units: eV, nm, seconds.

    Physics
      length_nm: device length L.
      m_eff: effective mass in units of m0; C = ħ²/(2m₀)/m_eff eV·nm² (physics.md eq. 1.1).
      bias_V: terminal potentials U(0) = 0 and U(L) = −bias_V eV (paper: 0.375).
      energy_min_eV, energy_max_eV: energy window of the target T*(E); E > 0 keeps k_L > 0.
      ref_height_eV, ref_center_frac, ref_width_frac: the reference potential that defines
        the target, bare ramp + Gaussian barrier (height, centre/L, standard deviation/L);
        see :mod:`pinn_sciann.targets`.

    Networks (physics.md §7)
      hidden_layers: widths of the hidden layers of each of ψr, ψi and U (paper: 8 × 20).
      activation: hidden-layer activation.
      fourier_features, fourier_std, fourier_mean: rows of B and its normal distribution
        (paper: 20, 1, 0). Features are [sin(2πBv), cos(2πBv)], v = (x/L, Ê).
      ansatz: "none" — the networks are ψr and ψi themselves; "wkb" — ψ = e^{iθ(x,E)}(a + ib)
        with θ the WKB phase of the bare bias ramp, so a and b vary slowly.
      potential_scale_eV: U = ramp + x̂(1 − x̂)·potential_scale_eV·N_U(x̂).

    Training
      forward_potential: U of the forward stages: "ramp" (the bare ramp, where the inverse
        stages start) or "reference" (a diagnostic forward problem with the reference
        potential known; only without inverse stages).
      learning_rate: Adam step (paper: 0.001).
      lr_decay: within each Adam stage the step falls from learning_rate to
        learning_rate·lr_decay (1: constant): the exponential envelope's values at the ends of
        each monitoring chunk, linearly interpolated in between by SciANN (per Keras epoch).
      forward_steps: Adam steps on the forward problem (U fixed to the bare ramp).
      forward_lbfgs_steps: L-BFGS-B iterations on the forward problem after its Adam steps.
      inverse_steps: Adam steps on the inverse problem (U trainable, target on).
      lbfgs_steps: full-batch L-BFGS-B iterations after Adam on the inverse problem.
      n_samples: interior collocation points (x, E) (paper: 20000).
      n_boundary: energies sampled on each edge x = 0 and x = L.
      steps_per_epoch: Adam steps per Keras epoch (full batch each step).
      weight_pde, weight_continuity, weight_bc, weight_target: loss weights of the scaled
        terms (Schrödinger, continuity, boundary conditions, target).
      dtype: TensorFlow float type.
      seed: seeds NumPy, TensorFlow and the Fourier matrices B.

    Evaluation
      n_fd: grid points of the finite-difference confirmation (paper table: n = 1000).
      n_eval_energies: energies on which the T(E) curves are reported.
      monitor_every: run the FD confirmation every this many optimizer steps (Adam steps are
        rounded to whole epochs; 0: only at the end of each stage).
      max_train_seconds: wall-time budget; when it is spent, the running stage stops and the
        remaining stages are skipped (0: no limit).
    """

    profile: str = "default"
    # physics
    length_nm: float = 10.0
    m_eff: float = 0.067
    bias_V: float = 0.375
    energy_min_eV: float = 0.02
    energy_max_eV: float = 0.4
    ref_height_eV: float = 0.3
    ref_center_frac: float = 0.4
    ref_width_frac: float = 0.15
    # networks
    hidden_layers: tuple[int, ...] = (20,) * 8
    activation: str = "tanh"
    fourier_features: int = 20
    fourier_std: float = 1.0
    fourier_mean: float = 0.0
    ansatz: str = "wkb"
    potential_scale_eV: float = 0.375
    # training
    forward_potential: str = "ramp"
    learning_rate: float = 1e-3
    lr_decay: float = 0.1
    forward_steps: int = 1000
    forward_lbfgs_steps: int = 1000
    inverse_steps: int = 1000
    lbfgs_steps: int = 2000
    n_samples: int = 4000
    n_boundary: int = 200
    steps_per_epoch: int = 50
    weight_pde: float = 1.0
    weight_continuity: float = 1.0
    weight_bc: float = 1.0
    weight_target: float = 1.0
    dtype: str = "float32"
    seed: int = 1234
    # evaluation
    n_fd: int = 1000
    n_eval_energies: int = 100
    monitor_every: int = 250
    max_train_seconds: float = 1080.0

    # ------------------------------------------------------------------ validation
    def __post_init__(self):
        if self.profile not in PROFILES:
            raise ValueError(f"PINNConfig.profile must be one of {PROFILES}, got {self.profile!r}")
        for name in ("length_nm", "m_eff", "bias_V", "energy_max_eV", "ref_width_frac", "potential_scale_eV",
                     "learning_rate", "fourier_std"):
            _check_real(name, getattr(self, name), positive=True)
        for name in ("energy_min_eV", "ref_height_eV", "fourier_mean", "ref_center_frac"):
            _check_real(name, getattr(self, name))
        for name in ("weight_pde", "weight_continuity", "weight_bc", "weight_target", "max_train_seconds"):
            _check_real(name, getattr(self, name), nonnegative=True)
        if not self.energy_min_eV > 0.0:
            raise ValueError(
                f"PINNConfig.energy_min_eV must be > 0 (k_L = sqrt(E/C) must not vanish), got {self.energy_min_eV!r}"
            )
        if not self.energy_min_eV < self.energy_max_eV:
            raise ValueError(
                f"PINNConfig.energy_max_eV must exceed energy_min_eV, got {self.energy_min_eV!r} .. {self.energy_max_eV!r}"
            )
        if not 0.0 < self.ref_center_frac < 1.0:
            raise ValueError(f"PINNConfig.ref_center_frac must lie in (0, 1), got {self.ref_center_frac!r}")
        if not 0.0 < self.lr_decay <= 1.0:
            raise ValueError(f"PINNConfig.lr_decay must lie in (0, 1], got {self.lr_decay!r}")
        if self.weight_pde == 0.0:
            raise ValueError("PINNConfig.weight_pde must be > 0: without the Schrödinger residual there is no physics")
        if not (isinstance(self.hidden_layers, tuple) and len(self.hidden_layers) >= 1
                and all(_is_int(n) and n >= 1 for n in self.hidden_layers)):
            raise ValueError(
                f"PINNConfig.hidden_layers must be a non-empty tuple of positive integers, got {self.hidden_layers!r}"
            )
        for name, minimum in (("fourier_features", 1), ("forward_steps", 0), ("forward_lbfgs_steps", 0), ("inverse_steps", 0),
                              ("lbfgs_steps", 0), ("n_samples", 10), ("n_boundary", 2), ("steps_per_epoch", 1),
                              ("n_fd", 3), ("n_eval_energies", 2), ("monitor_every", 0), ("seed", 0)):
            value = getattr(self, name)
            if not _is_int(value) or value < minimum:
                raise ValueError(f"PINNConfig.{name} must be an integer >= {minimum}, got {value!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"PINNConfig.activation must be one of {ACTIVATIONS}, got {self.activation!r}")
        if self.ansatz not in ANSATZES:
            raise ValueError(f"PINNConfig.ansatz must be one of {ANSATZES}, got {self.ansatz!r}")
        if self.forward_potential not in FORWARD_POTENTIALS:
            raise ValueError(
                f"PINNConfig.forward_potential must be one of {FORWARD_POTENTIALS}, got {self.forward_potential!r}"
            )
        if self.forward_potential == "reference" and self.inverse_steps + self.lbfgs_steps > 0:
            raise ValueError(
                "PINNConfig.forward_potential='reference' is a forward-only diagnostic: "
                "set inverse_steps = lbfgs_steps = 0"
            )
        if self.dtype not in DTYPES:
            raise ValueError(f"PINNConfig.dtype must be one of {DTYPES}, got {self.dtype!r}")
        # The FD confirmation grid must resolve the highest energy (physics.md §3: no energy above
        # the lattice band top; in practice a few points per wavelength).
        c = kinetic_prefactor(self.m_eff)
        k_max = math.sqrt((self.energy_max_eV + self.bias_V + max(self.ref_height_eV, 0.0)) / c)
        spacing = self.length_nm / (self.n_fd - 1)
        if k_max * spacing > 0.5:
            raise ValueError(
                f"PINNConfig.n_fd = {self.n_fd} is too coarse for energies up to {self.energy_max_eV} eV on "
                f"L = {self.length_nm} nm (k·a = {k_max * spacing:.2f} > 0.5); use more points"
            )

    # ------------------------------------------------------------------ derived values
    @classmethod
    def from_profile(cls, name: str, **overrides: Any) -> "PINNConfig":
        """The named profile ("quick", "default", "paper"), optionally with fields overridden."""
        if name not in PROFILES:
            raise ValueError(f"profile must be one of {PROFILES}, got {name!r}")
        fields = dict(_PROFILE_FIELDS[name])
        fields.update(overrides)
        return cls(profile=name, **fields)

    def replace(self, **changes: Any) -> "PINNConfig":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    @property
    def kinetic_prefactor(self) -> float:
        """C = ħ²/(2m*) in eV·nm² (physics.md eq. 1.1)."""
        return kinetic_prefactor(self.m_eff)

    @property
    def energy_scale_eV(self) -> float:
        """E_s, the energy unit inside the network: the bias (physics.md §7)."""
        return self.bias_V

    @property
    def kappa0(self) -> float:
        """κ0 = L·sqrt(E_s/C): the dimensionless wavenumber of kinetic energy E_s."""
        return self.length_nm * math.sqrt(self.energy_scale_eV / self.kinetic_prefactor)

    @property
    def total_adam_steps(self) -> int:
        return self.forward_steps + self.inverse_steps

    @property
    def total_lbfgs_steps(self) -> int:
        return self.forward_lbfgs_steps + self.lbfgs_steps

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["hidden_layers"] = list(self.hidden_layers)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "PINNConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown PINNConfig field(s): {', '.join(unknown)}")
        d = dict(d)
        if "hidden_layers" in d:
            d["hidden_layers"] = tuple(d["hidden_layers"])
        return cls(**d)

    def hyperparameter_rows(self) -> list[tuple[str, str]]:
        """Rows of the paper's hyperparameter table ("PINNs" column) for this configuration.

        The first four rows are the paper's; rows in parentheses are choices the paper does not state.
        """
        layers = self.hidden_layers
        if len(set(layers)) == 1:
            size = f"[{len(layers)}X{layers[0]}]"
        else:
            size = "[" + "-".join(str(n) for n in layers) + "]"
        steps = f"{self.total_adam_steps}"
        if self.total_lbfgs_steps:
            steps += f" Adam + {self.total_lbfgs_steps} L-BFGS"
        if self.lr_decay == 1.0:
            schedule = f"{_fmt(self.learning_rate)} constant"
        else:
            schedule = (f"{_fmt(self.learning_rate)} → {_fmt(self.learning_rate * self.lr_decay)} "
                        "(exponential envelope, linear within each monitoring chunk)")
        return [
            ("NN size (all)", size),
            ("n", f"{self.n_fd}"),
            ("FF(samples,std.dev.,mean)", f"{self.fourier_features},{_fmt(self.fourier_std)},{_fmt(self.fourier_mean)}"),
            ("Train(step,iterations,samples)", f"{_fmt(self.learning_rate)},{steps},{self.n_samples}"),
            ("(samples: interior + 2 edges × energies)", f"{self.n_samples} + 2×{self.n_boundary}"),
            ("(forward stage, U = bare ramp)", f"{self.forward_steps} Adam + {self.forward_lbfgs_steps} L-BFGS"),
            ("(inverse stage, U trainable)", f"{self.inverse_steps} Adam + {self.lbfgs_steps} L-BFGS"),
            ("(Adam step)", schedule),
            ("(ψ ansatz)", "WKB phase of the bare ramp" if self.ansatz == "wkb" else "none"),
            ("(L, bias, energy window)", f"{_fmt(self.length_nm)} nm, {_fmt(self.bias_V)} V, "
                                         f"{_fmt(self.energy_min_eV)}–{_fmt(self.energy_max_eV)} eV"),
            ("(wall-time budget)", f"{_fmt(self.max_train_seconds)} s" if self.max_train_seconds else "none"),
        ]

    def profile_note(self) -> str:
        """Why this profile differs from the paper's table (for the generated table and the README)."""
        return PROFILE_NOTES[self.profile]


def _fmt(v: float) -> str:
    return f"{v:g}"


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_real(name, value, positive=False, nonnegative=False):
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok and positive:
        ok = value > 0
    if ok and nonnegative:
        ok = value >= 0
    if not ok:
        cond = " > 0" if positive else (" >= 0" if nonnegative else "")
        raise ValueError(f"PINNConfig.{name} must be a finite number{cond}, got {value!r}")


#: Why each profile is what it is (printed under the generated hyperparameter table).
PROFILE_NOTES = {
    "paper": "`paper` is the paper's table: 20000 Adam iterations (5000 on the forward problem, then 15000 "
             "on the inverse one) at a constant step 0.001 on 20000 samples.",
    "default": "`default` keeps the paper's networks, features, step and n, but uses 4000 instead of 20000 "
               "samples and replaces most Adam steps by full-batch L-BFGS-B: the paper's profile takes 57 minutes "
               "on this 2-core CPU and its constant-step Adam stalls at rmse_fd_vs_target ≈ 0.02 (README); the "
               "default reaches 0.005 in about 10 minutes.",
    "quick": "`quick` is a CI smoke test (under 3 minutes): half the depth, a quarter of the samples, "
             "400 FD points; it does not reach the default's accuracy.",
}

#: Field values of each profile (the rest are the dataclass defaults = "default" profile).
_PROFILE_FIELDS: dict[str, dict[str, Any]] = {
    "default": {},
    "quick": dict(
        hidden_layers=(20,) * 4,
        forward_steps=300,
        forward_lbfgs_steps=300,
        inverse_steps=300,
        lbfgs_steps=600,
        n_samples=1000,
        n_boundary=64,
        n_fd=400,
        n_eval_energies=50,
        monitor_every=0,
        max_train_seconds=160.0,
    ),
    "paper": dict(
        hidden_layers=(20,) * 8,
        fourier_features=20,
        fourier_std=1.0,
        fourier_mean=0.0,
        learning_rate=1e-3,
        lr_decay=1.0,
        forward_steps=5000,
        forward_lbfgs_steps=0,
        inverse_steps=15000,
        lbfgs_steps=0,
        max_train_seconds=0.0,
        n_samples=20000,
        n_fd=1000,
    ),
}
