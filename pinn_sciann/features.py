"""Gaussian Fourier features as a SciANN functional (physics.md §7).

γ(v) = [sin(2π B v), cos(2π B v)], v the normalised inputs (x/L, Ê) or x/L, B a fixed
(rows × inputs) matrix drawn from N(mean, std²). The embedding is one non-trainable
Keras ``Dense`` layer per half, built exactly like SciANN's own ``sn.math.fourier`` but
for several input variables at once, and wrapped as an ``MLPFunctional`` so that
``sn.Functional`` can take it as its input and ``sn.diff`` differentiates through it.
"""

from __future__ import annotations

import numpy as np


def gaussian_matrix(rows: int, inputs: int, std: float, mean: float, seed: int) -> np.ndarray:
    """B with ``rows`` rows drawn from N(mean, std²) (paper table: 20 rows, std 1, mean 0)."""
    rng = np.random.default_rng(seed)
    return mean + std * rng.standard_normal((rows, inputs))


def fourier_features(variables, matrix: np.ndarray, name: str):
    """SciANN functional [sin(2πBv), cos(2πBv)] of the given ``sn.Variable`` list.

    Args:
      variables: list of SciANN Variables, in the column order of ``matrix``.
      matrix: B of shape (rows, len(variables)).
      name: prefix of the Keras layer names.
    """
    import tensorflow as tf  # noqa: PLC0415
    from keras.layers import Concatenate, Dense  # noqa: PLC0415
    from sciann.functionals.mlp_functional import MLPFunctional  # noqa: PLC0415

    matrix = np.asarray(matrix, dtype=float)
    if matrix.ndim != 2 or matrix.shape[1] != len(variables):
        raise ValueError(f"Fourier matrix must have shape (rows, {len(variables)}), got {matrix.shape}")
    inputs = []
    for v in variables:
        inputs += v.outputs
    v_in = inputs[0] if len(inputs) == 1 else Concatenate(name=f"{name}_v")(inputs)
    kernel = 2.0 * np.pi * matrix.T  # (inputs, rows): v @ kernel = 2π B v
    layers, outputs = [], []
    for fn, tag in ((tf.sin, "sin"), (tf.cos, "cos")):
        layer = Dense(matrix.shape[0], use_bias=False, trainable=False, activation=fn, name=f"{name}_{tag}")
        outputs.append(layer(v_in))
        layer.set_weights([kernel.astype(layer.dtype)])
        layers.append(layer)
    unique_inputs = []
    for v in variables:
        for t in v.inputs:
            if all(t is not u for u in unique_inputs):
                unique_inputs.append(t)
    return MLPFunctional(inputs=unique_inputs, outputs=outputs, layers=layers)
