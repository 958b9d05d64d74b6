"""Figures of merit of an I–V curve (paper section III-B: "less power", "stronger NDR")."""

from __future__ import annotations

import numpy as np


def mean_power_uW(biases_V, currents_uA) -> float:
    """Dissipated power averaged over the sweep, mean_i(I_i·V_i), in µW (physics.md §6)."""
    return float(np.mean(np.asarray(biases_V) * np.asarray(currents_uA)))


def peak_valley(biases_V, currents_uA):
    """(peak index, valley index) of the first NDR region: the global current maximum
    followed by the minimum after it. Raises ``ValueError`` when the curve has no NDR."""
    i = np.asarray(currents_uA, float)
    peak = int(np.argmax(i))
    if peak == i.size - 1:
        raise ValueError("the I–V curve rises to its last bias: no negative differential resistance")
    valley = peak + int(np.argmin(i[peak:]))
    if valley == peak:
        raise ValueError("no current drop after the peak: no negative differential resistance")
    return peak, valley


def peak_to_valley_ratio(biases_V, currents_uA) -> float:
    """I_peak/I_valley of the NDR region (1.0 when there is no NDR)."""
    try:
        peak, valley = peak_valley(biases_V, currents_uA)
    except ValueError:
        return 1.0
    i = np.asarray(currents_uA, float)
    return float(i[peak] / i[valley])


def first_ndr(biases_V, currents) -> tuple[int, int] | None:
    """(peak index, valley index) of the *first* NDR region, or None when there is none.

    The peak is the first sampled local maximum that is followed by a drop; the valley is
    the minimum after it, up to the point where the current climbs back above the peak
    (a second resonance or thermionic emission may raise it later). Real RTD curves need
    this rather than the global maximum used for the paper's Fig. 5 (:func:`peak_valley`).
    """
    i = np.asarray(currents, float)
    for k in range(1, i.size - 1):
        if i[k] > i[k - 1] and i[k] > i[k + 1]:
            above = np.nonzero(i[k + 1:] > i[k])[0]
            end = k + 1 + (above[0] if above.size else i.size - k - 1)
            valley = k + int(np.argmin(i[k:end]))
            return k, valley
    return None


def ndr_figures(biases_V, currents) -> dict:
    """Peak current, peak bias, valley current and peak-to-valley ratio of the first NDR
    region (:func:`first_ndr`); PVR 1 and the global maximum as peak when there is no NDR."""
    v = np.asarray(biases_V, float)
    i = np.asarray(currents, float)
    found = first_ndr(v, i)
    peak, valley = found if found else (int(np.argmax(i)), int(np.argmax(i)))
    return {
        "peak": float(i[peak]),
        "peak_bias_V": float(v[peak]),
        "valley": float(i[valley]),
        "valley_bias_V": float(v[valley]),
        "pvr": float(i[peak] / i[valley]) if found else 1.0,
    }
