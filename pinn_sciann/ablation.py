"""Command line for the convergence studies quoted in the README (Figs. 1–3 section).

    python -m pinn_sciann.ablation --profile default --set ansatz=none --out /tmp/abl/none
    python -m pinn_sciann.ablation --profile default --out figures/pinn --figures figures

Trains one configuration (a profile with fields overridden by ``--set name=value``), saves
the result (NPZ + JSON) and prints one line ``SUMMARY {json}`` with the figure-2 metrics, the wall time
and the forward-problem error: during the forward stages U is exactly the bare ramp, so
the monitor's PINN-vs-FD RMSE at the end of those stages is the error of the forward
problem with U known.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from .config import PROFILES, PINNConfig
from .io import save_result
from .result import fig2_metrics


def _parse_value(text: str):
    if "," in text or text.startswith("("):
        return tuple(int(v) for v in text.strip("()").split(",") if v)
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def forward_error(result) -> dict:
    """Error of the forward problem (U known) at the end of the forward stages.

    U = bare ramp: the monitor's PINN-vs-FD RMSE at the last check before the inverse stages.
    U = reference potential (diagnostic): the PINN's T against T*, which is the FD T of U_ref.
    """
    mon = result.monitor
    if result.config.forward_potential == "reference":
        return {"forward_rmse_pinn_vs_fd": fig2_metrics(result)["rmse_pinn_vs_target"],
                "forward_seconds": float(result.train_seconds)}
    start = result.stage_starts.get("inverse", result.stage_starts.get("lbfgs"))
    if start is None or not np.size(mon.get("step", [])):
        return {}
    idx = np.nonzero(mon["step"] <= start)[0]
    if idx.size == 0:
        return {}
    i = idx[-1]
    return {"forward_rmse_pinn_vs_fd": float(mon["rmse_pinn_vs_fd"][i]), "forward_seconds": float(mon["seconds"][i]),
            "forward_steps": int(mon["step"][i])}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="default", choices=PROFILES)
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    parser.add_argument("--out", default=None, help="directory for result.npz/result.json")
    parser.add_argument("--figures", default=None, help="also draw figs 1-3 into this directory")
    parser.add_argument("--name", default="run")
    args = parser.parse_args(argv)
    overrides = {}
    for item in args.set:
        field, _, value = item.partition("=")
        overrides[field] = _parse_value(value)
    cfg = PINNConfig.from_profile(args.profile, **overrides)
    from .train import train_inverse  # noqa: PLC0415

    result = train_inverse(cfg, progress=True)
    if args.out:
        save_result(result, args.out)
    if args.figures:
        from .plotting import plot_figures  # noqa: PLC0415

        plot_figures(result, args.figures)
    summary = {"name": args.name, "profile": args.profile, "overrides": {k: str(v) for k, v in overrides.items()}}
    summary.update(fig2_metrics(result))
    summary.update(forward_error(result))
    print("SUMMARY " + json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
