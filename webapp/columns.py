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


def replaced(
    text: pa.Array | pa.ChunkedArray, replacements: Sequence[tuple[str, str]]
) -> pa.Array | pa.ChunkedArray:
    """`text` with each (ASCII character, replacement) replaced, in order. Columns often hold
    none of them: finding none in their bytes costs a fraction of a replacement."""
    for char, replacement in replacements:
        if any((data == ord(char)).any() for data in value_bytes(text)):
            text = pc.replace_substring(text, char, replacement)
    return text


def value_bytes(text: pa.Array | pa.ChunkedArray) -> Iterator[np.ndarray]:
    """The bytes holding the values of a string array, chunk by chunk; those of a slice may
    reach past it, which only costs a search the answer would have spared."""
    for chunk in text.chunks if isinstance(text, pa.ChunkedArray) else [text]:
        if (data := chunk.buffers()[2]) is not None:
            yield np.frombuffer(data, np.uint8)
