"""Design: the one optimisation loop, losses, the paper's design and spec design (physics.md §6, §12).

* :mod:`.loop` — :func:`optimize` (stages of Optax transformations, backtracking, best
  iterate, monitor, progress bar), :func:`design_model`, :func:`fit` (AdaBelief then L-BFGS);
* :mod:`.losses` — :func:`iv_loss`, :func:`transmission_loss`, :func:`fixed_fermi_level`;
* :mod:`.paper` — the paper's design of Figs. 4–5 (:func:`design`);
* :mod:`.spec` — designs from figures of merit (peak bias, PVR, power);
* :mod:`.metrics` — peak/valley and power of an I–V curve.
"""

from .loop import (
    FitConfig,
    FitResult,
    OptimizeResult,
    Stage,
    adabelief,
    design_model,
    fit,
    lbfgs,
    optimize,
)
from .losses import fixed_fermi_level, iv_loss, transmission_loss
from .metrics import mean_power_uW, ndr_figures, peak_to_valley_ratio, peak_valley
from .paper import (
    DesignConfig,
    DesignResult,
    Normalization,
    default_optimizer,
    design,
    make_loss,
    window_penalty,
)
from .spec import DesignSpec, design_to_spec, load_spec, spec_loss, spec_report

__all__ = [
    "DesignConfig", "DesignResult", "DesignSpec", "FitConfig", "FitResult", "Normalization", "OptimizeResult",
    "Stage", "adabelief", "default_optimizer", "design", "design_model", "design_to_spec", "fit",
    "fixed_fermi_level", "iv_loss", "lbfgs", "load_spec", "make_loss", "mean_power_uW", "ndr_figures",
    "optimize", "peak_to_valley_ratio", "peak_valley", "spec_loss", "spec_report", "transmission_loss",
    "window_penalty",
]
