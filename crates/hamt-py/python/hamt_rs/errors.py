"""The exceptions hamt_rs raises.

Each also derives from the built-in exception that zarr-python and ordinary
Python code expect for its case, so existing ``except`` clauses keep working:
a write to a read-only store is both a :class:`PermissionError` and the
:class:`ValueError` zarr-python's own stores raise; bad data or a bad CID is
a :class:`ValueError`; a failing backend (network, disk) is an
:class:`OSError`. An absent key is never an exception of this module: the
zarr store returns ``None`` (as the zarr ``Store`` ABC says) and the map
raises :class:`KeyError` (as py-hamt's ``HAMT`` does).
"""

from __future__ import annotations

__all__ = [
    "BackendError",
    "ConflictError",
    "CorruptBlockError",
    "DecryptionError",
    "HamtError",
    "InvalidCidError",
    "MissingBlockError",
    "ReadOnlyError",
]


class HamtError(Exception):
    """Base class of every hamt_rs error."""


class ReadOnlyError(HamtError, PermissionError, ValueError):
    """A write to a store or HAMT opened read-only (from a root CID, or with
    ``read_only=True``). The message starts like zarr-python's own:
    "store was opened in read-only mode and does not support writing"."""


class MissingBlockError(HamtError):
    """A block the HAMT links to is not in the backend: a wrong root CID, or
    an incomplete copy of a dataset. The message names the CID."""


class CorruptBlockError(HamtError, ValueError):
    """A block's bytes do not hash to its CID, or are not a valid HAMT node.
    The message names the CID."""


class DecryptionError(HamtError, ValueError):
    """A value of an encrypted store failed to decrypt: wrong key or header,
    or tampered data. The message names the key."""


class InvalidCidError(HamtError, ValueError):
    """A string that is not a CID was given as a root."""


class BackendError(HamtError, OSError):
    """The backend failed: the Kubo daemon could not be reached or refused a
    request, or RocksDB could not read or write."""


class ConflictError(HamtError):
    """A branch moved since it was read (another writer committed first),
    or a tag exists already: nothing was changed. The message names both
    commits; commit again on top of the new head."""
