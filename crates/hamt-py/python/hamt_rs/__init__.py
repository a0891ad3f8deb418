"""hamt_rs: a fast, py-hamt-compatible HAMT for zarr v3 datasets on
content-addressed storage, implemented in Rust.

- :class:`ZarrHamtStore` is a zarr-python v3 store (``xr.open_zarr(store)``,
  ``ds.to_zarr(store)``), optionally encrypted exactly as py-hamt's
  ``SimpleEncryptedZarrHAMTStore``.
- :class:`ShardedZarrStore` is py-hamt's sharded layout (``ShardedZarrStore``),
  and :func:`convert_hamt_to_sharded` its converter.
- :func:`export_car` and :func:`import_car` move a dataset of either layout
  as one CAR file (as ``ipfs dag export`` / ``import``).
- :class:`HAMT` is a map of ``str`` keys to ``bytes`` values shaped like
  py-hamt's ``HAMT``.
- Backends: :class:`MemoryBackend`, :class:`RocksDbBackend` (an embedded
  directory with named roots) and :class:`KuboBackend` (an IPFS daemon).
- :class:`Repository` keeps the versions of a :class:`RocksDbBackend`'s
  datasets as commits on branches and tags; :meth:`ZarrHamtStore.from_ref`
  opens one as of ``"main"``, ``"main~3"`` or ``"main@{2026-12-01}"``.

The same keys and values give the same blocks and the same root CID as
py-hamt 3.6.0, so a dataset written by either opens on the other.

See the project README's "From Python" section for an example.
"""

from __future__ import annotations

from . import errors
from ._native import HAS_KUBO, HAS_ROCKSDB, MemoryBackend
from .car import CarTransfer, export_car, import_car
from .errors import (
    BackendError,
    ConflictError,
    CorruptBlockError,
    DecryptionError,
    HamtError,
    InvalidCidError,
    MissingBlockError,
    ReadOnlyError,
)
from .hamt import HAMT
from .sharded_store import DEFAULT_CHUNKS_PER_SHARD, ShardedZarrStore, convert_hamt_to_sharded
from .zarr_store import ZarrHamtStore

if HAS_ROCKSDB:
    from ._native import RocksDbBackend, Repository
if HAS_KUBO:
    from ._native import KuboBackend

__all__ = [
    "DEFAULT_CHUNKS_PER_SHARD",
    "HAMT",
    "BackendError",
    "CarTransfer",
    "ConflictError",
    "CorruptBlockError",
    "DecryptionError",
    "HamtError",
    "InvalidCidError",
    "MemoryBackend",
    "MissingBlockError",
    "ReadOnlyError",
    "ShardedZarrStore",
    "ZarrHamtStore",
    "convert_hamt_to_sharded",
    "errors",
    "export_car",
    "import_car",
]
# Only the backends this build has (a memory-only wheel has neither).
if HAS_ROCKSDB:
    __all__ += ["Repository", "RocksDbBackend"]
if HAS_KUBO:
    __all__.append("KuboBackend")
