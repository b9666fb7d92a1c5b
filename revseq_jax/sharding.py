"""Data parallelism: a one-dimensional mesh of devices (local ones, or every process's in a
multi-process run); each batch is split along it, the train state is replicated on it, and the
jitted functions stay the same (XLA partitions them from the shardings of their inputs and adds
the gradient all-reduce)."""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from revseq.errors import RevseqError

AXIS = "data"


def make_mesh(devices: int | None = None) -> Mesh:
    """A mesh of the first `devices` local devices (None: all of them); with several
    processes, `devices` counts them all, the same number from each process."""
    if jax.process_count() > 1:
        return Mesh(np.array(global_devices(devices)), (AXIS,))
    local = jax.local_devices()
    n = len(local) if devices is None else devices
    if not 1 <= n <= len(local):
        more = (
            f"; XLA_FLAGS=--xla_force_host_platform_device_count={n} gives a CPU {n} devices"
            if local[0].platform == "cpu"
            else ""
        )
        raise RevseqError(
            f"--devices {n}: this process sees {len(local)} {local[0].platform} device(s){more}"
        )
    return Mesh(np.array(local[:n]), (AXIS,))


def global_devices(devices: int | None) -> list:
    """The first devices/processes devices of each process, in process order (None: all)."""
    p, local = jax.process_count(), len(jax.local_devices())
    each = local if devices is None else devices // p
    if devices is not None and (devices % p or not 1 <= each <= local):
        raise RevseqError(
            f"--devices {devices} over {p} processes of {local} device(s) each: use a "
            f"multiple of {p} up to {p * local}, or all"
        )
    by_process = sorted(jax.devices(), key=lambda d: (d.process_index, d.id))
    return [d for i in range(p) for d in [x for x in by_process if x.process_index == i][:each]]


def replicate(tree, mesh: Mesh):
    """Every leaf copied whole onto every device of the mesh."""
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))


def split(tree, mesh: Mesh, axis: int = 0):
    """Every leaf split along `axis` over the mesh (the batch axis: 0, or 1 for stacked
    chunks); a leaf whose axis the mesh does not divide (a decode batch of odd size) is
    replicated instead. Every process passes the whole batch; only its own rows are put on
    its devices."""

    def put(x):
        where = split_sharding(x.shape, mesh, axis)
        if where.is_fully_replicated or jax.process_count() == 1:
            return jax.device_put(x, where)
        return jax.make_array_from_process_local_data(where, local_rows(x, where, axis), x.shape)

    return jax.tree_util.tree_map(put, tree)


def split_sharding(shape: tuple[int, ...], mesh: Mesh, axis: int = 0) -> NamedSharding:
    """Where `split` puts an array of this shape: along `axis` over the mesh, or whole on
    every device when the mesh does not divide that axis."""
    if len(shape) <= axis or shape[axis] % mesh.size:
        return NamedSharding(mesh, PartitionSpec())
    return NamedSharding(mesh, PartitionSpec(*[None] * axis, AXIS))


def local_rows(x: np.ndarray, where: NamedSharding, axis: int) -> np.ndarray:
    """This process's rows of x along `axis` under the sharding (one contiguous block)."""
    spans = [i[axis] for i in where.addressable_devices_indices_map(x.shape).values() if i]
    start, stop = min(s.start or 0 for s in spans), max(s.stop or x.shape[axis] for s in spans)
    return x[(slice(None),) * axis + (slice(start, stop),)]


def fetch(x) -> np.ndarray:
    """An array as numpy, whole: gathered from every process when it is split over them."""
    if x.is_fully_addressable or x.is_fully_replicated:
        return np.asarray(x)
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.process_allgather(x, tiled=True))
