"""Training of the physics-informed inverse problem (physics.md §7) with SciANN.

Stages (each optional through its step count):

1. forward: Adam on the forward problem — U fixed to the bare bias ramp, no target —
   so that ψ solves the equations before the potential starts to move;
2. inverse: Adam on the full problem — U trainable, target T*(E) imposed at x = L;
3. L-BFGS: full-batch L-BFGS-B (SciANN's ``scipy-l-bfgs-b`` optimizer) on the full problem.

Every Adam step uses the full batch of collocation points: the batch is repeated
``steps_per_epoch`` times per Keras epoch (``shuffle=False``), so that one ``SciModel.train``
call performs that many steps without Keras' per-epoch overhead.

After training, the learned U(x) is handed to the discrete QTBM solver
``diffsim_jax.transmission`` for the confirmation curve (physics.md §7, paper Fig. 2).
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from typing import Callable

import numpy as np

from . import targets
from .config import LOSS_TERMS, PINNConfig
from .result import PINNResult


@dataclasses.dataclass
class Samples:
    """Collocation points in the normalised coordinates (ξ, Ê) and the target on x = L."""

    xi: np.ndarray  # (n, 1)
    e_hat: np.ndarray  # (n, 1)
    left: np.ndarray  # indices of the points on ξ = 0
    right: np.ndarray  # indices of the points on ξ = 1
    target: np.ndarray  # T*(E) at the right points, (len(right), 1)

    @property
    def size(self) -> int:
        return self.xi.shape[0]


def make_samples(cfg: PINNConfig, rng: np.random.Generator, e_hat_max: float = 1.0) -> Samples:
    """Interior points uniform in [0, 1] × [0, e_hat_max]; stratified energies on both edges."""
    n, nb = cfg.n_samples, cfg.n_boundary
    xi_in = rng.uniform(0.0, 1.0, n)
    e_in = rng.uniform(0.0, e_hat_max, n)
    # one point in each of nb equal energy strata, on each edge
    e_b = (np.arange(nb) + rng.uniform(0.0, 1.0, nb)) / nb * e_hat_max
    xi = np.concatenate([xi_in, np.zeros(nb), np.ones(nb)])
    e_hat = np.concatenate([e_in, e_b, e_b])
    left = np.arange(n, n + nb)
    right = np.arange(n + nb, n + 2 * nb)
    energies = cfg.energy_min_eV + e_b * (cfg.energy_max_eV - cfg.energy_min_eV)
    t_star = targets.target_transmission(energies, cfg)
    return Samples(xi[:, None], e_hat[:, None], left, right, t_star[:, None])


def _y_true(names, s: Samples, reps: int, weight_target: float):
    """SciANN targets for each loss term on the batch repeated ``reps`` times."""
    n = s.size
    tile = lambda ids: np.concatenate([ids + j * n for j in range(reps)])  # noqa: E731
    left, right = tile(s.left), tile(s.right)
    ys = []
    for name in names:
        if name.startswith("bc_left"):
            ys.append((left, np.zeros((left.size, 1))))
        elif name.startswith("bc_right"):
            ys.append((right, np.zeros((right.size, 1))))
        elif name == "target":
            ys.append((right, np.tile(s.target, (reps, 1)) * math.sqrt(weight_target)))
        else:
            ys.append("zeros")
    return ys


class _History:
    """Loss history of all stages, per Keras epoch (Adam) or per iteration (L-BFGS)."""

    def __init__(self):
        self.terms = {k: [] for k in ("total",) + LOSS_TERMS}
        self.step: list[int] = []
        self.seconds: list[float] = []
        self.stage_starts: dict[str, int] = {}
        self.monitor: dict[str, list[float]] = {k: [] for k in (
            "step", "seconds", "rmse_fd_vs_target", "rmse_pinn_vs_fd", "rmse_pinn_vs_target")}

    def add_keras(self, hist: dict, names, output_names, steps_each: int, t0: float, t_end: float):
        n = len(hist["loss"])
        start = self.step[-1] if self.step else 0
        for i in range(n):
            self.terms["total"].append(float(hist["loss"][i]))
            for name in LOSS_TERMS:
                if name in names:
                    key = f"{output_names[names.index(name)]}_loss"
                    self.terms[name].append(float(hist[key][i]))
                else:
                    self.terms[name].append(float("nan"))
            self.step.append(start + (i + 1) * steps_each)
            self.seconds.append(t0 + (t_end - t0) * (i + 1) / n)

    def arrays(self) -> dict:
        return {k: np.asarray(v, dtype=float) for k, v in self.terms.items()}


def _lr_at(cfg: PINNConfig, frac: float) -> float:
    """Exponential envelope of the step within a stage, from lr to lr·lr_decay, at fraction ``frac``.

    :meth:`_Trainer.adam` passes SciANN the envelope's values at the start and end of each
    monitoring chunk; SciANN interpolates linearly between listed points (once per epoch),
    so the realised schedule is piecewise linear between points of this envelope."""
    return cfg.learning_rate * cfg.lr_decay ** min(max(frac, 0.0), 1.0)


class _Trainer:
    def __init__(self, cfg: PINNConfig, progress: bool, log: Callable[[str], None] | None):
        from .compat import import_sciann  # noqa: PLC0415
        from .model import PINNModel  # noqa: PLC0415

        import_sciann()
        self.cfg = cfg
        self.progress = progress
        # SciANN prints unconditionally, so training runs inside ``quiet_stdout``; progress
        # lines go to the stdout that was current when training started.
        out = sys.stdout
        self.log = log or ((lambda m: print(m, file=out, flush=True)) if progress else (lambda _m: None))
        self.t0 = time.perf_counter()
        self.rng = np.random.default_rng(cfg.seed)
        self.model = PINNModel(cfg)
        self.samples = make_samples(cfg, self.rng)
        self.hist = _History()
        self.e_eval = targets.eval_energies(cfg)
        self.e_hat_eval = (self.e_eval - cfg.energy_min_eV) / (cfg.energy_max_eV - cfg.energy_min_eV)
        self.t_target_eval = targets.target_transmission(self.e_eval, cfg)
        self.x_grid = targets.grid_nm(cfg)

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    # ---------------------------------------------------------------- monitoring
    def confirm(self):
        """(U on the FD grid, PINN T, FD-confirmed T) at the evaluation energies."""
        u = self.model.potential_eV(self.x_grid / self.cfg.length_nm)
        t_pinn = self.model.pinn_transmission(self.e_hat_eval)
        t_fd = targets.fd_transmission(u, self.e_eval, self.cfg)
        return u, t_pinn, t_fd

    def monitor(self, inverse: bool):
        _u, t_pinn, t_fd = self.confirm()
        m = self.hist.monitor
        m["step"].append(self.hist.step[-1] if self.hist.step else 0)
        m["seconds"].append(self.elapsed())
        m["rmse_fd_vs_target"].append(targets.rmse(t_fd, self.t_target_eval))
        m["rmse_pinn_vs_fd"].append(targets.rmse(t_pinn, t_fd))
        m["rmse_pinn_vs_target"].append(targets.rmse(t_pinn, self.t_target_eval))
        self.log(
            f"[{self.elapsed():7.1f} s] step {m['step'][-1]:6d} loss {self.hist.terms['total'][-1]:.3e}  "
            f"fd-target {m['rmse_fd_vs_target'][-1]:.4f}  pinn-fd {m['rmse_pinn_vs_fd'][-1]:.4f}  "
            f"pinn-target {m['rmse_pinn_vs_target'][-1]:.4f}"
        )

    # ---------------------------------------------------------------- stages
    def out_of_time(self) -> bool:
        budget = self.cfg.max_train_seconds
        return budget > 0 and self.elapsed() >= budget

    def adam(self, stage: str, steps: int):
        """Full-batch Adam on the forward (U = ramp) or inverse problem."""
        if steps <= 0 or self.out_of_time():
            return
        from .compat import quiet_stdout  # noqa: PLC0415

        cfg = self.cfg
        inverse = stage != "forward"
        sci, names = self.model.scimodel(inverse=inverse)
        self.hist.stage_starts[stage] = self.hist.step[-1] if self.hist.step else 0
        spe = min(cfg.steps_per_epoch, steps)
        epochs_total = max(1, steps // spe)
        chunk = max(1, cfg.monitor_every // spe) if cfg.monitor_every > 0 else epochs_total
        x_rep = [np.tile(self.samples.xi, (spe, 1)), np.tile(self.samples.e_hat, (spe, 1))]
        y_rep = _y_true(names, self.samples, spe, cfg.weight_target)
        done = 0
        while done < epochs_total and not self.out_of_time():
            n_ep = min(chunk, epochs_total - done)
            lr0 = _lr_at(cfg, done / epochs_total)
            lr1 = _lr_at(cfg, (done + n_ep) / epochs_total)
            t_start = self.elapsed()
            with quiet_stdout():
                h = sci.train(x_rep, y_rep, batch_size=self.samples.size, epochs=n_ep, shuffle=False, verbose=0,
                              learning_rate=([0, max(n_ep - 1, 1)], [lr0, lr1]), stop_loss_value=0.0)
            self.hist.add_keras(h.history, names, sci.model.output_names, spe, t_start, self.elapsed())
            done += n_ep
            if cfg.monitor_every > 0 or done >= epochs_total:
                self.monitor(inverse)

    def lbfgs(self, stage: str, steps: int):
        """Full-batch L-BFGS-B through SciANN's ``scipy-l-bfgs-b`` optimizer.

        A Keras callback records the history with wall times, runs the FD confirmation every
        ``monitor_every`` iterations and stops SciPy (``StopIteration``) when the time budget
        is spent.
        """
        if steps <= 0 or self.out_of_time():
            return
        from keras.callbacks import Callback  # noqa: PLC0415

        from .compat import quiet_stdout  # noqa: PLC0415

        inverse = stage != "forward_lbfgs"
        sci, names = self.model.scimodel(inverse=inverse, optimizer="scipy-l-bfgs-b")
        self.hist.stage_starts[stage] = self.hist.step[-1] if self.hist.step else 0
        y = _y_true(names, self.samples, 1, self.cfg.weight_target)
        trainer, output_names = self, sci.model.output_names

        class _Watch(Callback):
            def on_epoch_end(self, epoch, logs=None):
                logs = dict(logs or {})
                t = trainer.elapsed()
                trainer.hist.add_keras({k: [v] for k, v in logs.items()}, names, output_names, 1, t, t)
                every = trainer.cfg.monitor_every
                if every > 0 and (epoch + 1) % every == 0:
                    trainer.monitor(inverse)
                if trainer.out_of_time():
                    raise StopIteration

        with quiet_stdout():
            sci.train([self.samples.xi, self.samples.e_hat], y, batch_size=self.samples.size, epochs=steps,
                      shuffle=False, verbose=0, stop_loss_value=0.0, callbacks=[_Watch()])
        last = self.hist.step[-1] if self.hist.step else 0
        if not self.hist.monitor["step"] or self.hist.monitor["step"][-1] != last:
            self.monitor(inverse)

    def run(self) -> PINNResult:
        cfg = self.cfg
        self.adam("forward", cfg.forward_steps)
        self.lbfgs("forward_lbfgs", cfg.forward_lbfgs_steps)
        self.adam("inverse", cfg.inverse_steps)
        self.lbfgs("lbfgs", cfg.lbfgs_steps)
        train_seconds = self.elapsed()
        u, t_pinn, t_fd = self.confirm()
        return PINNResult(
            x=self.x_grid,
            potential=u,
            energies=self.e_eval,
            target_transmission=self.t_target_eval,
            pinn_transmission=t_pinn,
            fd_transmission=t_fd,
            ramp_transmission=targets.ramp_transmission(self.e_eval, cfg),
            reference_potential=targets.reference_potential(self.x_grid, cfg),
            loss_history=self.hist.arrays(),
            history_step=np.asarray(self.hist.step, dtype=float),
            history_seconds=np.asarray(self.hist.seconds, dtype=float),
            stage_starts=dict(self.hist.stage_starts),
            monitor={k: np.asarray(v, dtype=float) for k, v in self.hist.monitor.items()},
            config=cfg,
            train_seconds=train_seconds,
            fourier_matrix_psi=self.model.B_psi,
            fourier_matrix_u=self.model.B_u,
        )


def train_inverse(config: PINNConfig | None = None, progress: bool = False,
                  log: Callable[[str], None] | None = None) -> PINNResult:
    """Train ψr, ψi and U on the inverse problem of physics.md §7 and confirm U with the FD solver.

    Args:
      config: a :class:`PINNConfig` (default: ``PINNConfig()``, the "default" profile).
      progress: print a line of progress after each monitoring interval.
      log: optional callable receiving those lines instead of ``print``.
    Returns:
      :class:`PINNResult` with x, potential, energies, target/PINN/FD transmissions, the loss
      history per term, the configuration and the wall time of training.
    """
    cfg = PINNConfig() if config is None else config
    if not isinstance(cfg, PINNConfig):
        raise ValueError(f"config must be a PINNConfig, got {type(cfg).__name__}")
    return _Trainer(cfg, progress, log).run()
