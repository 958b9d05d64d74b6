"""Physics: arrays in, arrays out (physics.md §1–§14).

* :mod:`.constants` — every physical constant, once;
* :mod:`.materials` — the Al_xGa_{1−x}As table;  :mod:`.layers` — layer stacks and their
  band/mass profiles;  :mod:`.shapes` — smooth steps, boxes and the bias ramp;
* :mod:`.qtbm` — the 1-D QTBM solver (transmission, wavefunctions, lead phases);
* :mod:`.statistics` — Fermi–Dirac occupations, supply functions, 𝓕_{1/2};
* :mod:`.current` — the paper's 0 K current quadrature;
* :mod:`.energy_grid` — the resonance-adapted grid of the finite-T currents;
  :mod:`.thermal` — Landauer and Tsu–Esaki currents;
* :mod:`.density` — the electron density of scattering states (its own contour + panel
  grid, see its docstring);  :mod:`.poisson` — the 1-D Poisson equation;
* :mod:`.fem` — the finite-element QTBM (§14);  :mod:`.transport2d` — 2-D lattice transport (§13).
"""
