"""py-hamt 3.6.0 side of the W1/W2 comparison (see compare_pyhamt.sh).

W1: insert N zarr-style keys (temp/c/i/j/k) with 64-byte values into an
empty HAMT on py-hamt's in-memory CAS, then make_read_only (its flush).
W2: open a fresh read-only HAMT on the flushed root and get every key.
Prints one JSON line: {"n": N, "w1_s": ..., "w2_s": ...}.
"""

import asyncio
import json
import os
import sys
import time

from py_hamt import HAMT
from py_hamt.store_httpx import InMemoryCAS


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from workload import chunk_key, chunk_value  # noqa: E402


async def main(n: int) -> None:
    keys = [chunk_key(i) for i in range(n)]
    values = [chunk_value(i) for i in range(n)]
    cas = InMemoryCAS()

    start = time.perf_counter()
    hamt = await HAMT.build(cas=cas, values_are_bytes=True)
    for key, value in zip(keys, values):
        await hamt.set(key, value)
    await hamt.make_read_only()
    w1 = time.perf_counter() - start
    root = hamt.root_node_id

    start = time.perf_counter()
    reader = HAMT(cas=cas, root_node_id=root, read_only=True, values_are_bytes=True)
    for key, value in zip(keys, values):
        if await reader.get(key) != value:
            raise SystemExit(f"wrong value for {key}")
    w2 = time.perf_counter() - start
    print(json.dumps({"n": n, "w1_s": w1, "w2_s": w2}))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000))
