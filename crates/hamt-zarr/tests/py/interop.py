"""The py-hamt 3.6.0 side of hamt-zarr's interop tests (tests/interop.rs).

  python interop.py write SPEC.json OUT.json [KEY_HEX HEADER]
      Writes the arrays described in SPEC.json with zarr-python through
      py-hamt's ZarrHAMTStore (SimpleEncryptedZarrHAMTStore when a key is
      given) over an in-memory CAS, and exports {"root": cid, "blocks":
      {cid: hex}} to OUT.json.
  python interop.py read IN.json [KEY_HEX HEADER]
      Loads {"root", "blocks", "arrays": [spec...]} from IN.json (written by
      the Rust side), opens it read-only with py-hamt + zarr-python, and checks
      every array, the group listing and the metadata. Prints "ok".
  python interop.py sharded-write SPEC.json OUT.car
      Writes SPEC's "xarray" arrays as one xarray Dataset (group "0") and its
      "arrays" with zarr-python, through py-hamt's ShardedZarrStore (v2,
      SPEC's chunks_per_shard) over an in-memory CAS, then every block to
      the CAR file OUT.car with the root. Prints the root.
  python interop.py sharded-read IN.car SPEC.json
      Opens the CAR's root (written by the Rust side) read-only with py-hamt's
      ShardedZarrStore and checks the Dataset with xarray and the arrays with
      zarr-python. Prints "ok".

Element values follow the Rust tests' `Sample::sample(flat index)`; cells
outside an array's "written" region must read as its fill value.
"""

import asyncio
import json
import sys
from pathlib import Path

import numpy as np
import xarray as xr
import zarr
import zarr.api.asynchronous as zasync
from multiformats import CID
from py_hamt import HAMT, ShardedZarrStore, SimpleEncryptedZarrHAMTStore, ZarrHAMTStore
from py_hamt.sharded_zarr_store import SHARDED_ZARR_V2
from zarr.codecs import GzipCodec

sys.path.insert(0, str(Path(__file__).resolve().parents[4] / "scripts"))
from pyhamt_blocks import MemoryCAS, read_car, write_car  # noqa: E402  (shared py-hamt CAS, CAR files)


def sample(dtype: str, flat: np.ndarray) -> np.ndarray:
    """Mirror of the Rust tests' Sample::sample."""
    i = flat.astype(np.int64)
    if dtype == "uint8":
        return (i % 251).astype(np.uint8)
    if dtype == "int16":
        return (i % 30000 - 15000).astype(np.int16)
    if dtype == "int32":
        return (i * -7919).astype(np.int32)  # wraps like i32::wrapping_mul
    if dtype == "float32":
        values = (i.astype(np.float32) * np.float32(0.25)) - np.float32(40.0)
        return np.where(i % 97 == 5, np.float32("nan"), values).astype(np.float32)
    raise ValueError(f"no sample for {dtype}")


def fill_of(spec):
    fill = spec["fill"]
    return float(fill) if isinstance(fill, str) else fill


def expected(spec) -> np.ndarray:
    shape = tuple(spec["shape"])
    data = sample(spec["dtype"], np.arange(int(np.prod(shape))).reshape(shape))
    out = np.full(shape, fill_of(spec), dtype=spec["dtype"])
    region = tuple(slice(a, b) for a, b in spec["written"])
    out[region] = data[region]
    return out


def make_store(hamt, read_only, argv):
    if len(argv) >= 2:
        return SimpleEncryptedZarrHAMTStore(hamt, read_only, bytes.fromhex(argv[0]), argv[1].encode())
    return ZarrHAMTStore(hamt, read_only=read_only)


async def write(spec_path, out_path, argv):
    spec = json.loads(open(spec_path).read())
    cas = MemoryCAS()
    hamt = await HAMT.build(cas=cas, values_are_bytes=True)
    store = make_store(hamt, False, argv)
    root_group = await zasync.open_group(store=store, mode="w", zarr_format=3)
    for group in spec.get("groups", []):
        await root_group.create_group(group)
    for a in spec["arrays"]:
        array = await root_group.create_array(
            a["path"],
            shape=tuple(a["shape"]),
            chunks=tuple(a["chunks"]),
            dtype=a["dtype"],
            fill_value=fill_of(a),
            compressors=[GzipCodec(level=5)] if a["gzip"] else None,
        )
        region = tuple(slice(s, e) for s, e in a["written"])
        await array.setitem(region, expected(a)[region])
    await hamt.make_read_only()
    blocks = {str(cid): data.hex() for cid, data in cas.blocks.items()}
    json.dump({"root": str(hamt.root_node_id), "blocks": blocks}, open(out_path, "w"))


async def read(in_path, argv):
    dump = json.loads(open(in_path).read())
    cas = MemoryCAS({CID.decode(c): bytes.fromhex(h) for c, h in dump["blocks"].items()})
    hamt = await HAMT.build(cas=cas, root_node_id=CID.decode(dump["root"]), values_are_bytes=True, read_only=True)
    store = make_store(hamt, True, argv)
    root_group = await zasync.open_group(store=store, mode="r", zarr_format=3)
    for a in dump["arrays"]:
        array = await root_group.getitem(a["path"])
        assert list(array.shape) == a["shape"], (a["path"], array.shape)
        assert str(array.dtype) == a["dtype"], (a["path"], array.dtype)
        got = await array.getitem(tuple(slice(None) for _ in a["shape"]))
        want = expected(a)
        assert np.array_equal(got, want, equal_nan=want.dtype.kind == "f"), (a["path"], got, want)
        inner = tuple(slice(1, d - 1) if d > 2 else slice(None) for d in a["shape"])
        got = await array.getitem(inner)
        assert np.array_equal(got, want[inner], equal_nan=want.dtype.kind == "f"), a["path"]
    # Only the root is listed: py-hamt's list_dir mishandles zarr-python's
    # prefixes without a trailing "/" for nested groups.
    if "root_members" in dump:
        names = sorted([name async for name in root_group.keys()])
        assert names == sorted(dump["root_members"]), (names, dump["root_members"])
    print("ok")


def as_dataset(specs) -> xr.Dataset:
    """SPEC's "xarray" arrays as one Dataset: each variable named by its
    path's last part, with its spec's dimension names."""
    return xr.Dataset({a["path"].rsplit("/", 1)[-1]: (a["dims"], expected(a)) for a in specs})


async def check_arrays(store, specs) -> None:
    root_group = await zasync.open_group(store=store, mode="r", zarr_format=3)
    for a in specs:
        array = await root_group.getitem(a["path"])
        got = await array.getitem(tuple(slice(None) for _ in a["shape"]))
        want = expected(a)
        assert str(array.dtype) == a["dtype"], (a["path"], array.dtype)
        assert np.array_equal(got, want, equal_nan=want.dtype.kind == "f"), (a["path"], got, want)


async def sharded_write(spec_path, car_path):
    spec = json.loads(open(spec_path).read())
    cas = MemoryCAS()
    store = await ShardedZarrStore.open(cas=cas, read_only=False, chunks_per_shard=spec["chunks_per_shard"],
                                        manifest_version=SHARDED_ZARR_V2)
    encoding = {
        a["path"].rsplit("/", 1)[-1]: {"chunks": tuple(a["chunks"]),
                                       "compressors": [GzipCodec(level=5)] if a["gzip"] else None}
        for a in spec["xarray"]
    }
    as_dataset(spec["xarray"]).to_zarr(store, mode="w", zarr_format=3, group="0", consolidated=False,
                                       encoding=encoding)
    group = await zasync.open_group(store=store, mode="a", zarr_format=3)
    for a in spec["arrays"]:
        array = await group.create_array(
            a["path"], shape=tuple(a["shape"]), chunks=tuple(a["chunks"]), dtype=a["dtype"],
            fill_value=fill_of(a), compressors=[GzipCodec(level=5)] if a["gzip"] else None,
        )
        region = tuple(slice(s, e) for s, e in a["written"])
        await array.setitem(region, expected(a)[region])
    root = CID.decode(str(await store.flush()))
    write_car(car_path, [root], cas.blocks)
    print(root.encode("base32"))


async def sharded_read(car_path, spec_path):
    spec = json.loads(open(spec_path).read())
    roots, blocks = read_car(car_path)
    store = await ShardedZarrStore.open(cas=MemoryCAS(blocks), read_only=True, root_cid=roots[0])
    ds = xr.open_zarr(store, group="0", consolidated=False).load()
    want = as_dataset(spec["xarray"])
    for name, var in want.data_vars.items():
        got = ds[name]
        assert got.dims == var.dims, (name, got.dims, var.dims)
        assert got.dtype == var.dtype, (name, got.dtype, var.dtype)
        assert np.array_equal(got.values, var.values, equal_nan=var.dtype.kind == "f"), name
    await check_arrays(store, spec["arrays"])
    print("ok")


def main():
    mode, *args = sys.argv[1:]
    if mode == "write":
        asyncio.run(write(args[0], args[1], args[2:]))
    elif mode == "read":
        asyncio.run(read(args[0], args[1:]))
    elif mode == "sharded-write":
        asyncio.run(sharded_write(args[0], args[1]))
    elif mode == "sharded-read":
        asyncio.run(sharded_read(args[0], args[1]))
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
