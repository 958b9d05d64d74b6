"""Replaceable materials table for heterostructures (physics.md §9, eq. 9.1).

A table maps an alloy composition x (here the Al fraction of AlₓGa₁₋ₓAs) to the three
material parameters the layer stack needs (:mod:`diffsim_jax.physics.layers`):

    m*(x)    effective mass of the conduction band (units of m0)
    ΔE_c(x)  conduction-band edge relative to the reference material (eV)
    ε_r(x)   static relative permittivity

The default, :data:`ALGAAS`, is Al_xGa_{1−x}As in its direct-gap range 0 ≤ x < 0.45
(physics.md eq. 9.1):

    m*(x)   = 0.067 + 0.083·x                         (Γ-valley electron mass)
    ΔE_c(x) = 0.67 × 1.247·x eV ≈ 0.8355·x eV         (67 % of ΔE_g^Γ = 1.247·x eV)
    ε_r(x)  = 12.90 − 2.84·x

Sources: S. Adachi, "GaAs, AlAs, and AlₓGa₁₋ₓAs: Material parameters for use in
research and device applications", J. Appl. Phys. 58, R1 (1985) — the Γ-gap
E_g^Γ(x) = 1.424 + 1.247·x eV for x < 0.45, m*(x) and ε_r(x) (the same linear forms are
tabulated in the Ioffe NSM archive, www.ioffe.ru/SVA/NSM/Semicond/AlGaAs, which quotes
the 300 K mass as 0.063 + 0.083·x; the 0.067 used here is the usual low-temperature GaAs
value and the project's default, physics.md §1); I. Vurgaftman, J. R. Meyer and
L. R. Ram-Mohan, "Band parameters for III–V compound semiconductors and their alloys",
J. Appl. Phys. 89, 5815 (2001) — band offsets; the 67 : 33 split of ΔE_g^Γ between
conduction and valence band is the customary one for x < 0.45. Above x ≈ 0.45 the gap
becomes indirect (X valley) and a single-valley Γ model no longer holds, which is why
compositions are restricted to [0, x_max).

Any object with the same interface is a table: methods ``mass(x)``, ``band_edge_eV(x)``
and ``eps_r(x)`` that are JAX-traceable (jit/vmap/grad) and an attribute ``x_max``
(compositions must lie in [0, x_max)). :class:`LinearAlloy` is the built-in kind: a
frozen, hashable dataclass, so it can be a static argument under ``jax.jit``, and it can
be read from a dict or a JSON file (:meth:`LinearAlloy.from_dict`, :func:`load_table`).
"""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np

from .. import validation as val

#: The coefficient fields of a :class:`LinearAlloy`: value(x) = c0 + c1·x.
COEFFICIENT_FIELDS = ("mass_coeffs_m0", "band_offset_coeffs_eV", "eps_r_coeffs")


@dataclasses.dataclass(frozen=True)
class LinearAlloy:
    """A materials table linear in the composition x (physics.md §9, eq. 9.1).

    value(x) = c0 + c1·x for each of the three parameters. Frozen and hashable (the
    coefficients are stored as tuples of floats), so it may be a static ``jit`` argument.

    Attributes:
      name: a label, e.g. "AlGaAs".
      mass_coeffs_m0: (c0, c1) of m*(x) in units of m0; m* must be > 0 on [0, x_max].
      band_offset_coeffs_eV: (c0, c1) of the conduction-band edge ΔE_c(x) in eV.
      eps_r_coeffs: (c0, c1) of ε_r(x); ε_r must be > 0 on [0, x_max].
      x_max: compositions must lie in [0, x_max); 0 < x_max ≤ 1.
      reference: where the numbers come from (free text).

    Raises:
      ValueError naming the field for anything that is not finite or out of range.
    """

    name: str = "AlGaAs"
    mass_coeffs_m0: tuple = (0.067, 0.083)
    band_offset_coeffs_eV: tuple = (0.0, 0.8355)
    eps_r_coeffs: tuple = (12.90, -2.84)
    x_max: float = 0.45
    reference: str = ""

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"materials.name must be a non-empty string, got {self.name!r}")
        if not isinstance(self.reference, str):
            raise ValueError(f"materials.reference must be a string, got {self.reference!r}")
        x_max = _finite_float("materials.x_max", self.x_max)
        if not 0.0 < x_max <= 1.0:
            raise ValueError(f"materials.x_max must satisfy 0 < x_max <= 1, got {self.x_max!r}")
        object.__setattr__(self, "x_max", x_max)
        for field in COEFFICIENT_FIELDS:
            coeffs = getattr(self, field)
            if isinstance(coeffs, (str, bytes)) or np.ndim(coeffs) != 1 or len(coeffs) != 2:
                raise ValueError(f"materials.{field} must be two numbers (c0, c1) with value = c0 + c1·x, got {coeffs!r}")
            object.__setattr__(self, field, tuple(_finite_float(f"materials.{field}", c) for c in coeffs))
        for field, what in (("mass_coeffs_m0", "the effective mass"), ("eps_r_coeffs", "the permittivity")):
            c0, c1 = getattr(self, field)
            if min(c0, c0 + c1 * x_max) <= 0.0:
                raise ValueError(f"materials.{field} gives {what} <= 0 somewhere on [0, x_max = {x_max}]: {(c0, c1)!r}")

    # -- the table interface (JAX-traceable: plain arithmetic on x) ---------------------
    def mass(self, x):
        """m*(x) = c0 + c1·x in units of m0 (physics.md eq. 9.1)."""
        c0, c1 = self.mass_coeffs_m0
        return c0 + c1 * x

    def band_edge_eV(self, x):
        """Conduction-band edge ΔE_c(x) = c0 + c1·x in eV (physics.md eq. 9.1)."""
        c0, c1 = self.band_offset_coeffs_eV
        return c0 + c1 * x

    def eps_r(self, x):
        """Relative permittivity ε_r(x) = c0 + c1·x (physics.md eq. 9.1)."""
        c0, c1 = self.eps_r_coeffs
        return c0 + c1 * x

    # -- JSON ------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """Plain JSON-ready dict (units in the keys); inverse of :meth:`from_dict`."""
        d = dataclasses.asdict(self)
        for field in COEFFICIENT_FIELDS:
            d[field] = list(d[field])
        return d

    @classmethod
    def from_dict(cls, d) -> "LinearAlloy":
        """Build and validate a table from a dict with the fields of :class:`LinearAlloy`.

        The three coefficient fields and ``x_max`` are required; ``name`` (default
        "custom") and ``reference`` are optional. Unknown keys are rejected (a typo
        would otherwise silently fall back to a default). Raises ``ValueError`` naming
        the field.
        """
        if not isinstance(d, dict):
            raise ValueError(f"materials must be a JSON object (dict), got {type(d).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"materials has unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(known))}")
        missing = [k for k in (*COEFFICIENT_FIELDS, "x_max") if k not in d]
        if missing:
            raise ValueError(f"materials is missing field(s) {', '.join(missing)}")
        return cls(**{"name": "custom", **d})


def _finite_float(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return value


#: Al_xGa_{1−x}As, 0 ≤ x < 0.45 (physics.md eq. 9.1).
ALGAAS = LinearAlloy(
    name="AlGaAs",
    mass_coeffs_m0=(0.067, 0.083),
    band_offset_coeffs_eV=(0.0, 0.8355),
    eps_r_coeffs=(12.90, -2.84),
    x_max=0.45,
    reference=(
        "S. Adachi, J. Appl. Phys. 58, R1 (1985); I. Vurgaftman, J. R. Meyer and "
        "L. R. Ram-Mohan, J. Appl. Phys. 89, 5815 (2001). Direct-gap range x < 0.45; "
        "ΔE_c = 0.67·ΔE_g^Γ, ΔE_g^Γ = 1.247·x eV (0.67 × 1.247 = 0.83549, rounded to 0.8355 "
        "as in physics.md eq. 9.1)."
    ),
)


def load_table(path: str) -> LinearAlloy:
    """Read a :class:`LinearAlloy` from a JSON file (the object of :meth:`LinearAlloy.to_dict`)."""
    try:
        with open(path, encoding="utf-8-sig") as fh:
            data = json.load(fh)
    except OSError as err:
        raise ValueError(f"materials file {path}: cannot read it ({err.strerror})") from err
    except json.JSONDecodeError as err:
        raise ValueError(f"materials file {path}: not valid JSON ({err.msg}, line {err.lineno})") from err
    try:
        return LinearAlloy.from_dict(data)
    except ValueError as err:
        raise ValueError(f"materials file {path}: {err}") from err


def check_table(table, name: str = "materials"):
    """Raise ``ValueError`` unless ``table`` has ``mass``, ``band_edge_eV``, ``eps_r`` and a valid ``x_max``."""
    for method in ("mass", "band_edge_eV", "eps_r"):
        if not callable(getattr(table, method, None)):
            raise ValueError(f"{name} must provide a method {method}(x); got {type(table).__name__}")
    x_max = getattr(table, "x_max", None)
    try:
        ok = x_max is not None and math.isfinite(float(x_max)) and float(x_max) > 0.0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{name}.x_max must be a finite number > 0, got {x_max!r}")
    return table


def check_composition(x, table=ALGAAS, name: str = "al_fraction"):
    """Raise ``ValueError`` naming ``name`` unless every (concrete) x lies in [0, table.x_max).

    NaN and inf are rejected. Traced values (inside ``jit``/``grad``) are not inspected.
    Returns ``x`` unchanged.
    """
    if not val.is_concrete(x):
        return x
    arr = val.as_float_array(name, x)
    x_max = float(table.x_max)
    bad = ~((np.asarray(arr) >= 0.0) & (np.asarray(arr) < x_max))
    if np.any(bad):
        worst = np.asarray(arr)[bad].ravel()[0]
        raise ValueError(
            f"{name} must lie in [0, {x_max:g}) for {getattr(table, 'name', 'this material table')} "
            f"(physics.md §9), got {val.fmt(worst)}"
        )
    return x
