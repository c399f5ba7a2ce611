"""Text built column by column with Arrow: many rows of cells turned into one bytes buffer.

Used where Python per row would cost seconds on a million rows: downloads and bulk loads.
"""

from __future__ import annotations

from collections.abc import Sequence

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
        if may_hold(text, char.encode()):
            text = pc.replace_substring(text, char, replacement)
    return text


def may_hold(text: pa.Array | pa.ChunkedArray, characters: bytes, below: int = 0) -> bool:
    """Whether a value of the string array may hold one of the bytes ``characters`` or a byte
    below ``below``.

    A scan of the column's bytes, a tenth of a regular expression's cost on each value: most
    columns hold none, and a false alarm (the bytes of a slice may reach past it) only costs
    the value-by-value work it would spare.
    """
    for chunk in text.chunks if isinstance(text, pa.ChunkedArray) else [text]:
        if (buffer := chunk.buffers()[2]) is None:
            continue
        data = np.frombuffer(buffer, np.uint8)
        if data.min(initial=255) < below or any((data == char).any() for char in characters):
            return True
    return False
