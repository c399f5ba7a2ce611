"""Reading an upload in a child process, so that no file can take the server down with it.

The checks in read.py refuse every oversized file we know of before it is expanded; this is
the second line for the ones we do not know of. The child may use only so much memory
(RLIMIT_AS) and the parent waits only so long; a file that hits either is refused like any
other bad file, and the server, with the sender threads inside it, carries on. Children come
from a forkserver that imported the readers once (never a fork of the threaded server), and
hand the table back as an Arrow IPC file that the parent maps without copying.
"""

from __future__ import annotations

import logging
import multiprocessing
import resource
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path

import pandas as pd
import pyarrow as pa

from webapp.i18n import N_

from .errors import ImportFileError
from .read import DEFAULT_LIMITS, ImportLimits, Table, read_table

log = logging.getLogger(__name__)

_CONTEXT = multiprocessing.get_context("forkserver")
# "__main__" too: each child is prepared like the parent, which means importing the server's
# main module (a gunicorn or flask script); imported once in the forkserver, it is done with.
_CONTEXT.set_forkserver_preload(["__main__", __name__])
_ROWS = "rows"  # the Arrow column of spreadsheet row numbers; cells are named by position
# Each child may take max_memory_bytes: however many uploads arrive together, this many are
# read at once and the rest wait their turn, so reading can never take the whole machine.
READERS = threading.BoundedSemaphore(2)


def read_table_isolated(
    path: str | Path, filename: str, *, limits: ImportLimits = DEFAULT_LIMITS, **options
) -> Table:
    """`read_table` in a child process bounded by `limits.max_memory_bytes` and `max_seconds`."""
    with _reader_turn(limits):
        return _read_in_a_child(Path(path), filename, limits, options)


@contextmanager
def _reader_turn(limits: ImportLimits) -> Iterator[None]:
    """One of the ``READERS``, waited for as long as a file may take to read."""
    if not READERS.acquire(timeout=limits.max_seconds):
        raise ImportFileError(
            N_("The server is busy reading other files; try again in a minute."), status=503
        )
    try:
        yield
    finally:
        READERS.release()


def _read_in_a_child(path: Path, filename: str, limits: ImportLimits, options: dict) -> Table:
    arrow_path = path.with_name(f".{path.name}.{secrets.token_hex(8)}.arrow")
    receiver, sender = _CONTEXT.Pipe(duplex=False)
    child = _CONTEXT.Process(
        target=_read_in_child,
        args=(sender, path, filename, arrow_path, limits, options),
        daemon=True,
    )
    child.start()
    sender.close()  # the child holds the only writing end: its death reads as end of file
    try:
        if not receiver.poll(limits.max_seconds):
            raise ImportFileError(
                N_("Reading the file took longer than %(limit)s seconds: it is too large."),
                {"limit": f"{limits.max_seconds:g}"},
                422,
            )
        try:
            outcome = receiver.recv()
        except EOFError:
            child.join()
            log.warning("Reading %r stopped with exit code %s", filename, child.exitcode)
            raise ImportFileError(
                N_("Reading the file needs more than %(limit)s MB of memory: it is too large."),
                {"limit": limits.max_memory_bytes >> 20},
                422,
            ) from None
        if outcome[0] == "refused":
            raise ImportFileError(*outcome[1:])
        if outcome[0] == "failed":
            raise ImportFileError(
                N_("The file could not be read: it is damaged or not what its name says."),
                status=415,
            )
        return _load(arrow_path, *outcome[1:])
    finally:
        if child.is_alive():  # past its deadline, or tearing down after it answered
            child.kill()
        child.join()
        receiver.close()
        arrow_path.unlink(missing_ok=True)


def _read_in_child(
    sender: Connection,
    path: Path,
    filename: str,
    arrow_path: Path,
    limits: ImportLimits,
    options: dict,
) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (limits.max_memory_bytes, limits.max_memory_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # an abort at the limit dumps no core
    # Should the parent be gone, the child still stops on its own.
    cpu_seconds = int(limits.max_seconds) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
    try:
        table = read_table(path, filename, limits=limits, **options)
        _save(table, arrow_path)
    except ImportFileError as error:
        sender.send(("refused", error.message, error.params, error.status))
        return
    except MemoryError:
        return  # the parent reads the silence as running out of memory
    except BaseException:
        # Whatever a hostile file makes a reader throw is a refusal, logged to be looked at;
        # a panic in calamine's Rust comes as a BaseException.
        log.exception("Reading %r failed", filename)
        sender.send(("failed",))
        return
    sender.send(
        ("read", table.columns, table.encoding, table.delimiter, table.sheet, table.sheet_names)
    )


def _save(table: Table, arrow_path: Path) -> None:
    columns = [pa.array(table.cells[name].array) for name in table.columns]
    arrow = pa.table([*columns, pa.array(table.rows)], [*map(str, range(len(columns))), _ROWS])
    with pa.OSFile(str(arrow_path), "wb") as file, pa.ipc.new_file(file, arrow.schema) as writer:
        writer.write_table(arrow)


def _load(
    arrow_path: Path,
    columns: list[str],
    encoding: str | None,
    delimiter: str | None,
    sheet: str | None,
    sheet_names: list[str],
) -> Table:
    """The child's table, mapped from its file rather than copied (the mapping outlives it)."""
    with pa.memory_map(str(arrow_path)) as source:
        arrow = pa.ipc.open_file(source).read_all()
    cells = pd.DataFrame(
        {name: pd.array(arrow.column(i), dtype="str") for i, name in enumerate(columns)}
    )
    return Table(
        columns=columns,
        cells=cells,
        rows=arrow.column(_ROWS).to_numpy(),
        encoding=encoding,
        delimiter=delimiter,
        sheet=sheet,
        sheet_names=sheet_names,
    )
