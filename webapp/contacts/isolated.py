"""Reading an upload in a child process, so that no file can take the server down with it.

The checks in read.py refuse every oversized file we know of before it is expanded; this is
the second line for the ones we do not know of. The child may use only so much memory
(RLIMIT_AS) and the parent waits only so long; a file that hits either is refused like any
other bad file, and the server, with the sender threads inside it, carries on. Children come
from a forkserver that imported the readers once (never a fork of the threaded server), and
hand the tables back through a pipe as Arrow IPC streams, each as soon as it is read: the
parent stores one part of a file while the child reads the next.
"""

from __future__ import annotations

import logging
import multiprocessing
import resource
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
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
# What a child sends: a description (a few plain values) and an Arrow table.
Part = tuple[dict, pa.Table]
# What runs in the child, called as reader(path, filename, limits=..., **options). It must
# be a module's own function, which the child imports by its name.
Reader = Callable[..., Iterator[Part]]


def read_table_isolated(
    path: str | Path, filename: str, *, limits: ImportLimits = DEFAULT_LIMITS, **options
) -> Table:
    """`read_table` in a child process bounded by `limits.max_memory_bytes` and `max_seconds`."""
    with read_isolated(_table_part, path, filename, limits=limits, **options) as parts:
        return _table(*next(parts))


@contextmanager
def read_isolated(
    reader: Reader,
    path: str | Path,
    filename: str,
    *,
    limits: ImportLimits = DEFAULT_LIMITS,
    **options,
) -> Iterator[Iterator[Part]]:
    """The parts `reader` makes of the file, made in a child process bounded like
    `read_table_isolated`: each comes as soon as it is made, while the child goes on, and
    `max_seconds` bounds the time spent waiting for them."""
    with _reader_turn(limits), _child(reader, Path(path), filename, limits, options) as parts:
        yield parts


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


@contextmanager
def _child(
    reader: Reader, path: Path, filename: str, limits: ImportLimits, options: dict
) -> Iterator[Iterator[Part]]:
    receiver, sender = _CONTEXT.Pipe(duplex=False)
    child = _CONTEXT.Process(
        target=_read_in_child, args=(sender, reader, path, filename, limits, options), daemon=True
    )
    child.start()
    sender.close()  # the child holds the only writing end: its death reads as end of file
    try:
        yield _received(receiver, child, filename, limits)
    finally:
        if child.is_alive():  # past its deadline, done, or left early by an error here
            child.kill()
        child.join()
        receiver.close()


def _received(
    receiver: Connection, child: BaseProcess, filename: str, limits: ImportLimits
) -> Iterator[Part]:
    """The parts the child sends, until it says it is done or refuses the file."""
    waited = _Waited(receiver, child, filename, limits)
    while (message := waited.recv())[0] == "part":
        # The table stays in the bytes received, not copied.
        yield message[1], pa.ipc.open_stream(waited.recv_bytes()).read_all()
    if message[0] == "refused":
        raise ImportFileError(*message[1:])
    if message[0] == "failed":
        raise ImportFileError(
            N_("The file could not be read: it is damaged or not what its name says."),
            status=415,
        )


class _Waited:
    """What comes from the child, waited for at most `limits.max_seconds` in all."""

    def __init__(
        self, receiver: Connection, child: BaseProcess, filename: str, limits: ImportLimits
    ) -> None:
        self.receiver, self.child, self.filename, self.limits = receiver, child, filename, limits
        self.left = limits.max_seconds

    def recv(self) -> tuple:
        self._wait()
        return self._taken(self.receiver.recv)

    def recv_bytes(self) -> bytes:
        self._wait()
        return self._taken(self.receiver.recv_bytes)

    def _wait(self) -> None:
        started = time.monotonic()
        ready = self.receiver.poll(max(self.left, 0))
        self.left -= time.monotonic() - started
        if not ready:
            raise ImportFileError(
                N_("Reading the file took longer than %(limit)s seconds: it is too large."),
                {"limit": f"{self.limits.max_seconds:g}"},
                422,
            )

    def _taken(self, take: Callable[[], object]) -> object:
        try:
            return take()
        except EOFError:
            self.child.join()
            code = self.child.exitcode
        # Out of memory the child goes silent (a MemoryError) or is killed by a signal; an exit
        # code of its own means it could not run at all, which is no fault of the file.
        if code > 0:
            log.error("The child reading %r could not run (exit code %s)", self.filename, code)
            raise ImportFileError(
                N_("The server could not read the file; its log says why. Try again later."),
                status=503,
            )
        log.warning("Reading %r stopped with exit code %s", self.filename, code)
        raise ImportFileError(
            N_("Reading the file needs more than %(limit)s MB of memory: it is too large."),
            {"limit": self.limits.max_memory_bytes >> 20},
            422,
        )


def _read_in_child(
    sender: Connection,
    reader: Reader,
    path: Path,
    filename: str,
    limits: ImportLimits,
    options: dict,
) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (limits.max_memory_bytes, limits.max_memory_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # an abort at the limit dumps no core
    # Should the parent be gone, the child still stops on its own.
    cpu_seconds = int(limits.max_seconds) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
    try:
        for description, table in reader(path, filename, limits=limits, **options):
            _send(sender, description, table)
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
    sender.send(("done",))


def _send(sender: Connection, description: dict, table: pa.Table) -> None:
    """A part: its description, then its table as an Arrow IPC stream."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    sender.send(("part", description))
    sender.send_bytes(sink.getvalue())


def _table_part(path: Path, filename: str, **options) -> Iterator[Part]:
    """`read_table`'s table as a part: cells named by position, then the row numbers."""
    table = read_table(path, filename, **options)
    columns = [pa.array(table.cells[name].array) for name in table.columns]
    arrow = pa.table([*columns, pa.array(table.rows)], [*map(str, range(len(columns))), _ROWS])
    yield table.description(), arrow


def _table(description: dict, arrow: pa.Table) -> Table:
    columns = description["columns"]
    cells = pd.DataFrame(
        {name: pd.array(arrow.column(i), dtype="str") for i, name in enumerate(columns)}
    )
    return Table(**description, cells=cells, rows=arrow.column(_ROWS).to_numpy())
