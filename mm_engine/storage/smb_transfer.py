"""Moving a file's bytes over SMB in as few round trips as the protocol allows.

smbclient's file objects wait for each 1 MiB write to be answered before sending the next, and
renaming or stat-ing a file opens it again each time. Over a LAN every wait is a round trip in
which neither end works, so an archive run spent most of its time idle (issue 5's bench:
0.2 × smbclient). Here, on smbprotocol's own requests:

- a write keeps up to :data:`WRITES_IN_FLIGHT` writes outstanding (as smbclient the tool does),
  within the credits the server granted, each sent from one reused buffer without copying
  (:mod:`smb_wire`);
- the finished file is renamed into place and closed in one compound request, and the close
  returns its size and time, so no second open is needed to stat it;
- a small read (the archive job's check of a copy's last 64 KiB) is one related compound:
  open, read, close.

Every request sent is answered before these functions return, also on failure: smbprotocol
keeps a request's slot until someone receives its answer.
"""

from __future__ import annotations

import collections
import contextlib
from typing import Any, BinaryIO

from mm_engine.storage.base import READ_BACK, fill
from mm_engine.storage.smb_wire import writer_for, written
from mm_engine.text import msg

WRITE_CHUNK = 8 << 20  # as smbclient: a 5 MB recording is one request (within max_write_size)
WRITES_IN_FLIGHT = 2
_CREDIT_UNIT = 1 << 16  # bytes one credit pays for (MS-SMB2 3.1.5.2)
_END_OF_FILE = 0xC0000011


def _ids(tree: Any) -> tuple[int, int]:
    return tree.session.session_id, tree.tree_connect_id


def _credits_free(connection: Any) -> int:
    window = connection.sequence_window
    return int(window["high"] - window["low"])


def _charge(size: int) -> int:
    return max(1, (size + _CREDIT_UNIT - 1) // _CREDIT_UNIT)


def write_size(connection: Any) -> int:
    """The most one WRITE on ``connection`` carries."""
    return min(WRITE_CHUNK, int(connection.max_write_size))


def create_for_write(tree: Any, name: str) -> Any:
    """A new (or emptied) file ``name`` (share-relative, ``\\``-separated), open for
    :func:`write_and_rename`."""
    from smbprotocol.file_info import FileAttributes
    from smbprotocol.open import (
        CreateDisposition,
        CreateOptions,
        FilePipePrinterAccessMask,
        ImpersonationLevel,
        Open,
    )

    handle = Open(tree, name)
    handle.create(
        ImpersonationLevel.Impersonation,
        FilePipePrinterAccessMask.FILE_WRITE_DATA
        | FilePipePrinterAccessMask.FILE_READ_DATA  # the tail read back before closing
        | FilePipePrinterAccessMask.FILE_READ_ATTRIBUTES
        | FilePipePrinterAccessMask.DELETE,
        FileAttributes.FILE_ATTRIBUTE_NORMAL,
        0,  # nobody else opens a file while it is being written
        CreateDisposition.FILE_OVERWRITE_IF,
        CreateOptions.FILE_NON_DIRECTORY_FILE,
    )
    return handle


def write_and_rename(
    handle: Any, final_name: str, stream: BinaryIO, buffer: bytearray | None = None
) -> tuple[int, Any, bytes]:
    """Write ``stream`` through ``handle``, then read its last :data:`READ_BACK` bytes back,
    rename the file to ``final_name`` (replacing what is there) and close it, the three in one
    round trip. Returns the size and last-write time the server reports and the bytes read
    back. On failure the handle is closed and the file stays under its first name: the caller
    removes it. ``buffer`` (at least :func:`write_size` bytes) is reused for every write;
    without it one is made."""
    from smbprotocol.file_info import FileRenameInformation
    from smbprotocol.open import SMB2SetInfoRequest

    tree = handle.tree_connect
    connection = tree.session.connection
    sid, tid = _ids(tree)
    writer = writer_for(handle)
    chunk = write_size(connection)
    view = memoryview(buffer if buffer is not None else bytearray(chunk))[:chunk]
    wanted = WRITES_IN_FLIGHT * _charge(chunk)  # credits for a full window of writes
    in_flight: collections.deque[tuple[Any, int]] = collections.deque()
    try:
        offset = 0
        while True:
            while in_flight and (
                len(in_flight) >= WRITES_IN_FLIGHT or _credits_free(connection) < _charge(chunk)
            ):
                _answered_write(connection, in_flight.popleft())
            free = _credits_free(connection)
            # with nothing in flight and too few credits, a smaller write asks for more
            room = chunk if in_flight else min(chunk, max(1, free) * _CREDIT_UNIT)
            size = fill(stream, view[:room])
            if not size:
                break
            if writer is not None:
                request = writer.send(offset, view[:size], max(0, wanted - free))
            else:  # encrypted: smbprotocol seals it
                message, _ = handle.write(bytes(view[:size]), offset, send=False)
                request = connection.send(message, sid, tid)
            in_flight.append((request, size))
            offset += size
        while in_flight:
            _answered_write(connection, in_flight.popleft())

        rename = FileRenameInformation()
        rename["replace_if_exists"] = True
        rename["file_name"] = final_name
        set_info = SMB2SetInfoRequest()
        set_info["info_type"] = rename.INFO_TYPE
        set_info["file_info_class"] = rename.INFO_CLASS
        set_info["file_id"] = handle.file_id
        set_info["buffer"] = rename
        back = min(READ_BACK, offset)
        steps = [handle.read(offset - back, back, send=False)] if back else []
        steps += [(set_info, None), handle.close(get_attributes=True, send=False)]
        requests = connection.send_compound([m for m, _ in steps], sid, tid, related=False)
        answers: list[Any] = []
        failure: BaseException | None = None
        for request, (_, receive) in zip(requests, steps, strict=True):
            try:  # every answer is taken, and the handle is closed whatever else failed
                answers.append(receive(request) if receive else connection.receive(request))
            except Exception as exc:
                answers.append(None)
                failure = failure or exc
        if failure is not None:
            raise failure
        tail = bytes(answers[0]) if back else b""
        return int(handle.end_of_file), handle.last_write_time, tail
    except BaseException:
        _drain(connection, in_flight)
        if handle.connected:
            # the connection may be gone; the first error is the one to report
            with contextlib.suppress(Exception):
                handle.close()
        raise


def _answered_write(connection: Any, entry: tuple[Any, int]) -> None:
    request, expected = entry
    stored = written(connection, request)
    if stored != expected:
        raise OSError(
            msg(
                "the NAS stored {written} of {expected} bytes of a write",
                written=stored,
                expected=expected,
            )
        )


def _drain(connection: Any, in_flight: collections.deque[tuple[Any, int]]) -> None:
    while in_flight:
        request, _ = in_flight.popleft()
        with contextlib.suppress(Exception):
            connection.receive(request)


def read_range(tree: Any, name: str, offset: int, length: int) -> bytes:
    """Up to ``length`` bytes of ``name`` from ``offset`` (fewer at the end of the file), in
    one round trip. ``length`` must not exceed the connection's read size."""
    from smbprotocol.exceptions import SMBResponseException
    from smbprotocol.file_info import FileAttributes
    from smbprotocol.open import (
        CreateDisposition,
        CreateOptions,
        FilePipePrinterAccessMask,
        ImpersonationLevel,
        Open,
        ShareAccess,
    )

    connection = tree.session.connection
    sid, tid = _ids(tree)
    handle = Open(tree, name)
    steps = [
        handle.create(
            ImpersonationLevel.Impersonation,
            FilePipePrinterAccessMask.FILE_READ_DATA
            | FilePipePrinterAccessMask.FILE_READ_ATTRIBUTES,
            FileAttributes.FILE_ATTRIBUTE_NORMAL,
            ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_DELETE,
            CreateDisposition.FILE_OPEN,
            CreateOptions.FILE_NON_DIRECTORY_FILE,
            send=False,
        ),
        handle.read(offset, length, send=False),
        handle.close(send=False),
    ]
    requests = connection.send_compound([m for m, _ in steps], sid, tid, related=True)
    results: list[Any] = []
    failure: BaseException | None = None
    for request, (_, receive) in zip(requests, steps, strict=True):
        try:
            results.append(receive(request))
        except SMBResponseException as exc:
            results.append(None)
            if not (receive is steps[1][1] and exc.status == _END_OF_FILE):
                failure = failure or exc  # the open's error explains the others
        except Exception as exc:
            results.append(None)
            failure = failure or exc
    if failure is not None:
        raise failure
    return bytes(results[1] or b"")
