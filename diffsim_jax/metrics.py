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
