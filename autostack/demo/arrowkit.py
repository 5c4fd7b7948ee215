"""Vectorized building blocks for the export writers: Arrow columns from scalars, per-resource
attributes taken by index, random hexadecimal ids, and fixed-point text for CSV amounts."""

from __future__ import annotations

from datetime import date, datetime, time

import numpy as np
import pyarrow as pa

_HEX = np.frombuffer(b"0123456789abcdef", dtype="S1")
_UPPER = np.frombuffer(b"0123456789ABCDEFGHJKMNPQRSTVWXYZ", dtype="S1")


def constant(value, n: int, type_: pa.DataType) -> pa.Array:
    """A column of n copies of value (or n nulls)."""
    if value is None:
        return pa.nulls(n, type_)
    return pa.array([value], type=type_).take(np.zeros(n, dtype=np.int64))


def take(values: pa.Array, index: np.ndarray) -> pa.Array:
    return values.take(pa.array(index, type=pa.int64()))


def column(value, n: int, type_: pa.DataType) -> pa.Array:
    if value is None or not isinstance(value, (np.ndarray, pa.Array, pa.ChunkedArray, list)):
        return constant(value, n, type_)
    if isinstance(value, pa.ChunkedArray):
        value = value.combine_chunks()
    if isinstance(value, pa.Array):
        return value if value.type == type_ else value.cast(type_)
    array = pa.array(value, type=type_, from_pandas=True)
    if len(array) != n:
        raise ValueError(f"column of {len(array)} values where {n} were expected")
    return array


def table(schema: pa.Schema, n: int, values: dict) -> pa.Table:
    """A table of the schema: columns from values (scalar, numpy, Arrow), nulls where absent."""
    unknown = set(values) - set(schema.names)
    if unknown:
        raise KeyError(f"not in the export schema: {sorted(unknown)}")
    return pa.Table.from_arrays([column(values.get(f.name), n, f.type) for f in schema], schema=schema)


def random_text(rng: np.random.Generator, n: int, length: int, alphabet: np.ndarray = _HEX) -> pa.Array:
    """n random strings of the given length drawn from alphabet (no Python loop per row)."""
    codes = rng.integers(0, len(alphabet), size=(n, length))
    raw = alphabet[codes].view(f"S{length}").ravel()
    return pa.array(raw, type=pa.binary(length)).cast(pa.string())


def upper_ids(rng: np.random.Generator, n: int, length: int) -> pa.Array:
    return random_text(rng, n, length, _UPPER)


def concat(pieces: list[np.ndarray | pa.Array], type_: pa.DataType) -> pa.Array:
    return pa.concat_arrays([column(p, len(p), type_) for p in pieces])


def fixed(values: np.ndarray, scale: int = 10) -> pa.Array:
    """Amounts as fixed-point text (`2.1196800000`), as cost exports write them: no exponent."""
    return pa.array(np.round(values, scale), type=pa.float64()).cast(pa.decimal128(38, scale), safe=False).cast(pa.string())


def day_start(day: date) -> datetime:
    return datetime.combine(day, time())


def timestamps(values: np.ndarray) -> pa.Array:
    """numpy datetime64 (any unit) as Arrow timestamp[ms] without time zone (UTC by convention)."""
    return pa.array(values.astype("datetime64[ms]"), type=pa.timestamp("ms"))
