"""CAR v1 files: a dataset (HAMT or sharded) out of a backend as one file,
or into one, as ``ipfs dag export`` / ``ipfs dag import`` move it::

    transfer = await hamt_rs.export_car(backend, root, "dataset.car")
    transfer = await hamt_rs.import_car(other_backend, "dataset.car")
    store = await hamt_rs.ZarrHamtStore.from_root(other_backend, transfer.roots[0])

Every block is verified against its CID on the way in, and every root's
DAG checked complete: a truncated or tampered CAR raises
:class:`~hamt_rs.CorruptBlockError` or :class:`~hamt_rs.MissingBlockError`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from . import _native
from ._ready import resolved

__all__ = ["CarTransfer", "export_car", "import_car"]


@dataclass(frozen=True)
class CarTransfer:
    """What a CAR export or import moved."""

    roots: list[str]
    """The CAR's root CIDs."""
    blocks: int
    """Blocks written."""
    bytes: int
    """Their bytes (block data, no framing)."""


async def export_car(backend: Any, root_cid: str, path: str | os.PathLike[str]) -> CarTransfer:
    """Writes ``root_cid`` and every block it reaches, each once, to the
    CAR file ``path`` (through ``path.partial``, renamed when complete)."""
    blocks, size = await resolved(_native.export_car(backend, str(root_cid), os.fspath(path)))
    return CarTransfer([str(root_cid)], blocks, size)


async def import_car(backend: Any, path: str | os.PathLike[str]) -> CarTransfer:
    """Reads the CAR file ``path`` into ``backend``."""
    roots, blocks, size = await resolved(_native.import_car(backend, os.fspath(path)))
    return CarTransfer(list(roots), blocks, size)
