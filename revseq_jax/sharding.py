"""Data parallelism: a one-dimensional mesh of local devices; each batch is split along it, the
train state is replicated on it, and the jitted functions stay the same (XLA partitions them
from the shardings of their inputs and adds the gradient all-reduce)."""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from revseq.errors import RevseqError

AXIS = "data"


def make_mesh(devices: int | None = None) -> Mesh:
    """A mesh of the first `devices` local devices (None: all of them)."""
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


def replicate(tree, mesh: Mesh):
    """Every leaf copied whole onto every device of the mesh."""
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))


def split(tree, mesh: Mesh, axis: int = 0):
    """Every leaf split along `axis` over the mesh (the batch axis: 0, or 1 for stacked
    chunks); a leaf whose axis the mesh does not divide (a decode batch of odd size) is
    replicated instead."""

    def put(x):
        if x.ndim <= axis or x.shape[axis] % mesh.size:
            spec = PartitionSpec()
        else:
            spec = PartitionSpec(*[None] * axis, AXIS)
        return jax.device_put(x, NamedSharding(mesh, spec))

    return jax.tree_util.tree_map(put, tree)
