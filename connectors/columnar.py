"""Pages decoded into Arrow columns, for the streams with the most rows.

Building a Python dict per record costs most of a big stream's CPU, and the millions of small
objects fragment the process's memory for the rest of a run. For such a stream the client asks
`ApiClient.request(..., columnar=schema)` for a page: Arrow's C++ JSON reader decodes the answer
against the page's declared layout into one row of nested columns, and the connector turns those
into the stream's columns with Arrow compute, never touching a record in Python.

That path only takes pages it can read exactly as the record builders would. Arrow refuses a
value of another JSON type than declared; a connector checks what Arrow cannot (a required value
that is absent, text that is not in the exact form the fast path parses) and raises `Irregular`.
Either way the page goes to the connector's per-record builders instead (`ArrowBody.python()`),
which return the same records or raise the SchemaError naming the field. So the fast path never
decides what is valid: it only skips the builders for pages they would accept unchanged.
"""

from __future__ import annotations

import io
import json
import threading
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json


class Irregular(Exception):
    """A page the columnar path does not read exactly as the record builders do: they take it."""


@dataclass(frozen=True)
class ArrowBody:
    """A 2xx answer decoded against its declared layout: one row, a column per top-level field
    (fields the layout does not declare are inferred, so a connector can tell which it ignores)."""

    table: pa.Table
    content: bytes

    def python(self) -> Any:
        """The answer as `json` parses it, for the record builders."""
        return json.loads(self.content)

    def column(self, name: str) -> pa.Array:
        """A top-level field's one value, as a length-1 array (null when the answer lacks it)."""
        return self.table.column(name).combine_chunks()

    def value(self, name: str) -> Any:
        """A top-level field's value in Python. Only for declared fields: Arrow guesses the types of the
        others (a date-like text becomes a timestamp)."""
        return self.table.column(name)[0].as_py() if name in self.table.column_names else None

    def items(self, name: str) -> pa.StructArray:
        """The records of a top-level list of objects (`emails`, `rows`), as one struct array."""
        return pc.list_flatten(self.column(name))


def decode(content: bytes, layout: pa.Schema) -> ArrowBody:
    """One JSON object decoded against `layout`; raises pyarrow.ArrowInvalid on malformed JSON or
    on any value whose JSON type differs from the declared one."""
    table = pa_json.read_json(
        io.BytesIO(content),
        read_options=pa_json.ReadOptions(block_size=len(content) + 1, use_threads=False),
        parse_options=pa_json.ParseOptions(explicit_schema=layout, unexpected_field_behavior="infer",
                                           newlines_in_values=True),
    )
    if table.num_rows != 1:
        raise pa.ArrowInvalid(f"expected one JSON object, got {table.num_rows}")
    return ArrowBody(table, content)


def require_valid(array: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """The array, when none of its values is null (an absent required field); else Irregular."""
    if array.null_count:
        raise Irregular("a required value is absent")
    return array


def require_matches(strings: pa.Array | pa.ChunkedArray, pattern: str) -> pa.Array | pa.ChunkedArray:
    """The strings, when every one matches `pattern` (the exact form the fast path parses); else Irregular."""
    if len(strings) and not pc.all(pc.match_substring_regex(strings, pattern)).as_py():
        raise Irregular(f"a value is not of the form {pattern}")
    return strings


def blank_to_null(strings: pa.Array) -> pa.Array:
    """Empty text as null (the builders' `value or None`)."""
    return pc.if_else(pc.equal(strings, ""), pa.scalar(None, strings.type), strings)


def struct_fields(array: pa.Array) -> set[str]:
    """The field names of a struct array's type (declared and inferred)."""
    return {field.name for field in array.type}


_database: duckdb.DuckDBPyConnection | None = None
_database_lock = threading.Lock()


def query(sql: str, params: list | None = None, **tables: pa.Table) -> pa.Table:
    """A DuckDB query over Arrow tables (by name), for what Arrow compute lacks, such as SHA-1.

    One in-memory database for the process, a cursor per query: a cursor costs ~0.3 ms, a database
    ~25 ms, and the reading threads come and go with each stream. One thread per query: pages are
    small, and the callers' threads are the parallelism. Hand it timestamps without a time zone
    (DuckDB's zone functions need its ICU extension, which it may not be able to load)."""
    global _database
    with _database_lock:
        if _database is None:
            _database = duckdb.connect(config={"threads": 1})
        con = _database.cursor()
    try:
        for name, table in tables.items():
            con.register(name, table)
        return con.sql(sql, params=params).to_arrow_table()
    finally:
        con.close()
