"""zarr-python + py-hamt 3.6.0 side of W3 (see compare_zarr.sh): the array
of benches/src/w3.rs (float32, SIDE x SIDE, 10 x 10 chunks, no compression,
cell i = i * 0.5) written through ZarrHAMTStore on py-hamt's in-memory CAS
and flushed (make_read_only), then read whole from a fresh read-only HAMT.
Prints one JSON line: {"side": ..., "chunks": ..., "write_s": ..., "read_s": ...}.
"""

import asyncio
import json
import os
import sys
import time

import numpy as np
import zarr.api.asynchronous as zasync
from py_hamt import HAMT, ZarrHAMTStore
from py_hamt.store_httpx import InMemoryCAS

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from workload import W3_CHUNK as CHUNK, w3_cells  # noqa: E402


async def main(side: int) -> None:
    cells = w3_cells(side)
    cas = InMemoryCAS()

    start = time.perf_counter()
    hamt = await HAMT.build(cas=cas, values_are_bytes=True)
    store = ZarrHAMTStore(hamt, read_only=False)
    array = await zasync.create_array(
        store=store,
        name="data",
        shape=(side, side),
        chunks=(CHUNK, CHUNK),
        dtype="float32",
        fill_value=float("nan"),
        compressors=None,
        zarr_format=3,
    )
    await array.setitem((slice(None), slice(None)), cells)
    await hamt.make_read_only()
    write = time.perf_counter() - start

    start = time.perf_counter()
    reader = await HAMT.build(
        cas=cas, root_node_id=hamt.root_node_id, values_are_bytes=True, read_only=True
    )
    array = await zasync.open_array(store=ZarrHAMTStore(reader, read_only=True), path="data")
    got = await array.getitem((slice(None), slice(None)))
    read = time.perf_counter() - start
    if not np.array_equal(got, cells):
        raise SystemExit("W3: py-hamt read back different values")
    print(json.dumps({"side": side, "chunks": (side // CHUNK) ** 2, "write_s": write, "read_s": read}))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 500))
