"""Numerical building blocks with no physics: quadrature nodes, Krylov and fixed-point solvers."""
