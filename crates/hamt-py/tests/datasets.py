"""A small climate-like dataset, the same for every test that writes one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
import zarr.codecs


def climate(n_time: int = 37, n_lat: int = 19, n_lon: int = 30, seed: int = 7) -> xr.Dataset:
    """Daily fields on a lat/lon grid: several dtypes, NaNs, and a grid that
    the chunks of :data:`ENCODING` do not divide (partial edge chunks)."""
    rng = np.random.default_rng(seed)
    time = pd.date_range("2000-01-01", periods=n_time, freq="D")
    lat = np.linspace(-90.0, 90.0, n_lat)
    lon = np.linspace(0.0, 360.0, n_lon, endpoint=False)
    shape = (n_time, n_lat, n_lon)
    temp = rng.normal(285.0, 12.0, shape).astype("float32")
    temp[rng.random(shape) < 0.05] = np.nan
    precip = rng.gamma(0.6, 3.0, shape)
    precip[rng.random(shape) < 0.02] = np.nan
    elevation = rng.integers(-400, 6000, (n_lat, n_lon), dtype="int16")
    land = rng.random((n_lat, n_lon)) < 0.3
    stations = rng.integers(0, 250, n_time, dtype="uint8")
    return xr.Dataset(
        {
            "temp": (("time", "lat", "lon"), temp, {"units": "K", "long_name": "air temperature"}),
            "precip": (("time", "lat", "lon"), precip, {"units": "mm/day"}),
            "elevation": (("lat", "lon"), elevation, {"units": "m"}),
            "land": (("lat", "lon"), land),
            "stations": (("time",), stations),
        },
        coords={"time": time, "lat": lat, "lon": lon},
        attrs={"title": "synthetic climate test data", "source": "hamt_rs tests"},
    )


#: zstd on some variables, none on others; chunks leave partial edge chunks.
ENCODING = {
    "temp": {"chunks": (10, 8, 16), "compressors": [zarr.codecs.ZstdCodec(level=3)]},
    "precip": {"chunks": (10, 8, 16), "compressors": None},
    "elevation": {"chunks": (8, 16), "compressors": None},
    "land": {"chunks": (8, 16)},
    "stations": {"chunks": (10,), "compressors": [zarr.codecs.ZstdCodec(level=1)]},
}


def assert_exactly_equal(expected: xr.Dataset, actual: xr.Dataset) -> None:
    """Identical datasets, down to dtypes and every bit of every float (NaNs included)."""
    xr.testing.assert_identical(expected, actual)
    for name, var in expected.variables.items():
        got = actual.variables[name]
        if var.dtype.kind != "M":  # xarray may decode times at another resolution
            assert got.dtype == var.dtype, name
        a, b = np.asarray(var.values), np.asarray(got.values)
        if a.dtype.kind == "f":
            assert np.array_equal(a.view(f"u{a.itemsize}"), b.view(f"u{b.itemsize}")), name
        else:
            assert np.array_equal(a, b), name
