"""Text built column by column with Arrow: many rows of cells turned into one bytes buffer.

Used where Python per row would cost seconds on a million rows: downloads and bulk loads.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def literal(value: str) -> pa.Scalar:
    """A constant to join with string columns (which Arrow keeps as large strings here)."""
    return pa.scalar(value, pa.large_string())


def joined_rows(
    parts: Sequence[pa.Array | pa.ChunkedArray | pa.Scalar], separator: str = ""
) -> bytes:
    """Each row's parts joined by ``separator``, then all rows back to back, as bytes."""
    parts = [
        part if isinstance(part, pa.Scalar) else part.cast(pa.large_string()) for part in parts
    ]
    rows = pc.binary_join_element_wise(*parts, literal(separator))
    if isinstance(rows, pa.ChunkedArray):
        rows = pa.concat_arrays(rows.chunks) if rows.num_chunks else pa.array([], pa.large_string())
    if not len(rows):
        return b""
    # A string array keeps its values back to back in one buffer: take them as they lie.
    offsets = np.frombuffer(rows.buffers()[1], np.int64)[rows.offset : rows.offset + len(rows) + 1]
    return rows.buffers()[2][offsets[0] : offsets[-1]].to_pybytes()


def utf8_bytes(column: pa.Array | pa.ChunkedArray) -> Iterator[np.ndarray]:
    """The column's texts back to back as UTF-8 bytes, chunk by chunk, read in place."""
    for chunk in column.chunks if isinstance(column, pa.ChunkedArray) else [column]:
        chunk = chunk.cast(pa.large_string())
        offsets = np.frombuffer(chunk.buffers()[1], np.int64)
        if chunk.buffers()[2] is not None:
            data = np.frombuffer(chunk.buffers()[2], np.uint8)
            yield data[offsets[chunk.offset] : offsets[chunk.offset + len(chunk)]]
