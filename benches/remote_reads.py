"""W6's py-hamt 3.6.0 side (see compare_remote.sh): reads the array
benches/src/w6.rs writes, cold, through a gateway (the latency proxy in
front of the IPFS node) as ZarrHAMTStore + zarr-python over KuboCAS with
IN_FLIGHT requests at once: one chunk alone, COUNT random chunks with
IN_FLIGHT at once and COUNT more on the same handle (warm), the time
series at one point. Every value is checked.

    python remote_reads.py GATEWAY_URL ROOT COUNT IN_FLIGHT

Prints one JSON line of timings, as `remote_reads read` does.
"""

import asyncio
import json
import sys
import time

import numpy as np
import zarr
import zarr.api.asynchronous as zasync
from multiformats import CID
from py_hamt import HAMT, KuboCAS, ZarrHAMTStore

CHUNK_CELLS = 64
MASK = (1 << 64) - 1


def cell(step, column, points):
    """As w6::cell: each chunk's first cell is its number, the rest a pattern."""
    step, column = np.broadcast_arrays(np.asarray(step, dtype=np.int64), np.asarray(column, dtype=np.int64))
    pattern = (step * 7919 + column) % 65536
    number = step * points + column // CHUNK_CELLS
    return np.where(column % CHUNK_CELLS == 0, number, pattern).astype(np.float32)


def chunk_of(i: int, steps: int, points: int) -> tuple[int, int]:
    """The same pseudo-random sequence as w6::chunk_of."""
    x = ((i + 1) * 0x9E3779B97F4A7C15) & MASK
    x ^= x >> 31
    x = (x * 0xBF58476D1CE4E5B9) & MASK
    x ^= x >> 29
    chunk = x % (steps * points)
    return chunk // points, chunk % points


async def open_array(cas: KuboCAS, root: CID):
    hamt = await HAMT.build(cas=cas, root_node_id=root, values_are_bytes=True, read_only=True)
    return await zasync.open_array(store=ZarrHAMTStore(hamt, read_only=True), path="temp")


async def check(array, step: int, point: int, points: int) -> None:
    cols = slice(point * CHUNK_CELLS, (point + 1) * CHUNK_CELLS)
    got = await array.getitem((slice(step, step + 1), cols))
    want = cell(step, np.arange(cols.start, cols.stop, dtype=np.int64), points)
    if not np.array_equal(got[0], want):
        raise SystemExit(f"W6: chunk ({step}, {point}) read back wrong")


async def main(gateway: str, root_text: str, count: int, in_flight: int) -> None:
    root = CID.decode(root_text)
    zarr.config.set({"async.concurrency": in_flight})
    async with KuboCAS(
        gateway_base_url=gateway,
        concurrency=in_flight,
        headers={"Accept": "application/vnd.ipld.raw"},
    ) as cas:
        start = time.perf_counter()
        array = await open_array(cas, root)
        opened = time.perf_counter() - start
        steps, points = array.shape[0], array.shape[1] // CHUNK_CELLS

        start = time.perf_counter()
        await check(array, *chunk_of(0, steps, points), points)
        one_chunk = time.perf_counter() - start

        array = await open_array(cas, root)
        limit = asyncio.Semaphore(in_flight)

        async def bounded(i: int) -> None:
            async with limit:
                await check(array, *chunk_of(i, steps, points), points)

        start = time.perf_counter()
        await asyncio.gather(*(bounded(i) for i in range(count)))
        random = time.perf_counter() - start
        start = time.perf_counter()
        await asyncio.gather(*(bounded(i) for i in range(count, 2 * count)))
        warm = time.perf_counter() - start

        array = await open_array(cas, root)
        point = points // 2
        cols = slice(point * CHUNK_CELLS, (point + 1) * CHUNK_CELLS)
        start = time.perf_counter()
        series = await array.getitem((slice(None), cols))
        series_s = time.perf_counter() - start
        steps_axis = np.arange(steps, dtype=np.int64)[:, None]
        want = cell(steps_axis, np.arange(cols.start, cols.stop, dtype=np.int64)[None, :], points)
        if not np.array_equal(series, want):
            raise SystemExit("W6: the time series read back wrong")
    print(json.dumps({"open_s": opened, "one_chunk_s": one_chunk, "random_s": random,
                      "random_per_s": count / random, "warm_per_s": count / warm,
                      "series_s": series_s}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
