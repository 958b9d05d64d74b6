"""Losses for :func:`~.loop.optimize` (physics.md §6, §12): pure functions of a model's parameters."""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax.numpy as jnp

from ..observables import transmission_of


def iv_loss(model, observable: Callable, biases, target, penalty_weight: float = 1.0) -> Callable:
    """L(θ) = mean_i (y(V_i; θ) − y*_i)²/y_scale² + w·P(θ) (physics.md eq. 6.2), y_scale = max |y*|.

    ``observable(model, params, biases)`` returns the model's (K,) I–V (any unit, the
    target's); ``model.penalty`` is P. Pure and jit/grad-safe.
    """
    scale = jnp.max(jnp.abs(target))

    def loss(params):
        err = observable(model, params, biases) - target
        return jnp.mean(err**2) / scale**2 + penalty_weight * model.penalty(params)

    return loss



def transmission_loss(model, bias_V, energies_eV, target, penalty_weight: float = 1.0):
    """L(ϑ) = mean_k (T(E_k; ϑ) − T*_k)² + w·P(ϑ) (physics.md eq. 12.6): the PINN's inverse
    problem (§7, target (7.13)) with the exact solver in the loop. Pure and jit/grad-safe."""
    energies_eV = jnp.asarray(energies_eV)
    target = jnp.asarray(target)

    def loss(params):
        err = transmission_of(model, params, bias_V, energies_eV) - target
        return jnp.mean(err**2) + penalty_weight * model.penalty(params)

    return loss


def fixed_fermi_level(loss, fermi_level_eV):
    """``loss`` evaluated with the Fermi level replaced by ``fermi_level_eV`` (eV): designs with
    given contacts, where only the potential is free. Works for any parameter dataclass with
    a ``fermi_level`` field (:class:`FreeformParams`, ``BarrierParams``, stacked or not)."""

    def fixed(params):
        ef = jnp.broadcast_to(jnp.asarray(fermi_level_eV, jnp.float64), jnp.shape(params.fermi_level))
        return loss(dataclasses.replace(params, fermi_level=ef))

    return fixed
