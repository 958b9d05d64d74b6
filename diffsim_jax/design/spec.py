"""Design from specifications: a differentiable loss on I–V figures of merit (physics.md §12).

Instead of a whole target curve, a designer states figures of merit: where the current
peaks, how large the peak is, how strong the NDR is, how much power the device dissipates.
The hard definitions (physics.md eq. 6.9: argmax, min after the peak) are piecewise
constant in the design parameters, so they are replaced by smooth versions. With the
currents I_i at the sweep's biases V_i (i = 1 … K) and a current temperature
τ = ``temperature``·I_rms, I_rms = sqrt(mean_i I_i²) (eq. 12.7):

    w_i   = softmax_i(I_i/τ)                                   peak weights
    I_p   = Σ_i w_i I_i,           V_p = Σ_i w_i V_i           smooth peak current, peak bias
    a_i   = Σ_{j≤i} w_j                                        P(peak at or before bias i)
    u_i   = softmax_i(−[I_i + 2 I_p (1 − a_i)]/τ)              valley weights: smooth min after the peak
    I_v   = Σ_i u_i I_i,           PVR = I_p/(I_v + ε)         smooth valley, peak-to-valley ratio
    P̄     = mean_i(I_i V_i)                                    mean power (already smooth)

As τ → 0 these become argmax/max, the minimum after the peak and eq. 6.9. a_i is the
cumulative peak probability: a bias before the peak (a_i ≈ 0) enters the smooth minimum
as if its current were raised by 2 I_p, so it is suppressed by at least e^{−I_p/τ}
(≤ e^{−1/temperature}) against any bias after the peak, and cannot pull the valley
towards I(0) = 0, even when there is no NDR (then I_v ≈ I_p and PVR ≈ 1, as eq. 6.9).
Everything stays smooth when two biases exchange the roles of peak or valley. The loss is
a weighted sum of squared relative errors (eq. 12.8):

    L(θ) = Σ_k λ_k ((F_k(θ) − F*_k)/F*_k)² + w_P·P(θ)

Spec format (JSON or a dict; units in the key names; :func:`load_spec` validates it)::

    {
      "biases_V": {"start": 0.0, "stop": 0.6, "num": 25},   # or a list of biases; optional
      "targets": {"peak_bias_V": 0.3, "peak_current_uA": 3.0,
                  "peak_to_valley_ratio": 4.0, "mean_power_uW": 0.4},   # any non-empty subset
      "weights": {"peak_to_valley_ratio": 2.0},   # optional, default 1 per target
      "temperature": 0.02,                         # optional, τ/I_rms
      "description": "free text"                   # optional
    }
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from .loop import FitConfig, fit
from .metrics import mean_power_uW, peak_to_valley_ratio

#: Figures of merit a spec can target, with their units (in the key names).
FIGURES_OF_MERIT = ("peak_bias_V", "peak_current_uA", "peak_to_valley_ratio", "mean_power_uW")
SPEC_KEYS = ("biases_V", "targets", "weights", "temperature", "description")
DEFAULT_TEMPERATURE = 0.02
DEFAULT_SWEEP = {"start": 0.0, "stop": 0.6, "num": 25}


@dataclasses.dataclass(frozen=True)
class DesignSpec:
    """A validated specification (hashable; see the module docstring for the JSON format).

    Attributes:
      biases_V: the sweep (V), strictly increasing, ≥ 0.
      targets: ((name, value), …) in the order of ``FIGURES_OF_MERIT``.
      weights: ((name, λ), …) for the same names.
      temperature: τ/I_rms of the smooth max/min (physics.md eq. 12.7).
      description: free text.
    """

    biases_V: tuple
    targets: tuple
    weights: tuple
    temperature: float = DEFAULT_TEMPERATURE
    description: str = ""

    @property
    def target_dict(self) -> dict:
        return dict(self.targets)

    @property
    def weight_dict(self) -> dict:
        return dict(self.weights)

    def to_dict(self) -> dict:
        """The JSON form (``load_spec(spec.to_dict()) == spec``)."""
        d = {"biases_V": list(self.biases_V), "targets": self.target_dict, "weights": self.weight_dict,
             "temperature": self.temperature}
        if self.description:
            d["description"] = self.description
        return d


def _number(where: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{where} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{where} must be finite, got {value!r}")
    return value


def _biases(value) -> tuple:
    if value is None:
        value = DEFAULT_SWEEP
    if isinstance(value, dict):
        unknown = sorted(set(value) - {"start", "stop", "num"})
        missing = sorted({"start", "stop", "num"} - set(value))
        if unknown or missing:
            raise ValueError(
                "spec 'biases_V' as an object needs exactly the keys start, stop, num"
                + (f"; unknown: {', '.join(unknown)}" if unknown else "")
                + (f"; missing: {', '.join(missing)}" if missing else "")
            )
        start = _number("spec 'biases_V.start'", value["start"])
        stop = _number("spec 'biases_V.stop'", value["stop"])
        num = value["num"]
        if isinstance(num, bool) or not isinstance(num, int) or num < 3:
            raise ValueError(f"spec 'biases_V.num' must be an integer >= 3, got {num!r}")
        biases = np.linspace(start, stop, num)
    elif isinstance(value, (list, tuple)):
        biases = np.array([_number(f"spec 'biases_V[{i}]'", v) for i, v in enumerate(value)])
        if biases.size < 3:
            raise ValueError(f"spec 'biases_V' needs at least 3 biases, got {biases.size}")
    else:
        raise ValueError(f"spec 'biases_V' must be a list of biases or {{start, stop, num}}, got {value!r}")
    if np.any(biases < 0):
        raise ValueError(f"spec 'biases_V' must be >= 0 V (the 0 K current of physics.md §5), got min {biases.min()}")
    if np.any(np.diff(biases) <= 0):
        raise ValueError("spec 'biases_V' must be strictly increasing")
    return tuple(float(v) for v in biases)


def load_spec(spec) -> DesignSpec:
    """Read and validate a spec: a path to a JSON file, a JSON string's parsed dict, or a :class:`DesignSpec`.

    Raises ``ValueError`` with the offending key for: unreadable or invalid JSON, unknown
    keys (top level, ``targets``, ``weights``), non-numbers, NaN/inf, an empty target set,
    a peak bias outside the sweep (or at its last bias when a peak-to-valley ratio is
    asked for: the valley needs a bias after the peak), a peak current or power ≤ 0
    (the 0 K current is ≥ 0 for V ≥ 0), a peak-to-valley ratio < 1, a mean power above
    peak current × mean bias (unreachable, since I_i ≤ I_peak), negative or all-zero
    weights, a weight for a figure that has no target, or a temperature outside (0, 1].
    """
    if isinstance(spec, DesignSpec):
        spec = spec.to_dict()
    if isinstance(spec, (str, os.PathLike)):
        path = os.fspath(spec)
        try:
            with open(path, encoding="utf-8") as f:
                spec = json.load(f)
        except OSError as err:
            raise ValueError(f"cannot read spec file {path}: {err}") from err
        except json.JSONDecodeError as err:
            raise ValueError(f"spec file {path} is not valid JSON: {err}") from err
    if not isinstance(spec, dict):
        raise ValueError(f"a spec must be a JSON object (dict), got {type(spec).__name__}")
    unknown = sorted(set(spec) - set(SPEC_KEYS))
    if unknown:
        raise ValueError(f"unknown spec key(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(SPEC_KEYS)}")
    biases = _biases(spec.get("biases_V"))

    targets = spec.get("targets")
    if not isinstance(targets, dict) or not targets:
        raise ValueError(f"spec 'targets' must be a non-empty object with keys from {FIGURES_OF_MERIT}")
    unknown = sorted(set(targets) - set(FIGURES_OF_MERIT))
    if unknown:
        raise ValueError(
            f"unknown spec target(s) {', '.join(map(repr, unknown))}; known: {', '.join(FIGURES_OF_MERIT)}")
    t = {k: _number(f"spec target '{k}'", targets[k]) for k in FIGURES_OF_MERIT if k in targets}
    v_lo, v_hi = biases[0], biases[-1]
    if "peak_bias_V" in t:
        vp = t["peak_bias_V"]
        if not v_lo < vp <= v_hi:
            raise ValueError(
                f"spec target 'peak_bias_V' = {vp} V is unreachable: it must lie in the sweep ({v_lo}, {v_hi}] V "
                "(I(0) = 0, so the peak cannot sit at zero bias)"
            )
        if "peak_to_valley_ratio" in t and vp >= v_hi:
            raise ValueError(
                f"spec target 'peak_bias_V' = {vp} V is at the end of the sweep, so no valley follows it; "
                "'peak_to_valley_ratio' needs a peak below the last bias"
            )
    if "peak_current_uA" in t and not t["peak_current_uA"] > 0:
        raise ValueError(
            "spec target 'peak_current_uA' must be > 0 µA (the 0 K current is >= 0 for V >= 0), "
            f"got {t['peak_current_uA']}"
        )
    if "mean_power_uW" in t:
        if not t["mean_power_uW"] > 0:
            raise ValueError(f"spec target 'mean_power_uW' must be > 0 µW, got {t['mean_power_uW']}")
        if "peak_current_uA" in t and t["mean_power_uW"] > t["peak_current_uA"] * float(np.mean(biases)):
            raise ValueError(
                f"spec targets are inconsistent: 'mean_power_uW' = {t['mean_power_uW']} exceeds "
                f"'peak_current_uA' × mean bias = {t['peak_current_uA'] * float(np.mean(biases)):.4g} µW "
                "(every current is at most the peak current)"
            )
    if "peak_to_valley_ratio" in t and not t["peak_to_valley_ratio"] >= 1.0:
        raise ValueError(f"spec target 'peak_to_valley_ratio' must be >= 1, got {t['peak_to_valley_ratio']}")

    weights = spec.get("weights", {})
    if not isinstance(weights, dict):
        raise ValueError(f"spec 'weights' must be an object, got {weights!r}")
    unknown = sorted(set(weights) - set(FIGURES_OF_MERIT))
    if unknown:
        raise ValueError(
            f"unknown spec weight(s) {', '.join(map(repr, unknown))}; known: {', '.join(FIGURES_OF_MERIT)}")
    orphan = sorted(set(weights) - set(t))
    if orphan:
        raise ValueError(f"spec weight(s) {', '.join(map(repr, orphan))} have no target")
    w = {k: _number(f"spec weight '{k}'", weights.get(k, 1.0)) for k in t}
    if any(v < 0 for v in w.values()) or not any(v > 0 for v in w.values()):
        raise ValueError(f"spec weights must be >= 0 and not all zero, got {w}")

    temperature = _number("spec 'temperature'", spec.get("temperature", DEFAULT_TEMPERATURE))
    if not 0.0 < temperature <= 1.0:
        raise ValueError(f"spec 'temperature' (τ/I_rms) must lie in (0, 1], got {temperature}")
    description = spec.get("description", "")
    if not isinstance(description, str):
        raise ValueError(f"spec 'description' must be a string, got {description!r}")
    return DesignSpec(biases, tuple(t.items()), tuple(w.items()), temperature, description)


# --------------------------------------------------------------------------------------
# Smooth figures of merit
# --------------------------------------------------------------------------------------
def smooth_figures_of_merit(biases_V, currents_uA, temperature: float = DEFAULT_TEMPERATURE) -> dict:
    """Smooth I_p, V_p, I_v, PVR and P̄ of physics.md eq. 12.7 (pure, jit/grad-safe).

    Returns {"peak_current_uA", "peak_bias_V", "valley_current_uA", "peak_to_valley_ratio",
    "mean_power_uW"} as JAX scalars.
    """
    v = jnp.asarray(biases_V)
    i = jnp.asarray(currents_uA)
    i_rms = jnp.sqrt(jnp.mean(i**2) + 1e-30)
    s = i / (temperature * i_rms)
    log_w = jax.nn.log_softmax(s)
    w = jnp.exp(log_w)
    i_peak = jnp.sum(w * i)
    v_peak = jnp.sum(w * v)
    after = jnp.cumsum(w)  # a_i = Σ_{j≤i} w_j, the probability that the peak is at or before i
    u = jax.nn.softmax(-(s + 2.0 * (i_peak / (temperature * i_rms)) * (1.0 - after)))
    i_valley = jnp.sum(u * i)
    return {
        "peak_current_uA": i_peak,
        "peak_bias_V": v_peak,
        "valley_current_uA": i_valley,
        "peak_to_valley_ratio": i_peak / (i_valley + 1e-9 * i_rms),
        "mean_power_uW": jnp.mean(i * v),
    }


def hard_figures_of_merit(biases_V, currents_uA) -> dict:
    """The sampled figures of merit (physics.md eq. 6.9) as floats, for reporting."""
    v = np.asarray(biases_V, float)
    i = np.asarray(currents_uA, float)
    k = int(np.argmax(i))
    return {
        "peak_bias_V": float(v[k]),
        "peak_current_uA": float(i[k]),
        "peak_to_valley_ratio": peak_to_valley_ratio(v, i),
        "mean_power_uW": mean_power_uW(v, i),
    }


def spec_loss(model, spec, observable: Callable, penalty_weight: float = 1.0) -> Callable:
    """L(θ) = Σ_k λ_k ((F_k − F*_k)/F*_k)² + w_P·P(θ) (physics.md eq. 12.8) for a device model.

    ``spec``: anything :func:`load_spec` accepts. ``observable(model, params, biases)``
    returns the (K,) currents in µA (e.g. :func:`diffsim_jax.observables.iv_observable`).
    Returns a pure, jit/grad-safe function of the model's parameters.
    """
    spec = load_spec(spec)
    biases = jnp.asarray(spec.biases_V)
    names = [k for k, _ in spec.targets]
    targets = jnp.asarray([v for _, v in spec.targets])
    weights = jnp.asarray([spec.weight_dict[k] for k in names])

    def loss(params):
        fom = smooth_figures_of_merit(biases, observable(model, params, biases), spec.temperature)
        achieved = jnp.stack([fom[k] for k in names])
        return jnp.sum(weights * ((achieved - targets) / targets) ** 2) + penalty_weight * model.penalty(params)

    return loss


def spec_report(spec, currents_uA) -> dict:
    """{figure: {"target", "achieved" (sampled, eq. 6.9), "smooth" (eq. 12.7), "relative_error"}}."""
    spec = load_spec(spec)
    hard = hard_figures_of_merit(spec.biases_V, currents_uA)
    smooth = {k: float(v) for k, v in smooth_figures_of_merit(spec.biases_V, currents_uA, spec.temperature).items()}
    return {
        k: {"target": t, "achieved": hard[k], "smooth": smooth[k], "relative_error": (hard[k] - t) / t}
        for k, t in spec.targets
    }


def design_to_spec(model, spec, init_params, observable: Callable, fit_config=None, *, penalty_weight: float = 1.0,
                   progress: bool | None = None) -> tuple[Any, dict]:
    """Design ``model`` from ``init_params`` to meet ``spec``: returns (FitResult, :func:`spec_report`).

    The optimiser is :func:`diffsim_jax.design.fit` (AdaBelief, then L-BFGS); this is what
    ``qtbm design --spec spec.json`` runs.
    """

    spec = load_spec(spec)
    res = fit(spec_loss(model, spec, observable, penalty_weight), model.normalization(init_params),
              fit_config or FitConfig(), progress=progress, desc="spec design")
    params = jax.tree_util.tree_map(jnp.asarray, res.params)
    biases = jnp.asarray(spec.biases_V)
    currents = np.asarray(jax.jit(lambda p: observable(model, p, biases))(params))
    return res, spec_report(spec, currents)
