"""``qtbm simulate --model stack --save-profiles DIR``: the files an engineer opens beside J(V).

At each profile bias V (file label ``<V>V``, e.g. ``0.1375V``) DIR receives

* ``band_<V>V.csv``: x_nm, band_offset_eV (ΔE_c of the composition), electrostatic_eV (the
  bias drop of physics.md eq. 9.9, or the self-consistent Hartree energy of §11),
  conduction_band_eV (their sum, what the electrons see), quasi_fermi_eV (μ_L on the
  emitter side of the first barrier's centre, μ_R = μ_L − V beyond), density_cm3 (empty at
  0 K), doping_cm3;
* ``transmission_<V>V.csv``: energy_eV, transmission (𝒯(E), densified at the resonances);
* ``resonances_<V>V.csv``: energy_eV, width_eV (Γ of the pole E_r − iΓ/2), peak_transmission,
  fwhm_eV (full width at half maximum of the peak of 𝒯, empty where 𝒯 never falls to half);

and, for all biases, ``profiles.npz`` (the same arrays, keys ``b<i>_<column>`` and ``bias_V``)
and ``run.json`` (stack, temperature, grid and its error estimate, figures of merit).
Physics in :mod:`diffsim_jax.models.stack_profiles` (physics.md §9.5).
"""

from __future__ import annotations

import io
import os

import numpy as np

from .io import JV_COLUMNS, OPTIONAL_COLUMNS

#: Columns of a self-consistent J(V) CSV: the up sweep (read as a design target) and the down sweep.
SC_JV_COLUMNS = JV_COLUMNS + OPTIONAL_COLUMNS
BAND_COLUMNS = ("x_nm", "band_offset_eV", "electrostatic_eV", "conduction_band_eV", "quasi_fermi_eV", "density_cm3",
                "doping_cm3")


def iv_csv_text_columns(biases, columns_values, columns) -> str:
    """CSV text with a header and one row per bias (floats in round-trip precision)."""
    lines = [",".join(columns)]
    for row in zip(np.asarray(biases), *(np.asarray(c) for c in columns_values)):
        lines.append(",".join(repr(float(v)) for v in row))
    return "\n".join(lines) + "\n"


def check_profile_dir(path) -> str | None:
    """``--save-profiles`` DIR: None, or a directory that exists or can be created (InputError otherwise)."""
    from .io import InputError  # noqa: PLC0415

    if path is None:
        return None
    if os.path.exists(path) and not os.path.isdir(path):
        raise InputError(f"--save-profiles {path}: exists and is not a directory")
    parent = os.path.dirname(os.path.abspath(path))
    target = path if os.path.isdir(path) else parent
    if not os.path.isdir(target):
        raise InputError(f"--save-profiles {path}: directory {os.path.dirname(path) or '.'} does not exist")
    if not os.access(target, os.W_OK | os.X_OK):
        raise InputError(f"--save-profiles {path}: directory {target} is not writable")
    return path


def stack_bias_profiles(model, params, temperature_K: float, biases, sweep=None, fermi_level_eV=None) -> list:
    """:class:`~diffsim_jax.models.stack_profiles.BiasProfile` at each bias: the model's potential,
    or, with a self-consistent ``sweep``, the self-consistent one (its up-sweep solution at that
    bias, else a solve continued from the nearest lower one)."""
    from ..models.selfconsistent import SolverConfig, solve_self_consistent  # noqa: PLC0415
    from ..models.stack import StackParams  # noqa: PLC0415
    from ..models.stack_profiles import bias_profile  # noqa: PLC0415

    out = []
    for v in np.asarray(biases, float):
        if sweep is None:
            out.append(bias_profile(model, params, float(v), temperature_K))
            continue
        known = np.nonzero(np.isclose(sweep.biases, v, rtol=0, atol=1e-12))[0]
        if known.size:
            sol = sweep.solutions_up[int(known[0])]
        else:
            below = np.nonzero(sweep.biases < v)[0]
            start = sweep.solutions_up[int(below[-1])] if below.size else None
            sol = solve_self_consistent(params.stack, float(v), temperature_K, config=SolverConfig(n_points=model.n_points),
                                        fermi_level_eV=fermi_level_eV, initial=start, materials=model.materials)
        p = StackParams(params.stack, np.float64(float(sol.fermi_level_eV)))
        out.append(bias_profile(model, p, float(v), temperature_K, potential_eV=np.asarray(sol.potential_eV),
                                density_cm3=np.asarray(sol.density_cm3)))
    return out


def _label(bias_V: float) -> str:
    return f"{bias_V:.4f}V"


def _csv(columns, arrays) -> str:
    lines = [",".join(columns)]
    n = len(arrays[0]) if arrays else 0
    for i in range(n):
        lines.append(",".join("" if a is None else repr(float(a[i])) for a in arrays))
    return "\n".join(lines) + "\n"


def band_arrays(p) -> list:
    """The columns of :data:`BAND_COLUMNS` of a profile (density None at 0 K)."""
    return [p.x_nm, p.band_offset_eV, p.electrostatic_eV, p.conduction_band_eV, p.quasi_fermi_eV, p.density_cm3,
            p.doping_cm3]


def stage_profiles(out, directory: str, bias_profiles: list, run: dict) -> None:
    """Stage the files of the module docstring in ``directory`` (created if missing; removed
    again if staging fails and it was created here)."""
    from .io import json_text  # noqa: PLC0415

    created = not os.path.isdir(directory)
    if created:
        os.mkdir(directory)
    try:
        npz = {"bias_V": np.array([p.bias_V for p in bias_profiles])}
        files = []
        for i, p in enumerate(bias_profiles):
            label = _label(p.bias_V)
            out.stage_text(os.path.join(directory, f"band_{label}.csv"), _csv(BAND_COLUMNS, band_arrays(p)))
            out.stage_text(os.path.join(directory, f"transmission_{label}.csv"),
                           _csv(("energy_eV", "transmission"), [p.energies_eV, p.transmission]))
            out.stage_text(os.path.join(directory, f"resonances_{label}.csv"),
                           _csv(("energy_eV", "width_eV", "peak_transmission", "fwhm_eV"),
                                [p.resonance_energies_eV, p.resonance_widths_eV, p.resonance_transmission,
                                 p.resonance_fwhm_eV]))
            files.append({"bias_V": p.bias_V, "band": f"band_{label}.csv", "transmission": f"transmission_{label}.csv",
                          "resonances": f"resonances_{label}.csv",
                          "resonances_eV": [{"energy_eV": float(e), "width_eV": float(g), "peak_transmission": float(t),
                                             "fwhm_eV": None if np.isnan(w) else float(w)}
                                            for e, g, t, w in zip(p.resonance_energies_eV, p.resonance_widths_eV,
                                                                  p.resonance_transmission, p.resonance_fwhm_eV)]})
            for name, arr in zip(BAND_COLUMNS, band_arrays(p)):
                if arr is not None:
                    npz[f"b{i}_{name}"] = np.asarray(arr)
            npz[f"b{i}_energy_eV"], npz[f"b{i}_transmission"] = p.energies_eV, p.transmission
            npz[f"b{i}_resonance_energy_eV"] = p.resonance_energies_eV
            npz[f"b{i}_resonance_width_eV"] = p.resonance_widths_eV

        def write_npz(f):
            buf = io.BytesIO()
            np.savez(buf, **npz)
            f.write(buf.getvalue())

        out.stage(os.path.join(directory, "profiles.npz"), write_npz)
        out.stage_text(os.path.join(directory, "run.json"), json_text({**run, "profiles": files}))
    except BaseException:
        out.discard()
        if created:
            try:
                os.rmdir(directory)
            except OSError:
                pass
        raise
