"""SMB2 WRITE requests sent straight from the caller's buffer.

smbprotocol builds every request as a Python structure and copies the data into it several
times on the way out: packing the write, packing the header around it, zeroing the signature
field to sign it, splicing the signature in and prefixing the transport's length. For 1 MiB of
recording that is five copies and most of the archive job's CPU (profiled: ~4 CPU-seconds per
GB, against ~1 for smbclient), and on a 2-core machine that shares the CPU with the NAS's own
server that is the throughput.

Here a WRITE is packed by hand (64-byte header + 48-byte request, MS-SMB2 2.2.1 and 2.2.21),
signed incrementally over its parts (AES-GMAC, AES-CMAC or HMAC-SHA256, as smbprotocol would
have chosen) and handed to the socket with one ``sendmsg`` of the parts: the data is read once
into a buffer and copied once, by the kernel. The request takes its message id and credits from
smbprotocol's own window under its lock and is registered as smbprotocol's own
:class:`~smbprotocol.connection.Request`, so the connection's receiver thread matches, verifies
and delivers the answer as for any other request.

Encrypted sessions are not handled here (:func:`writer_for` returns ``None``): the caller sends
those through smbprotocol.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from typing import Any

_HEADER = struct.Struct("<4sHHHHHHIIQIIQ16s")  # MS-SMB2 2.2.1.2, sync request header
_WRITE = struct.Struct("<HHIQ16sIIHHI")  # MS-SMB2 2.2.21, up to the data
_TRANSPORT = struct.Struct(">I")  # MS-SMB2 2.1, Direct TCP length prefix
_WRITE_COMMAND = 0x0009
_SIGNED = 0x00000008
_DFS = 0x10000000
_DATA_OFFSET = _HEADER.size + _WRITE.size  # 0x70
_CREDIT_UNIT = 1 << 16
_NO_SIGNATURE = bytes(16)

_GMAC = 0x0002
_CMAC = 0x0001
_SMB_3_0_0 = 0x0300
_SMB_3_1_1 = 0x0311


class Writer:
    """Sends WRITE requests for one open file (an smbprotocol ``Open``)."""

    def __init__(self, handle: Any) -> None:
        tree = handle.tree_connect
        session = tree.session
        self._connection = connection = session.connection
        self._session_id = int(session.session_id)
        self._tree_id = int(tree.tree_connect_id)
        self._file_id = bytes(handle.file_id)
        self._flags = _DFS if tree.is_dfs_share else 0
        self._key: bytes | None = None
        if session.signing_required and session.signing_key:
            self._key = bytes(session.signing_key)
            self._flags |= _SIGNED
        self._algorithm = _algorithm(connection)

    def send(self, offset: int, data: memoryview, more_credits: int = 0) -> Any:
        """Send ``data`` to be written at ``offset``, asking for ``more_credits`` beyond what
        the write uses; returns the smbprotocol ``Request``, answered through
        ``connection.receive`` like any other. ``data`` may be reused as soon as this
        returns."""
        from smbprotocol.connection import Request
        from smbprotocol.exceptions import SMBException
        from smbprotocol.header import SMB2HeaderRequest
        from smbprotocol.open import SMB2WriteRequest

        connection = self._connection
        size = len(data)
        charge = (size - 1) // _CREDIT_UNIT + 1 if connection.supports_multi_credit else 0
        with connection.sequence_lock:
            window = connection.sequence_window
            available = window["high"] - window["low"]
            if charge > available:
                raise SMBException(
                    f"Request requires {charge} credits but only {available} credits are available"
                )
            message_id = window["low"]
            window["low"] += charge or 1

        header = _HEADER.pack(
            b"\xfeSMB", 64, charge, 0, 0, _WRITE_COMMAND, min(charge + more_credits, 0xFFFF),
            self._flags, 0,
            message_id, 0, self._tree_id, self._session_id, _NO_SIGNATURE,
        )  # fmt: skip
        body = _WRITE.pack(49, _DATA_OFFSET, size, offset, self._file_id, 0, 0, 0, 0, 0)
        if self._key is not None:
            signature = self._sign(message_id, (header, body, data))
            header = header[:48] + signature

        # what the receiver thread and receive() read back: the command, ids and the reserved
        # field smbprotocol marks its own keep-alive echoes with
        record = SMB2HeaderRequest()
        record["command"] = _WRITE_COMMAND
        record["message_id"] = message_id
        record["tree_id"] = self._tree_id
        record["session_id"] = self._session_id
        record["credit_charge"] = charge
        request = Request(record, SMB2WriteRequest, connection, session_id=self._session_id)
        connection.outstanding_requests[message_id] = request

        connection._check_worker_running()
        prefix = _TRANSPORT.pack(_DATA_OFFSET + size) + header + body
        _send_all(connection.transport, [prefix, data])
        return request

    def _sign(self, message_id: int, parts: tuple[bytes, bytes, memoryview]) -> bytes:
        key = self._key
        assert key is not None
        if self._algorithm == _GMAC:
            from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

            nonce = message_id.to_bytes(8, "little") + bytes(4)  # a request, not a cancel
            encryptor = Cipher(algorithms.AES(key), modes.GCM(nonce)).encryptor()
            for part in parts:
                encryptor.authenticate_additional_data(part)
            encryptor.finalize()
            return bytes(encryptor.tag)
        if self._algorithm == _CMAC:
            from cryptography.hazmat.primitives import cmac
            from cryptography.hazmat.primitives.ciphers import algorithms

            mac = cmac.CMAC(algorithms.AES(key))
            for part in parts:
                mac.update(part)  # type: ignore[arg-type]  # any buffer, at run time
            return mac.finalize()
        digest = hmac.new(key, digestmod=hashlib.sha256)
        for part in parts:
            digest.update(part)
        return digest.digest()[:16]


def writer_for(handle: Any) -> Writer | None:
    """A :class:`Writer` for ``handle``, or ``None`` when its session or share is encrypted."""
    tree = handle.tree_connect
    if tree.session.encrypt_data or tree.encrypt_data:
        return None
    return Writer(handle)


def _algorithm(connection: Any) -> int:
    """The signing algorithm smbprotocol uses on this connection (its ``_generate_signature``)."""
    dialect = int(connection.dialect)
    if dialect >= _SMB_3_1_1 and connection.signing_algorithm_id is not None:
        return int(connection.signing_algorithm_id)
    if dialect >= _SMB_3_0_0:
        return _CMAC
    return 0  # HMAC-SHA256


def _send_all(transport: Any, parts: list[bytes | memoryview]) -> None:
    """Write ``parts`` to the transport's socket in order, under its send lock, without
    joining them."""
    views = [memoryview(p).cast("B") for p in parts]
    with transport._sock_lock:
        sock = transport._sock
        while views:
            sent = sock.sendmsg(views)
            while sent:
                first = views[0]
                if sent >= len(first):
                    sent -= len(first)
                    views.pop(0)
                else:
                    views[0] = first[sent:]
                    sent = 0


def written(connection: Any, request: Any) -> int:
    """Wait for the answer to a WRITE sent by :meth:`Writer.send` (or smbprotocol) and return
    how many bytes the server stored; an error status raises smbprotocol's exception."""
    from smbprotocol.open import SMB2WriteResponse

    response = connection.receive(request)
    answer = SMB2WriteResponse()
    answer.unpack(response["data"].get_value())
    return int(answer["count"].get_value())
