"""Paper Figs. 1–3: the SciANN physics-informed inverse transmission problem (physics.md §7).

``run(profile, out, retrain=False)`` trains (or reuses the saved training in ``out/pinn``
when its configuration equals the profile's) and draws fig1_potential.png,
fig2_transmission.png and fig3_loss.png. Returns ``{"fig2": metrics}`` and the rows of
the paper's hyperparameter table ("PINNs" column).
"""

from __future__ import annotations

from pathlib import Path

import pinn_sciann as pn

FIGURES = ("fig1", "fig2", "fig3")


def run(profile: str, out: Path, retrain: bool = False, **_options) -> dict:
    """Train or reuse the PINN of ``profile``; Figs. 1–3 into ``out``; returns {"fig2": metrics}."""
    cfg = pn.PINNConfig.from_profile(profile)
    saved = out / "pinn"
    result = None
    if not retrain and saved.exists():
        try:
            cached = pn.load_result(saved)
        except (OSError, ValueError, KeyError) as err:
            print(f"[fig1-3] ignoring unreadable saved PINN result in {saved}: {err}")
        else:
            if cached.config == cfg:
                result = cached
                print(
                    f"[fig1-3] reusing the saved '{profile}' training in {saved} "
                    f"({cached.train_seconds:.0f} s of training); pass --retrain to train again"
                )
            else:
                print(f"[fig1-3] saved PINN result in {saved} is for another configuration: training")
    if result is None:
        print(f"[fig1-3] training the PINN, profile '{profile}'")
        result = pn.train_inverse(cfg, progress=True)
        pn.save_result(result, saved)
    pn.plot_figures(result, out)
    metrics = pn.fig2_metrics(result)
    print("[fig2] " + ", ".join(f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}" for k, v in metrics.items()))
    return {"fig2": {**metrics, "profile_note": cfg.profile_note(), "hyperparameters": list(cfg.hyperparameter_rows())}}
