"""Two-dimensional ballistic transport on the square lattice (physics.md §13).

The device is an (N_x, N_y) array of sites (x_i, y_j) = (i·a, (j+1)·a) with hard walls at
y = 0 and y = (N_y+1)·a, potential U_ij (eV), hopping t = C₀/(m* a²) and onsite 4t + U_ij
(physics.md eq. 13.1). A perpendicular field B enters through Peierls phases in the Landau
gauge A = (−B·(y − y₀), 0, 0): the block that couples column i to column i+1 is
V = −t·diag(e^{−iθ_j}), θ_j = 2π·B·a·(y_j − y₀)/Φ₀ (eq. 13.2). Semi-infinite leads continue
the two end columns, with the same phases.

Solver (physics.md §13.2–13.5):

* Lead self-energies Σ = C·F from the Bloch matrix F of the lead's outgoing modes
  (:func:`outgoing_bloch_matrix`): one eigen-decomposition of the lead's 2N_y × 2N_y
  transfer matrix per energy; modes are sorted by |λ| and, for |λ| = 1, by the sign of
  their group velocity, which is diagonalised inside groups of degenerate λ. F is built
  from the selected invariant subspace, so it does not depend on the basis chosen inside
  a degenerate group. No imaginary η anywhere. Its derivative is a custom JVP (a
  Sylvester equation solved in the eigenbases of F and of the incoming pencil).
* The device: a recursive Green's function sweep from the left lead (``lax.scan`` over
  the columns, batched over energies) gives G_{N−1,0} and G_{N−1,N−1}; O(N_x·N_y³) time and
  O(N_y²) memory per energy; no (N_x·N_y)² matrix exists anywhere.
* Its reverse mode is a custom VJP that recomputes instead of storing: the value pass
  stores nothing per column; the backward pass re-runs the sweep on one chunk of energies
  at a time (the chunk sized so its stored blocks fit :data:`BACKWARD_CHUNK_BYTES`) and
  pulls the cotangent back through that chunk before the next.
* T = Tr[Γ_R G_{N−1,0} Γ_L G_{N−1,0}†] (Caroli), Γ = i(Σ − Σ†).
* The energy axis is sharded over ``jax.devices()`` (``jax.shard_map`` on a one-axis
  mesh); one code path for one CPU, one GPU or several devices.
"""

from __future__ import annotations

import math
import os
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import Mesh, PartitionSpec

from .. import validation as val
from .constants import CURRENT_UA_PER_EV, DEFAULT_M_EFF, FLUX_QUANTUM_T_NM2, K_B_EV_PER_K, kinetic_prefactor


#: Memory the backward pass may spend on the per-column blocks of one chunk of energies
#: (bytes); the chunk holds as many energies as fit (at least one).
BACKWARD_CHUNK_BYTES = 256 * 2**20

#: Complex N_y × N_y blocks stored per column and energy by the backward pass's re-run
#: (inverse, LU factors, products); used to size the chunk.
_BLOCKS_PER_COLUMN = 6

#: |λ| within this of 1: a propagating lead mode; two propagating λ closer than this: one
#: degenerate group, whose velocity matrix is diagonalised (physics.md §13.3).
_PROPAGATING_TOL = 1e-7


# --------------------------------------------------------------------------------------
# Lattice (physics.md §13.1)
# --------------------------------------------------------------------------------------
class Lattice2D(NamedTuple):
    """The energy-independent part of the 2-D tight-binding Hamiltonian (physics.md eq. 13.1).

    Attributes:
      onsite: (N_x, N_y) 4t + U_ij in eV.
      hopping: t = C₀/(m* a²) in eV (nearest neighbour, both directions).
      phases: (N_y,) Peierls phases θ_j (rad) of the x-bonds: the block coupling column i
        to column i+1 is V = −t·diag(e^{−iθ_j}) (eq. 13.2).
    """

    onsite: jax.Array
    hopping: jax.Array
    phases: jax.Array


def magnetic_length_nm(magnetic_field_T):
    """l_B = sqrt(ħ/(e|B|)) = sqrt(Φ₀/(2π|B|)) in nm (≈ 25.66 nm/sqrt(B/T))."""
    return math.sqrt(FLUX_QUANTUM_T_NM2 / (2.0 * math.pi * abs(magnetic_field_T)))


def lattice_2d(potential, spacing_nm, m_eff=DEFAULT_M_EFF, magnetic_field_T=0.0, gauge_origin_nm=0.0) -> Lattice2D:
    """:class:`Lattice2D` of an (N_x, N_y) ``potential`` (eV), no validation (physics.md eqs. 13.1–13.2).

    ``gauge_origin_nm`` is y₀ of the Landau gauge A = (−B(y − y₀), 0, 0); every observable of
    this module is independent of it (a test checks that).
    """
    potential = jnp.asarray(potential, jnp.float64)
    hopping = kinetic_prefactor(m_eff) / spacing_nm**2
    n_y = potential.shape[-1]
    y = (jnp.arange(n_y) + 1.0) * spacing_nm - gauge_origin_nm
    phases = 2.0 * jnp.pi * magnetic_field_T * spacing_nm * y / FLUX_QUANTUM_T_NM2
    return Lattice2D(4.0 * hopping + potential, jnp.asarray(hopping, jnp.float64), phases)


def _column_hamiltonian(onsite_col, hopping):
    """H_c = diag(4t + U_c) − t·(y-neighbours): the (N_y, N_y) Hamiltonian of one column."""
    n_y = onsite_col.shape[-1]
    off = jnp.eye(n_y, k=1) + jnp.eye(n_y, k=-1)
    return jnp.diag(onsite_col) - hopping * off


# --------------------------------------------------------------------------------------
# Lead modes and self-energies (physics.md §13.3)
# --------------------------------------------------------------------------------------
class LeadModes(NamedTuple):
    """Outgoing modes of a semi-infinite lead at one energy (physics.md §13.3).

    Attributes:
      bloch: (N_y, N_y) F with ψ_{next} = F ψ (the outgoing/decaying solutions).
      self_energy: (N_y, N_y) Σ = C·F, C the hopping block towards the lead.
      n_open: number of propagating outgoing modes (float, for tracing).
    """

    bloch: jax.Array
    self_energy: jax.Array
    n_open: jax.Array


def _select_outgoing(h0, hop_prev, hop_next, energy):
    """Outgoing Bloch matrix F and the number of open modes (value only).

    The lead rows read (h0 − E)ψ_i + A ψ_{i−1} + C ψ_{i+1} = 0 with A = diag(hop_prev),
    C = diag(hop_next) (physics.md eq. 13.4). Transfer matrix [ψ_{i+1}; ψ_i] =
    [[−C⁻¹(h0 − E), −C⁻¹A], [1, 0]]·[ψ_i; ψ_{i−1}], eigenpairs (λ_k, [λ_k u_k; u_k]).
    """
    n = h0.shape[-1]
    inv_c = 1.0 / hop_next
    dtype = jnp.complex128
    top = jnp.concatenate([-(inv_c[:, None] * (h0 - energy * jnp.eye(n))), -jnp.diag(inv_c * hop_prev)], axis=1)
    bottom = jnp.concatenate([jnp.eye(n), jnp.zeros((n, n))], axis=1)
    transfer = jnp.concatenate([top, bottom], axis=0).astype(dtype)
    lam, vec = jnp.linalg.eig(transfer)
    u = vec[n:, :]
    u = u / jnp.linalg.norm(u, axis=0, keepdims=True)
    mod = jnp.abs(lam)
    prop = jnp.abs(mod - 1.0) < _PROPAGATING_TOL
    # velocity matrix (eq. 13.7): J = aᴴ·Vel·a for ψ_i = Σ_k a_k λ_k^i u_k inside a group of
    # equal λ; Vel = i(M − Mᴴ), M_kl = λ_l u_kᴴ C u_l
    cu = hop_next[:, None] * u
    m = (jnp.conj(u).T @ cu) * lam[None, :]
    vel = 1j * (m - jnp.conj(m).T)
    same = prop[:, None] & prop[None, :] & (jnp.abs(lam[:, None] - lam[None, :]) < _PROPAGATING_TOL)
    scale = jnp.max(jnp.abs(hop_next))
    evan = jnp.where(prop, 0.0, jnp.where(mod < 1.0, scale, -scale))
    sel = jnp.where(same, vel, 0.0) + jnp.diag(evan).astype(dtype)
    _, q = jnp.linalg.eigh(sel)
    basis = vec @ q[:, n:]  # the N outgoing directions (positive eigenvalues, ascending order)
    bloch = jnp.linalg.solve(basis[n:, :].T, basis[:n, :].T).T  # F = Y_top · Y_bottom⁻¹
    n_open = 0.5 * jnp.sum(prop.astype(jnp.float64))
    return bloch, n_open


@jax.custom_jvp
def _bloch(h0, hop_prev, hop_next, energy):
    """(F, number of open modes): one eigen-decomposition for both."""
    return _select_outgoing(h0, hop_prev, hop_next, energy)


@_bloch.defjvp
def _bloch_jvp(primals, tangents):
    """dF from C F² + (h0 − E)F + A = 0 (physics.md eq. 13.8):

    K dF + C dF F = R,  K = C F + h0 − E,  R = −(dC F² + (dh0 − dE) F + dA),

    solved in the eigenbases of F (outgoing λ) and of C⁻¹K (eigenvalues −λ_in): the
    denominators λ_out − λ_in vanish only at a band edge.
    """
    h0, hop_prev, hop_next, energy = primals
    dh0, dprev, dnext, de = tangents
    n = h0.shape[-1]
    f, n_open = _bloch(h0, hop_prev, hop_next, energy)
    eye = jnp.eye(n, dtype=jnp.complex128)
    k = hop_next[:, None] * f + (h0 - energy * eye)
    lam_out, w = jnp.linalg.eig(f)
    mu, z = jnp.linalg.eig(k / hop_next[:, None])
    r = -((dnext[:, None] * (f @ f)) + (dh0 - de * eye) @ f + jnp.diag(dprev))
    d = jnp.linalg.solve(z, (r / hop_next[:, None]) @ w)
    x = d / (mu[:, None] + lam_out[None, :])
    df = jnp.linalg.solve(w.T, (z @ x).T).T
    return (f, n_open), (df, jnp.zeros_like(n_open))


def outgoing_bloch_matrix(h0, hop_prev, hop_next, energy) -> LeadModes:
    """Outgoing modes of a semi-infinite lead (physics.md §13.3), differentiable.

    The lead continues towards larger index: its rows are
    (h0 − E)ψ_i + diag(hop_prev)ψ_{i−1} + diag(hop_next)ψ_{i+1} = 0, with h0 Hermitian
    (N, N) and hop_next = conj(hop_prev) (a Hermitian lead). Returns :class:`LeadModes`
    with F (ψ_{i+1} = Fψ_i for the retarded solutions: propagating with positive group
    velocity, or decaying), Σ = diag(hop_next)·F (the self-energy it adds to the column
    it is attached to) and the number of open modes. Degenerate λ are handled: the
    velocity is diagonalised inside each group of equal λ and F is independent of the
    basis chosen there. Gradients through a custom JVP (eq. 13.8).
    """
    h0 = jnp.asarray(h0, jnp.complex128)
    hop_prev = jnp.asarray(hop_prev, jnp.complex128)
    hop_next = jnp.asarray(hop_next, jnp.complex128)
    energy = jnp.asarray(energy, jnp.complex128)
    bloch, n_open = _bloch(h0, hop_prev, hop_next, energy)
    return LeadModes(bloch, hop_next[:, None] * bloch, n_open)


def _lead_self_energies(lat: Lattice2D, energies):
    """(Σ_L, Σ_R, n_L, n_R) at each energy: (M, N_y, N_y) blocks for columns 0 and N_x−1."""
    v = -lat.hopping * jnp.exp(-1j * lat.phases)  # V = H_{i+1,i} (diagonal)
    h_left = _column_hamiltonian(lat.onsite[0], lat.hopping)
    h_right = _column_hamiltonian(lat.onsite[-1], lat.hopping)
    # right lead: previous column couples through V, next through V†; the left lead is the
    # mirror image (previous = V†, next = V, "next" pointing away from the device)
    # Both leads in one batch (leads × energies): one LAPACK call per decomposition. Two
    # independent batches would let XLA's CPU runtime run their LAPACK custom calls
    # concurrently, which deadlocked (jaxlib 0.10.2, every thread idle) for ≳ 56 energies.
    h = jnp.stack([h_left, h_right])
    prev = jnp.stack([jnp.conj(v), v])
    nxt = jnp.stack([v, jnp.conj(v)])
    modes = jax.vmap(lambda hh, pp, nn: jax.vmap(lambda e: outgoing_bloch_matrix(hh, pp, nn, e))(energies))(h, prev, nxt)
    return modes.self_energy[0], modes.self_energy[1], modes.n_open[0], modes.n_open[1]


# --------------------------------------------------------------------------------------
# Recursive Green's function sweep (physics.md §13.4)
# --------------------------------------------------------------------------------------
def _rgf(onsite, hopping, v, energies, sigma_l, sigma_r):
    """(G_{N−1,0}, G_{N−1,N−1}) for every energy by the left-connected sweep (eq. 13.9).

    g_0 = (E − H_0 − Σ_L)⁻¹, g_c = (E − H_c − V g_{c−1} V†)⁻¹ (Σ_R added in the last column),
    P_0 = g_0, P_c = g_c V P_{c−1}; then G_{N−1,0} = P_{N−1} and G_{N−1,N−1} = g_{N−1}.
    V is diagonal, so V g V† is an elementwise product. Carry: two (M, N_y, N_y) blocks.
    """
    n_x, n_y = onsite.shape
    off = (jnp.eye(n_y, k=1) + jnp.eye(n_y, k=-1)) * hopping
    e_eye = energies[:, None, None] * jnp.eye(n_y)

    def column(onsite_c):  # E − H_c, (M, N_y, N_y)
        return (e_eye + off - jnp.diag(onsite_c)).astype(jnp.complex128)

    vv = v[:, None] * jnp.conj(v)[None, :]
    first = column(onsite[0]) - sigma_l
    if n_x == 1:
        g = jnp.linalg.inv(first - sigma_r)
        return g, g
    g = jnp.linalg.inv(first)

    def step(carry, onsite_c, sigma=None):
        g, p = carry
        m = column(onsite_c) - vv * g
        if sigma is not None:
            m = m - sigma
        g_new = jnp.linalg.inv(m)
        return (g_new, g_new @ (v[:, None] * p)), None

    carry, _ = lax.scan(step, (g, g), onsite[1:-1])
    (g, p), _ = step(carry, onsite[-1], sigma_r)
    return p, g


@partial(jax.custom_vjp, nondiff_argnums=(6,))
def _rgf_recomputing(onsite, hopping, v, energies, sigma_l, sigma_r, chunk_bytes):
    """:func:`_rgf` whose reverse mode recomputes the sweep one energy chunk at a time (§13.5)."""
    return _rgf(onsite, hopping, v, energies, sigma_l, sigma_r)


def _rgf_fwd(onsite, hopping, v, energies, sigma_l, sigma_r, chunk_bytes):
    return _rgf(onsite, hopping, v, energies, sigma_l, sigma_r), (onsite, hopping, v, energies, sigma_l, sigma_r)


def backward_bytes_per_energy(n_x: int, n_y: int) -> int:
    """Bytes the backward pass stores per energy while it re-runs the sweep (§13.5)."""
    return n_x * n_y * n_y * 16 * _BLOCKS_PER_COLUMN


def backward_chunk(n_x: int, n_y: int, n_energies: int, chunk_bytes: int = BACKWARD_CHUNK_BYTES) -> int:
    """Energies per chunk of the backward pass: as many as fit in ``chunk_bytes`` (at least one)."""
    return int(max(1, min(n_energies, chunk_bytes // backward_bytes_per_energy(n_x, n_y))))


def _rgf_bwd(chunk_bytes, res, cts):
    onsite, hopping, v, energies, sigma_l, sigma_r = res
    n_e = energies.shape[0]
    chunk = backward_chunk(*onsite.shape, n_e, chunk_bytes)
    n_chunks = -(-n_e // chunk)
    pad = n_chunks * chunk - n_e

    def padded(x, value=None):
        if pad == 0:
            return x
        tail = jnp.repeat(x[-1:], pad, axis=0) if value is None else jnp.full((pad, *x.shape[1:]), value, x.dtype)
        return jnp.concatenate([x, tail])

    def chunked(x):
        return x.reshape(n_chunks, chunk, *x.shape[1:])

    per_energy = (chunked(padded(energies)), chunked(padded(sigma_l)), chunked(padded(sigma_r)))
    ct = tuple(chunked(padded(c, 0.0)) for c in cts)

    def one(args):
        e, sl, sr, ct_c = args
        _, pull = jax.vjp(_rgf, onsite, hopping, v, e, sl, sr)
        return pull(ct_c)

    bar = lax.map(one, (*per_energy, ct))
    shared = tuple(jnp.sum(b, axis=0) for b in bar[:3])
    per = tuple(b.reshape(n_chunks * chunk, *b.shape[2:])[:n_e] for b in bar[3:])
    return (*shared, *per)


_rgf_recomputing.defvjp(_rgf_fwd, _rgf_bwd)


# --------------------------------------------------------------------------------------
# Transmission (physics.md §13.4, eq. 13.10)
# --------------------------------------------------------------------------------------
def _gamma(sigma):
    return 1j * (sigma - jnp.conj(jnp.swapaxes(sigma, -1, -2)))


def _open_leads(lat: Lattice2D, energies):
    """Σ_L, Σ_R with an absorbing −i·t·1 substituted where a lead has no open mode (T = 0
    there anyway) so that the device matrix is always invertible; and the two mode counts."""
    sigma_l, sigma_r, n_l, n_r = _lead_self_energies(lat, energies)
    both = (n_l > 0) & (n_r > 0)
    absorb = -1j * lat.hopping * jnp.eye(lat.onsite.shape[1])
    sigma_l = jnp.where(both[:, None, None], sigma_l, absorb)
    sigma_r = jnp.where(both[:, None, None], sigma_r, absorb)
    return sigma_l, sigma_r, n_l, n_r, both


def _hop_block(lat: Lattice2D):
    return -lat.hopping * jnp.exp(-1j * lat.phases)


def transmission_local(lat: Lattice2D, energies, chunk_bytes: int = BACKWARD_CHUNK_BYTES):
    """T(E) on this device, no validation, no sharding (physics.md eq. 13.10).

    ``chunk_bytes`` bounds the memory of the backward pass's stored blocks (§13.5).
    """
    sigma_l, sigma_r, _, _, both = _open_leads(lat, energies)
    g_n0, _ = _rgf_recomputing(lat.onsite, lat.hopping, _hop_block(lat), energies, sigma_l, sigma_r, chunk_bytes)
    t = jnp.real(jnp.einsum("eab,ebc,ecd,ead->e", _gamma(sigma_r), g_n0, _gamma(sigma_l), jnp.conj(g_n0)))
    return jnp.where(both, t, 0.0)


def _mirrored(lat: Lattice2D) -> Lattice2D:
    """The device seen from the right: columns reversed, V ↔ V† (θ → −θ)."""
    return Lattice2D(lat.onsite[::-1], lat.hopping, -lat.phases)


class TransmissionMatrix2D(NamedTuple):
    """Mode-resolved scattering from the left lead (physics.md eq. 13.11).

    Attributes:
      t: (n_E, N_y, N_y) transmission amplitudes t_mn between channels n of the left lead
        and m of the right lead; the channels are the eigenvectors of Γ_L and Γ_R (for a
        field-free lead these are its transverse modes), ordered by increasing eigenvalue,
        so the open channels are the last n_open_* of each axis (closed ones are zero).
      r: (n_E, N_y, N_y) reflection amplitudes r = −P + iΓ_L^{½}G₀₀Γ_L^{½} in the Γ_L basis.
      transmission: (n_E,) T = Σ|t_mn|².
      reflection: (n_E,) R = Σ|r_mn|²; T + R = n_open_left (unitarity).
      n_open_left, n_open_right: (n_E,) numbers of open modes of the leads.
    """

    t: jax.Array
    r: jax.Array
    transmission: jax.Array
    reflection: jax.Array
    n_open_left: jax.Array
    n_open_right: jax.Array


def transmission_matrix_local(lat: Lattice2D, energies, chunk_bytes: int = BACKWARD_CHUNK_BYTES) -> TransmissionMatrix2D:
    """:func:`transmission_matrix_2d` without validation or sharding."""
    sigma_l, sigma_r, n_l, n_r, both = _open_leads(lat, energies)
    v = _hop_block(lat)
    g_n0, _ = _rgf_recomputing(lat.onsite, lat.hopping, v, energies, sigma_l, sigma_r, chunk_bytes)
    mir = _mirrored(lat)
    _, g_00 = _rgf_recomputing(mir.onsite, mir.hopping, jnp.conj(v), energies, sigma_r, sigma_l, chunk_bytes)
    w, q = jnp.linalg.eigh(_gamma(jnp.stack([sigma_l, sigma_r])))  # one LAPACK call (see _lead_self_energies)
    (w_l, w_r), (q_l, q_r) = w, q
    # amplitudes in the eigenbases of Γ: t = diag(√γ_R) Q_Rᴴ G Q_L diag(√γ_L)
    sq_l = jnp.sqrt(jnp.clip(w_l, 0.0))
    sq_r = jnp.sqrt(jnp.clip(w_r, 0.0))
    qh_r = jnp.conj(jnp.swapaxes(q_r, -1, -2))
    qh_l = jnp.conj(jnp.swapaxes(q_l, -1, -2))
    t = sq_r[..., :, None] * (qh_r @ g_n0 @ q_l) * sq_l[..., None, :]
    inner = sq_l[..., :, None] * (qh_l @ g_00 @ q_l) * sq_l[..., None, :]
    n_y = lat.onsite.shape[1]
    is_open = jnp.arange(n_y)[None, :] >= (n_y - n_l[:, None])  # ascending eigenvalues: open ones last
    r = -jnp.eye(n_y) * is_open[:, None, :] + 1j * inner
    mask = both[:, None, None]
    t = jnp.where(mask, t, 0.0)
    r = jnp.where(mask, r, 0.0)
    trans = jnp.sum(jnp.abs(t) ** 2, axis=(-1, -2))
    refl = jnp.sum(jnp.abs(r) ** 2, axis=(-1, -2))
    return TransmissionMatrix2D(t, r, trans, refl, n_l, n_r)


# --------------------------------------------------------------------------------------
# Sharding over the energy axis (physics.md §13.6)
# --------------------------------------------------------------------------------------
def energy_mesh() -> Mesh:
    """A one-axis mesh ("energy") over all of ``jax.devices()``."""
    return Mesh(np.asarray(jax.devices()), ("energy",))


def sharded_over_energies(fn, lat: Lattice2D, energies):
    """``fn(lat, energies)`` with the energy axis split over every device (``jax.shard_map``).

    The energies are padded (repeating the last) to a multiple of the device count and the
    padding is cut from every output; ``lat`` is replicated. Outputs must carry the energy
    axis first. Gradients with respect to ``lat`` are summed over devices by the transpose
    of the replication (an all-reduce). One code path for any number of devices.
    """
    mesh = energy_mesh()
    n_dev = mesh.devices.size
    n_e = energies.shape[0]
    pad = (-n_e) % n_dev
    if pad:
        energies = jnp.concatenate([energies, jnp.repeat(energies[-1:], pad)])
    spec = PartitionSpec("energy")
    rep = jax.tree_util.tree_map(lambda _: PartitionSpec(), lat)
    out = jax.shard_map(fn, mesh=mesh, in_specs=(rep, spec), out_specs=spec)(lat, energies)
    return jax.tree_util.tree_map(lambda a: a[:n_e], out)


# --------------------------------------------------------------------------------------
# Validation and public API
# --------------------------------------------------------------------------------------
def _available_bytes() -> float:
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 8.0 * 2**30


def _validate(potential, energies, spacing_nm, m_eff, magnetic_field_T):
    val.check_ndim("potential", potential, (2,))
    n_x, n_y = np.shape(potential)
    if n_x < 1:
        raise ValueError(f"potential needs at least one column (N_x ≥ 1), got shape {np.shape(potential)}")
    if n_y < 2:
        raise ValueError(f"potential needs N_y ≥ 2 sites across the device, got shape {np.shape(potential)}")
    val.check_ndim("energies", energies, (0, 1))
    potential = val.as_float_array("potential", potential)
    energies = val.as_float_array("energies", energies)
    val.check_positive("spacing_nm", spacing_nm)
    val.check_ndim("m_eff", m_eff, (0,))
    val.check_positive("m_eff", m_eff)
    val.check_ndim("magnetic_field_T", magnetic_field_T, (0,))
    field = val.as_float_array("magnetic_field_T", magnetic_field_T)
    if val.is_concrete((field, spacing_nm)) and float(field) != 0.0:
        l_b = magnetic_length_nm(float(field))
        if l_b < 2.0 * float(spacing_nm):
            raise ValueError(
                f"magnetic_field_T = {float(field):g} T gives a magnetic length {l_b:.3g} nm below two "
                f"lattice spacings ({2 * float(spacing_nm):.3g} nm): the lattice cannot resolve it "
                "(physics.md §13.1); lower the field or refine the lattice"
            )
    n_e = int(np.size(energies))
    need = 16.0 * n_y * n_y * (12 * n_e + n_x)  # forward blocks for the sweep + the Hamiltonian
    need_bwd = 16.0 * n_y * n_y * n_x * _BLOCKS_PER_COLUMN
    if max(need, need_bwd) > 0.5 * _available_bytes():
        raise ValueError(
            f"potential of shape {np.shape(potential)} with {n_e} energies needs about "
            f"{max(need, need_bwd) / 2**30:.1f} GiB, more than half this machine's memory; "
            "use fewer energies per call or a smaller lattice"
        )
    return (
        jnp.asarray(potential, jnp.float64),
        jnp.asarray(energies, jnp.float64),
        jnp.asarray(spacing_nm, jnp.float64),
        jnp.asarray(m_eff, jnp.float64),
        jnp.asarray(field, jnp.float64),
    )


@partial(jax.jit, static_argnames="chunk_bytes")
def _transmission_jit(potential, energies, spacing_nm, m_eff, magnetic_field_T, chunk_bytes):
    lat = lattice_2d(potential, spacing_nm, m_eff, magnetic_field_T)
    return sharded_over_energies(partial(transmission_local, chunk_bytes=chunk_bytes), lat, energies)


@partial(jax.jit, static_argnames="chunk_bytes")
def _matrix_jit(potential, energies, spacing_nm, m_eff, magnetic_field_T, chunk_bytes):
    lat = lattice_2d(potential, spacing_nm, m_eff, magnetic_field_T)
    return sharded_over_energies(partial(transmission_matrix_local, chunk_bytes=chunk_bytes), lat, energies)


def transmission_2d(potential, energies, spacing_nm, m_eff=DEFAULT_M_EFF, magnetic_field_T=0.0):
    """Total transmission T(E) of a 2-D device (physics.md §13, eq. 13.10).

    Args:
      potential: (N_x, N_y) potential energy U_ij in eV on the sites (i·a, (j+1)·a); hard
        walls at y = 0 and (N_y+1)·a; the leads continue columns 0 and N_x−1. N_y ≥ 2.
      energies: scalar or (n_E,) electron energies in eV.
      spacing_nm: lattice spacing a in nm.
      m_eff: effective mass in units of m₀ (default 0.067, GaAs).
      magnetic_field_T: perpendicular field B in tesla (Landau gauge, Peierls phases);
        the magnetic length must be at least two lattice spacings.
    Returns:
      T with the shape of ``energies`` (a sum over open channels, between 0 and the number
      of open modes of either lead).

    Exact to round-off (lead self-energies from the lead modes, no η); O(N_x·N_y³) time and
    O(N_y²) memory per energy; composes with ``jax.jit``, ``jax.vmap`` and ``jax.grad``
    (w.r.t. the potential, including the lead columns, the field, the energies, the
    spacing and the mass); the energy axis is sharded over all devices.
    """
    potential, energies, spacing_nm, m_eff, field = _validate(potential, energies, spacing_nm, m_eff, magnetic_field_T)
    t = _transmission_jit(potential, jnp.atleast_1d(energies), spacing_nm, m_eff, field, chunk_bytes=BACKWARD_CHUNK_BYTES)
    return t[0] if energies.ndim == 0 else t


def transmission_matrix_2d(potential, energies, spacing_nm, m_eff=DEFAULT_M_EFF, magnetic_field_T=0.0):
    """Mode-resolved transmission t_mn, reflection, and the open-mode counts (physics.md eq. 13.11).

    Same arguments as :func:`transmission_2d`; ``energies`` must be 1-D or a scalar
    (promoted to 1-D). Returns :class:`TransmissionMatrix2D`.
    """
    potential, energies, spacing_nm, m_eff, field = _validate(potential, energies, spacing_nm, m_eff, magnetic_field_T)
    return _matrix_jit(potential, jnp.atleast_1d(energies), spacing_nm, m_eff, field, chunk_bytes=BACKWARD_CHUNK_BYTES)


def lead_modes_2d(lead_potential, energies, spacing_nm, m_eff=DEFAULT_M_EFF, magnetic_field_T=0.0, side="right"):
    """Outgoing modes of the lead continuing a column with potential ``lead_potential`` (N_y,) (§13.3).

    ``side="right"``: the lead extends to +x (F maps a column to the next one to the right);
    ``"left"``: to −x. Returns :class:`LeadModes` with a leading energy axis.
    """
    val.check_ndim("lead_potential", lead_potential, (1,))
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', got {side!r}")
    pot, energies, spacing_nm, m_eff, field = _validate(
        np.asarray(lead_potential)[None, :] if val.is_concrete(lead_potential) else lead_potential[None, :],
        energies,
        spacing_nm,
        m_eff,
        magnetic_field_T,
    )
    lat = lattice_2d(pot, spacing_nm, m_eff, field)
    v = _hop_block(lat)
    h0 = _column_hamiltonian(lat.onsite[0], lat.hopping)
    prev, nxt = (v, jnp.conj(v)) if side == "right" else (jnp.conj(v), v)
    return jax.vmap(lambda e: outgoing_bloch_matrix(h0, prev, nxt, e))(jnp.atleast_1d(energies))


def open_mode_count(n_y: int, energy, hopping, lead_potential=0.0):
    """Analytic number of open modes of a uniform, field-free strip (physics.md eq. 13.12).

    Transverse energies ε_n = 2t(1 − cos(nπ/(N_y+1))), n = 1 … N_y; mode n is open when
    0 < E − U − ε_n < 4t (inside the longitudinal band 2t(1 − cos ka)).
    """
    n = np.arange(1, n_y + 1)
    eps = 2.0 * hopping * (1.0 - np.cos(n * np.pi / (n_y + 1)))
    kin = np.asarray(energy)[..., None] - lead_potential - eps
    return np.sum((kin > 0.0) & (kin < 4.0 * hopping), axis=-1)


# --------------------------------------------------------------------------------------
# Conductance (physics.md eq. 13.13)
# --------------------------------------------------------------------------------------
#: Thermal window half-width and node spacing of the conductance quadrature, in k_BT.
THERMAL_WINDOW_KT = 18.0
THERMAL_STEP_KT = 0.25


def thermal_nodes(step_kt: float = THERMAL_STEP_KT, window_kt: float = THERMAL_WINDOW_KT):
    """Nodes x_k = (E_k − μ)/k_BT and weights of the trapezoid rule for ∫(−∂f/∂E)dE (eq. 13.14).

    Uniform nodes on [−window, window]; the weights −∂f/∂x·Δx = Δx/(4cosh²(x/2)) are
    renormalised to sum to one (the tail beyond ±18 k_BT is e^{−18} ≈ 1.5e-8).
    """
    n = round(window_kt / step_kt)
    x = np.arange(-n, n + 1) * step_kt
    w = step_kt / (4.0 * np.cosh(0.5 * x) ** 2)
    return x, w / w.sum()


def conductance_2d(
    potential,
    fermi_energies,
    spacing_nm,
    m_eff=DEFAULT_M_EFF,
    magnetic_field_T=0.0,
    temperature_K=0.0,
    *,
    step_kT=THERMAL_STEP_KT,
    with_error: bool = False,
):
    """Linear-response conductance G in µS at the Fermi energies (physics.md eq. 13.13).

    G = (2e²/h)·T(E_F) at 0 K, and G = (2e²/h)∫T(E)(−∂f/∂E)dE at ``temperature_K`` > 0 on the
    trapezoid rule of :func:`thermal_nodes` (step ``step_kT``·k_BT over ±18 k_BT around each
    E_F). 2e²/h = 77.48091729 µS. With ``with_error=True`` also returns an error estimate:
    |G − G_2h| with G_2h the same rule on every second node (0 at 0 K).
    """
    val.check_ndim("fermi_energies", fermi_energies, (0, 1))
    val.check_nonnegative("temperature_K", temperature_K)
    val.check_positive("step_kT", step_kT)
    mu = jnp.atleast_1d(jnp.asarray(val.as_float_array("fermi_energies", fermi_energies), jnp.float64))
    zero_t = val.is_concrete(temperature_K) and float(temperature_K) == 0.0
    if zero_t:
        g = CURRENT_UA_PER_EV * transmission_2d(potential, mu, spacing_nm, m_eff, magnetic_field_T)
        err = jnp.zeros_like(g)
    else:
        x, w = thermal_nodes(step_kT)
        kt = K_B_EV_PER_K * temperature_K
        energies = (mu[:, None] + kt * jnp.asarray(x)[None, :]).ravel()
        t = transmission_2d(potential, energies, spacing_nm, m_eff, magnetic_field_T).reshape(mu.shape[0], -1)
        g = CURRENT_UA_PER_EV * t @ jnp.asarray(w)
        w2 = np.zeros_like(w)
        w2[::2] = w[::2] / w[::2].sum()  # x = 0 is an even node: the 2h rule is centred too
        err = jnp.abs(g - CURRENT_UA_PER_EV * t @ jnp.asarray(w2))
    if np.ndim(fermi_energies) == 0:
        g, err = g[0], err[0]
    return (g, err) if with_error else g
