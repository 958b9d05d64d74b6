"""The optimisation loop: one for every model, loss and optimiser (physics.md §6, §12).

Every design in the package — the paper's boxes, layer stacks, the self-consistent RTD,
free-form networks, spec designs and 2-D gate arrays — runs through :func:`optimize`:

* it minimises a pure ``loss(params)`` over the optimiser coordinates z of a
  ``normalization`` (``params = normalization.to_physical(z)``, z = 0 is the start);
* the optimiser is a sequence of :class:`Stage` s, each an Optax transformation run for
  a number of steps (:func:`adabelief` for the paper's schedule, :func:`lbfgs` for a
  polishing stage that starts from the best iterate so far);
* a step whose loss, gradient or update is not finite — or whose loss raises
  :class:`~diffsim_jax.validation.InfeasibleError` (a design the model cannot evaluate, e.g.
  a contact that lost charge neutrality) or :class:`~diffsim_jax.validation.NotConvergedError`
  (an inner solver that failed) — is undone: first-order stages
  retry the last good step at half its length, then a quarter, … (backtracking along
  the update; ``optax.apply_if_finite`` would evaluate the same point again and stay
  there for ever); L-BFGS restarts from the best iterate with a fresh memory, at most
  five times;
* the best finite iterate is tracked and returned, so the result is always finite;
  with ``max_failed_steps`` the loop gives up after that many consecutive failed steps
  (and L-BFGS after its restarts), keeping the best iterate and saying why in
  ``OptimizeResult.stopped`` — a design that did not converge;
* an optional ``monitor(params) -> {name: float}`` is called every ``monitor_every``
  steps and a ``target_loss`` stops the loop early; the progress bar is shown only
  when stderr is a terminal.

:func:`design_model` is the same loop for a device model (it supplies its own
coordinates). Losses live in :mod:`.losses`; the paper's design in :mod:`.paper`.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.tree_utils as otu
from tqdm.auto import tqdm

from ..validation import TRIAL_STEP_FAILURES

#: L-BFGS restarts from the best iterate after a non-finite step, at most this often.
MAX_LBFGS_RESTARTS = 5
#: Consecutive failed first-order steps after which ``qtbm`` designs give up (``max_failed_steps``):
#: the retried step is then 2⁻²⁰ ≈ 10⁻⁶ of the last good one.
MAX_FAILED_STEPS = 20


@dataclasses.dataclass(frozen=True)
class Stage:
    """One stage of :func:`optimize`.

    Attributes:
      name: the stage's name in ``OptimizeResult.stage_starts``.
      optimizer: an Optax transformation.
      steps: its number of steps (≥ 0; 0 skips the stage).
      line_search: True for ``optax.lbfgs`` (its update needs the value, the gradient and
        the loss itself; it starts from the best iterate so far and restarts there after
        a non-finite step); False for first-order transformations (backtracking).
    """

    name: str
    optimizer: optax.GradientTransformation
    steps: int
    line_search: bool = False

    def __post_init__(self):
        if not isinstance(self.steps, int) or isinstance(self.steps, bool) or self.steps < 0:
            raise ValueError(f"{self.name} steps must be an integer >= 0, got {self.steps!r}")


def adabelief(steps: int, learning_rate: float = 0.05, final_lr_fraction: float = 0.02) -> Stage:
    """AdaBelief with a cosine-decayed step from ``learning_rate`` to ``final_lr_fraction`` of it
    over ``steps`` (physics.md eqs. 6.7–6.8): the paper's optimiser."""
    schedule = optax.cosine_decay_schedule(learning_rate, steps, alpha=final_lr_fraction)
    return Stage("adabelief", optax.adabelief(schedule), steps)


def lbfgs(steps: int, memory: int = 30) -> Stage:
    """``optax.lbfgs`` (zoom line search) with ``memory`` pairs, from the best iterate so far."""
    return Stage("lbfgs", optax.lbfgs(memory_size=memory), steps, line_search=True)


@dataclasses.dataclass(frozen=True)
class OptimizeResult:
    """Outcome of :func:`optimize` / :func:`design_model`.

    Attributes:
      params: the iterate with the lowest finite loss (physical units of the model).
      loss_history: loss of each iterate *before* its update, all stages in order.
      best_iteration: index into ``loss_history`` of ``params``; −1 when the best is the
        iterate after the last update (evaluated only with ``evaluate_final=True``).
      best_loss: the loss of ``params``.
      seconds: wall time including compilation and monitoring.
      skipped: (len(loss_history),) True where the loss, gradient or update was not finite
        and the step was undone.
      stage_starts: stage name -> index of its first entry in ``loss_history``.
      step_seconds: (len(loss_history),) wall time from the start (compilation included) at
        which each step was done.
      evaluations: (len(loss_history),) value-and-gradient evaluations each step made (1 for
        a first-order step; for L-BFGS, those of its line search, plus the start's own).
      monitor: {"step", "seconds", and each key the monitor returns} as arrays; "seconds"
        counts from the start, compilation included.
      stopped: why the loop gave up before its last step ("" when it ran every step or
        reached ``target_loss``): too many consecutive failed steps, or L-BFGS out of restarts.
      failure: the message of the last trial step that raised (infeasible or not converged), or "".
    """

    params: Any
    loss_history: np.ndarray
    best_iteration: int
    seconds: float
    skipped: np.ndarray
    best_loss: float = np.nan
    stage_starts: dict = dataclasses.field(default_factory=dict)
    monitor: dict = dataclasses.field(default_factory=dict)
    stopped: str = ""
    failure: str = ""
    step_seconds: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    evaluations: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, int))

    @property
    def converged(self) -> bool:
        """False when the loop gave up (:attr:`stopped`): the result is the best iterate so far."""
        return not self.stopped

    @property
    def final_loss(self) -> float:
        """The loss at the last iteration (of the iterate before the last update)."""
        return float(self.loss_history[-1])

    @property
    def skipped_steps(self) -> int:
        """Iterations whose loss, gradient or update was not finite (their step was undone)."""
        return int(np.sum(self.skipped))


def strongly_typed(tree):
    """Cast every leaf to a strongly typed array: a weak-typed leaf whose type changes after
    the first update would make ``jit`` compile the step twice."""
    return jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype=jnp.result_type(a)), tree)


def _all_finite(*trees):
    ok = jnp.asarray(True)
    for leaf in jax.tree_util.tree_leaves(trees):
        ok = ok & jnp.all(jnp.isfinite(leaf))
    return ok


def _shorten(good, full, factor):
    """good + factor·(full − good): the backtracked iterate."""
    return jax.tree_util.tree_map(lambda g, f: g + factor * (f - g), good, full)


def _step_function(stage: Stage, loss_z: Callable, jit: bool):
    """(z, state) -> (z_new, state_new, loss(z), all finite, value-and-gradient evaluations made)
    for one step of ``stage``."""
    opt = stage.optimizer
    if stage.line_search:
        value_and_grad = optax.value_and_grad_from_state(loss_z)

        def step(z, state):
            value, grad = value_and_grad(z, state=state)
            updates, state = opt.update(grad, state, z, value=value, grad=grad, value_fn=loss_z)
            evaluations = otu.tree_get(state, "num_linesearch_steps", 1)
            return optax.apply_updates(z, updates), state, value, _all_finite(value, grad, updates), evaluations
    else:

        def step(z, state):
            value, grad = jax.value_and_grad(loss_z)(z)
            updates, state = opt.update(grad, state, z)
            return optax.apply_updates(z, updates), state, value, _all_finite(value, grad, updates), 1

    return jax.jit(step) if jit else step


def optimize(
    loss: Callable,
    normalization,
    stages: Stage | Sequence[Stage] | optax.GradientTransformation,
    iterations: int | None = None,
    *,
    monitor: Callable | None = None,
    monitor_every: int = 0,
    target_loss: float = 0.0,
    evaluate_final: bool = False,
    progress: bool | None = None,
    desc: str = "design",
    jit: bool = True,
    max_failed_steps: int | None = None,
) -> OptimizeResult:
    """Minimise ``loss(params)`` over the normalised coordinates z of ``normalization``.

    Args:
      loss: a pure function of the physical parameters.
      normalization: ``zeros()`` and ``to_physical(z)`` (z = 0 is the initial design).
      stages: a :class:`Stage`, a list of them, or a bare Optax transformation run for
        ``iterations`` steps (as one first-order stage).
      iterations: steps of a bare transformation (ignored for stages).
      monitor, monitor_every: ``monitor(params) -> {name: float}`` every this many steps
        (0: only on the returned iterate at the end); its cost counts in the wall time.
      target_loss: stop as soon as the loss is at or below this (0: never).
      evaluate_final: also evaluate the iterate after the last update (one more loss
        evaluation) and return it if it is the best.
      progress: tqdm bar; ``None`` shows it when stderr is a terminal.
      desc: the bar's label.
      jit: compile each stage's step (``False`` for losses that cannot be traced as a
        whole: the self-consistent model checks convergence in Python; its gradient still
        comes from the implicit function theorem, physics.md §11).
      max_failed_steps: give up (``OptimizeResult.stopped``) after this many consecutive
        failed steps of a first-order stage (None: never; each retry halves the step, so 20
        is a step of 10⁻⁶ of the last good one).

    The first iterate must have a finite loss and gradient (else ``ValueError``; an
    infeasible start raises its own :class:`~diffsim_jax.validation.InfeasibleError`);
    after that, failed steps are undone as described in the module docstring.
    """
    if max_failed_steps is not None and (not isinstance(max_failed_steps, int) or isinstance(max_failed_steps, bool)
                                         or max_failed_steps < 1):
        raise ValueError(f"max_failed_steps must be a positive integer or None, got {max_failed_steps!r}")
    if isinstance(stages, optax.GradientTransformation):
        if not isinstance(iterations, int) or isinstance(iterations, bool) or iterations < 1:
            raise ValueError(f"iterations must be a positive integer, got {iterations!r}")
        stages = [Stage("adabelief", stages, iterations)]
    elif isinstance(stages, Stage):
        stages = [stages]
    stages = list(stages)
    if sum(s.steps for s in stages) < 1:
        raise ValueError("optimize needs at least one step")

    def loss_z(z):
        return loss(normalization.to_physical(z))

    if progress is None:
        progress = sys.stderr.isatty()
    t0 = time.perf_counter()
    z = strongly_typed(normalization.zeros())
    history: list[float] = []
    skipped: list[bool] = []
    step_seconds: list[float] = []
    evaluations: list[int] = []
    mon: dict[str, list] = {"step": [], "seconds": []}
    best = {"loss": np.inf, "z": z, "it": 0}
    stage_starts: dict[str, int] = {}
    stopped = failure = ""

    def run_monitor(z_now, it):
        values = monitor(normalization.to_physical(z_now))
        mon["step"].append(it)
        mon["seconds"].append(time.perf_counter() - t0)
        for k, v in values.items():
            mon.setdefault(k, []).append(float(v))

    def record(value, z_now, ok, n_eval) -> bool:
        """Book-keep one step; True when the target loss is reached."""
        it = len(history)
        history.append(value)
        skipped.append(not ok)
        step_seconds.append(time.perf_counter() - t0)
        evaluations.append(n_eval)
        if np.isfinite(value) and value < best["loss"]:
            best.update(loss=value, z=z_now, it=it)
        if monitor is not None and monitor_every and it % monitor_every == 0:
            run_monitor(z_now, it)
        return bool(target_loss) and np.isfinite(value) and value <= target_loss

    step = state = None
    done = False
    with tqdm(total=sum(s.steps for s in stages), disable=not progress, desc=desc, unit="it") as bar:
        for stage in stages:
            if done or stage.steps == 0:
                continue
            stage_starts[stage.name] = len(history)
            if stage.line_search and np.isfinite(best["loss"]):
                z = best["z"]
            step = _step_function(stage, loss_z, jit)
            state = strongly_typed(stage.optimizer.init(z))
            failures = restarts = 0
            fresh = True
            for it in range(stage.steps):
                try:
                    z_new, state_new, value, ok, n_eval = step(z, state)
                    value, ok = float(value), bool(ok)
                    # a fresh L-BFGS state evaluates its start itself (later ones come from the line search)
                    n_eval = int(n_eval) + (1 if stage.line_search and fresh else 0)
                    fresh = False
                except TRIAL_STEP_FAILURES as err:  # an infeasible or unsolvable trial design
                    if not history:
                        raise  # the start itself: bad input, in the model's own words
                    z_new, state_new, value, ok, failure, n_eval = z, state, math.nan, False, str(err), 1
                if not ok and not history:
                    raise ValueError(f"the loss or its gradient is not finite at the initial design (loss {value})")
                done = record(value, z, ok, n_eval)
                if ok:
                    z_good, z_full = z, z_new
                    z, state, failures = z_new, state_new, 0
                elif stage.line_search:
                    restarts += 1
                    if restarts > MAX_LBFGS_RESTARTS:
                        stopped = f"L-BFGS gave up after {MAX_LBFGS_RESTARTS} restarts from failed steps"
                        break
                    z, state = best["z"], strongly_typed(stage.optimizer.init(best["z"]))
                    fresh = True
                else:  # retry the last good step at half the length (the state stays that of the good step)
                    failures += 1
                    z = _shorten(z_good, z_full, 0.5**failures)
                    if max_failed_steps is not None and failures >= max_failed_steps:
                        stopped = f"{failures} consecutive trial steps failed, the last shortened to 2^-{failures}"
                        done = True
                if it % 25 == 0 or it == stage.steps - 1:
                    bar.set_postfix(loss=f"{value:.3e}")
                    bar.update(len(history) - bar.n)
                if done:
                    break
    best_it = best["it"]
    if evaluate_final and step is not None:  # the iterate after the last update (reuse the compiled step)
        final = float(step(z, state)[2])
        if np.isfinite(final) and final < best["loss"]:
            best.update(loss=final, z=z)
            best_it = -1
    if monitor is not None:
        run_monitor(best["z"], len(history))
    params = jax.tree_util.tree_map(np.asarray, normalization.to_physical(best["z"]))
    return OptimizeResult(params, np.asarray(history), best_it, time.perf_counter() - t0, np.asarray(skipped, bool),
                          float(best["loss"]), stage_starts, {k: np.asarray(v) for k, v in mon.items()},
                          stopped, failure, np.asarray(step_seconds), np.asarray(evaluations, int))


def design_model(
    model,
    loss: Callable,
    init_params,
    *,
    optimizer: optax.GradientTransformation | Stage | Sequence[Stage] | None = None,
    iterations: int = 1000,
    progress: bool | None = None,
    jit: bool = True,
    max_failed_steps: int | None = None,
) -> OptimizeResult:
    """Design with any device model (:mod:`diffsim_jax.models`): minimise ``loss(params)``.

    Args:
      model: a device model; its ``normalization(init_params)`` gives the optimiser's
        coordinates (z = 0 at ``init_params``).
      loss: a pure function of the model's parameters (e.g. :func:`~.losses.iv_loss`).
      init_params: the starting design.
      optimizer: an Optax transformation, a :class:`Stage` or a list of stages (default:
        :func:`adabelief` with the paper's schedule over ``iterations`` steps). Non-finite
        steps are undone either way.
      iterations: steps of a bare Optax transformation or of the default.
      progress: tqdm bar; ``None`` shows it when stderr is a terminal.
      jit: compile the optimiser step (``False`` for losses that cannot be traced, e.g.
        self-consistent ones).
      max_failed_steps: see :func:`optimize` (give up after this many consecutive failed steps).
    """
    if not isinstance(iterations, int) or isinstance(iterations, bool) or iterations < 1:
        raise ValueError(f"iterations must be a positive integer, got {iterations!r}")
    if optimizer is None:
        optimizer = adabelief(iterations)
    return optimize(loss, model.normalization(init_params), optimizer, iterations, progress=progress, jit=jit,
                    max_failed_steps=max_failed_steps)


@dataclasses.dataclass(frozen=True)
class FitConfig:
    """Settings of :func:`fit`: AdaBelief then L-BFGS in a model's normalised coordinates (physics.md §12).

    Attributes:
      adabelief_steps: AdaBelief steps (physics.md eq. 6.7) with a cosine-decayed step from
        ``learning_rate`` to ``final_lr_fraction`` of it (eq. 6.8); 0 skips the stage.
      lbfgs_steps: ``optax.lbfgs`` iterations (zoom line search) from the best AdaBelief
        iterate; 0 skips the stage.
      learning_rate, final_lr_fraction: the AdaBelief schedule.
      lbfgs_memory: L-BFGS history length.
      monitor_every: call the monitor every this many iterations (0: only at the end).
      target_loss: stop as soon as the loss is at or below this value (0: never).
    """

    adabelief_steps: int = 500
    lbfgs_steps: int = 1500
    learning_rate: float = 0.01
    final_lr_fraction: float = 0.05
    lbfgs_memory: int = 30
    monitor_every: int = 0
    target_loss: float = 0.0

    def __post_init__(self):
        for name in ("adabelief_steps", "lbfgs_steps", "monitor_every"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ValueError(f"FitConfig.{name} must be an integer >= 0, got {v!r}")
        if self.adabelief_steps + self.lbfgs_steps < 1:
            raise ValueError("FitConfig needs at least one AdaBelief or L-BFGS step")
        if not isinstance(self.lbfgs_memory, int) or self.lbfgs_memory < 1:
            raise ValueError(f"FitConfig.lbfgs_memory must be a positive integer, got {self.lbfgs_memory!r}")
        for name in ("learning_rate", "final_lr_fraction"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"FitConfig.{name} must be finite and > 0, got {v!r}")
        if not (math.isfinite(self.target_loss) and self.target_loss >= 0):
            raise ValueError(f"FitConfig.target_loss must be finite and >= 0, got {self.target_loss!r}")

    def stages(self) -> list[Stage]:
        """The two :class:`Stage` s these settings describe."""
        stages = [lbfgs(self.lbfgs_steps, self.lbfgs_memory)]
        if self.adabelief_steps:
            stages.insert(0, adabelief(self.adabelief_steps, self.learning_rate, self.final_lr_fraction))
        return stages


#: :func:`fit` returns the loop's result.
FitResult = OptimizeResult


def fit(loss, normalization, config: FitConfig = FitConfig(), *, monitor=None, progress: bool | None = None,
        desc: str = "fit") -> OptimizeResult:
    """Minimise ``loss(params)`` over z: AdaBelief, then L-BFGS from the best iterate (physics.md §12).

    :func:`optimize` with ``config.stages()``, the monitor every ``config.monitor_every``
    steps, ``config.target_loss`` and the iterate after the last update evaluated too.
    """
    return optimize(loss, normalization, config.stages(), monitor=monitor, monitor_every=config.monitor_every,
                    target_loss=config.target_loss, evaluate_final=True, progress=progress, desc=desc)

