"""Reference potential and target transmission (physics.md §7): pinned, converged, and clearly
different from the bare ramp's transmission."""

import numpy as np

from pinn_sciann import targets
from pinn_sciann.config import PINNConfig


def test_reference_potential_is_pinned_at_the_terminals():
    cfg = PINNConfig()
    u = targets.reference_potential(np.array([0.0, cfg.length_nm]), cfg)
    np.testing.assert_allclose(u, [0.0, -cfg.bias_V], atol=1e-14)
    x = targets.grid_nm(cfg)
    assert np.max(targets.reference_potential(x, cfg) - targets.bare_ramp(x, cfg)) > 0.25


def test_target_differs_clearly_from_the_bare_ramp():
    """Issue acceptance prerequisite: RMSE(T*, T_ramp) >= 0.2 on the evaluation energies."""
    cfg = PINNConfig()
    e = targets.eval_energies(cfg)
    t_star = targets.target_transmission(e, cfg)
    t_ramp = targets.ramp_transmission(e, cfg)
    assert np.all((t_star >= 0) & (t_star <= 1))
    assert targets.rmse(t_star, t_ramp) >= 0.3


def test_target_is_converged_in_the_grid():
    """n_fd = 1000 points approximate the continuum T (physics.md §3: lattice -> continuum as a -> 0)."""
    cfg = PINNConfig()
    e = targets.eval_energies(cfg)
    fine = cfg.replace(n_fd=4000)
    assert targets.rmse(targets.target_transmission(e, cfg), targets.target_transmission(e, fine)) < 2e-3


def test_free_wire_transmits_everything():
    """physics.md §2 sanity case through the same FD path: U = 0 gives T = 1."""
    cfg = PINNConfig()
    e = targets.eval_energies(cfg)
    np.testing.assert_allclose(targets.fd_transmission(np.zeros(cfg.n_fd), e, cfg), 1.0, atol=1e-10)
