"""The encodings container: refs + CLKs + schema id, in two interchangeable formats.

*Compact binary* (default, ``.kkh``)::

    magic      8 bytes   b"KKHENC1\\n"
    hlen       4 bytes   little-endian uint32, length of the header
    header     hlen      UTF-8 JSON: {"format": "kakehashi-encodings", "version": 1,
                         "schema_id": hex, "bit_length": int, "ref_bytes": 16,
                         "secret_fingerprint": "7F3A-91C2-0B5D-E844"}
    records    n × (16 + bit_length/8) bytes: a 128-bit random ref, then the CLK bytes
    trailer    32 bytes  SHA-256 of everything before it

*clkhash-compatible JSON*: ``{"schema_id": hex, "bit_length": int, "secret_fingerprint":
str, "refs": [hex, ...], "clks": [base64, ...]}`` (written in that order, so that a reader
streaming the file checks the header before any record). clkhash's own output
(``{"clks": [...]}``) is this format without refs; Kakehashi requires refs, because record
order alone must never identify anyone.

``secret_fingerprint`` is the encoder's fingerprint of the linkage secret
(``encoders.secret.fingerprint``: 64 bits of a SHA-256 of the 256-bit random secret, so it
cannot be reversed). It lets the server refuse a body that encoded with a different secret
from the others, whose records would otherwise silently link with nothing.

CLK bytes are ``bitarray.tobytes()`` of clkhash's big-endian bit arrays, i.e. exactly the
bytes that clkhash base64-encodes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import secrets
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

import numpy as np

from linkage.errors import EncodingsFormatError

MAGIC = b"KKHENC1\n"
REF_BYTES = 16
_TRAILER = 32
MAX_HEADER = 64 * 1024
#: Largest CLK accepted (bits). clkhash schemas use 1024-4096; this bound keeps a header's
#: ``bit_length`` from sizing buffers of absurd size before any record is read.
MAX_BIT_LENGTH = 16384
#: ``encoders.secret.fingerprint`` output: four groups of four upper-case hex digits.
FINGERPRINT_PATTERN = re.compile(r"[0-9A-F]{4}(?:-[0-9A-F]{4}){3}")
_REF_PATTERN = re.compile(r"[0-9a-fA-F]{32}")
_READ_BYTES = 8 * 1024 * 1024

Format = Literal["binary", "json"]


def new_ref() -> str:
    """A fresh random 128-bit ref, as 32 lowercase hex characters."""
    return secrets.token_hex(REF_BYTES)


def new_refs(n: int) -> list[str]:
    """``n`` fresh random refs from one read of the system's random source."""
    pool = secrets.token_bytes(REF_BYTES * n).hex()
    step = 2 * REF_BYTES
    return [pool[i : i + step] for i in range(0, len(pool), step)]


@dataclass(frozen=True)
class Encodings:
    """A body's encoded records.

    Attributes:
        refs: ``n`` refs, 32-character lowercase hex strings, unique.
        clks: ``(n, bit_length // 8)`` uint8 array, one CLK per row.
        bit_length: CLK length in bits (a multiple of 64).
        schema_id: the SHA-256 id of the linkage schema used, or None if undeclared.
        secret_fingerprint: fingerprint of the linkage secret the CLKs were made with, or
            None if undeclared (the server refuses such a file).
    """

    refs: list[str]
    clks: np.ndarray
    bit_length: int
    schema_id: str | None
    secret_fingerprint: str | None = None

    def __post_init__(self) -> None:
        if self.clks.dtype != np.uint8 or self.clks.ndim != 2:
            raise EncodingsFormatError("clks must be a 2-D uint8 array")
        if self.clks.shape[1] * 8 != self.bit_length:
            raise EncodingsFormatError(
                f"CLK rows are {self.clks.shape[1] * 8} bits but bit_length is {self.bit_length}"
            )
        if len(self.refs) != self.clks.shape[0]:
            raise EncodingsFormatError(
                f"{len(self.refs)} refs for {self.clks.shape[0]} CLKs: counts must match"
            )

    def __len__(self) -> int:
        return len(self.refs)


def describe_value(value: object) -> str:
    """A short description of a header value for an error message (never more than ~40 chars)."""
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_ref(ref: object, where: str) -> str:
    """A ref: exactly 32 hexadecimal characters (no spaces, no sign); returned lower-case."""
    if not isinstance(ref, str) or not _REF_PATTERN.fullmatch(ref):
        raise EncodingsFormatError(
            f"{where}: ref must be {2 * REF_BYTES} hexadecimal characters, got "
            f"{describe_value(ref)}"
        )
    return ref.lower()


def check_bit_length(value: object, where: str = "header bit_length") -> int:
    """A declared CLK length: a whole number, a positive multiple of 64, at most MAX_BIT_LENGTH.

    Refuses ``1e400``, ``2**40``, ``"abc"``, ``[1]``, ``true`` and ``1024.0`` alike.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise EncodingsFormatError(
            f"{where} must be a whole number of bits, got {describe_value(value)}"
        )
    if value <= 0 or value % 64 or value > MAX_BIT_LENGTH:
        raise EncodingsFormatError(
            f"{where} {describe_value(value)} must be a positive multiple of 64 "
            f"no larger than {MAX_BIT_LENGTH}"
        )
    return value


def check_schema_id(value: object, where: str = "header schema_id") -> str | None:
    """A declared schema id: a string of at most 128 characters, or None."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 128:
        raise EncodingsFormatError(
            f"{where} must be a schema id string, got {describe_value(value)}"
        )
    return value


def check_fingerprint(value: object, where: str = "header secret_fingerprint") -> str | None:
    """A declared secret fingerprint (``XXXX-XXXX-XXXX-XXXX``, upper-case hex), or None."""
    if value is None:
        return None
    if not isinstance(value, str) or not FINGERPRINT_PATTERN.fullmatch(value):
        raise EncodingsFormatError(
            f"{where} must look like 7F3A-91C2-0B5D-E844, got {describe_value(value)}"
        )
    return value


def _header_bytes(schema_id: str | None, bit_length: int, fingerprint: str | None) -> bytes:
    header = {
        "format": "kakehashi-encodings",
        "version": 1,
        "schema_id": schema_id,
        "bit_length": bit_length,
        "ref_bytes": REF_BYTES,
        "secret_fingerprint": fingerprint,
    }
    return json.dumps(header, sort_keys=True).encode("utf-8")


class BinaryWriter:
    """Stream records into a compact binary encodings file.

    Writes to a temporary file beside ``path`` and renames it into place on
    :meth:`close`; :meth:`abort` (or an exception inside ``with``) removes it, so no
    partial encodings file is ever left behind.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        schema_id: str | None,
        bit_length: int,
        secret_fingerprint: str | None = None,
    ) -> None:
        check_bit_length(bit_length, "bit length")
        check_fingerprint(secret_fingerprint, "secret fingerprint")
        self.path = Path(path)
        self.bit_length = bit_length
        self.count = 0
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent or ".")
        self._tmp = Path(tmp)
        self._file: BinaryIO = os.fdopen(fd, "wb")
        self._hash = hashlib.sha256()
        header = _header_bytes(schema_id, bit_length, secret_fingerprint)
        self._write(MAGIC + struct.pack("<I", len(header)) + header)

    def _write(self, data: bytes) -> None:
        self._hash.update(data)
        self._file.write(data)

    def write(self, refs: list[str], clks: np.ndarray) -> None:
        """Append records: ``refs`` (n hex strings) and ``clks`` ((n, bit_length/8) uint8)."""
        nbytes = self.bit_length // 8
        if clks.shape != (len(refs), nbytes):
            raise EncodingsFormatError(
                f"expected ({len(refs)}, {nbytes}) CLK bytes, got {clks.shape}"
            )
        rows = np.empty((len(refs), REF_BYTES + nbytes), dtype=np.uint8)
        rows[:, :REF_BYTES] = np.frombuffer(
            b"".join(bytes.fromhex(r) for r in refs), dtype=np.uint8
        ).reshape(len(refs), REF_BYTES)
        rows[:, REF_BYTES:] = clks
        self._write(rows.tobytes())
        self.count += len(refs)

    def close(self) -> None:
        self._file.write(self._hash.digest())
        self._file.close()
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        self._file.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> BinaryWriter:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def to_json_bytes(encodings: Encodings) -> bytes:
    """Serialise as clkhash-compatible JSON (with refs, schema id, bit length, fingerprint).

    The header fields come first, so that a streaming reader checks them before any record.
    """
    document = {
        "schema_id": encodings.schema_id,
        "bit_length": encodings.bit_length,
        "secret_fingerprint": encodings.secret_fingerprint,
        "refs": list(encodings.refs),
        "clks": [base64.b64encode(row.tobytes()).decode("ascii") for row in encodings.clks],
    }
    return json.dumps(document).encode("utf-8")


def write_encodings(path: str | Path, encodings: Encodings, fmt: Format = "binary") -> None:
    """Write ``encodings`` atomically in the chosen format."""
    path = Path(path)
    if fmt == "json":
        _atomic_write_bytes(path, to_json_bytes(encodings))
        return
    with BinaryWriter(
        path,
        schema_id=encodings.schema_id,
        bit_length=encodings.bit_length,
        secret_fingerprint=encodings.secret_fingerprint,
    ) as w:
        w.write(encodings.refs, encodings.clks)


@dataclass(frozen=True)
class BinaryHeader:
    schema_id: str | None
    bit_length: int
    header_size: int
    secret_fingerprint: str | None = None

    @property
    def record_size(self) -> int:
        return REF_BYTES + self.bit_length // 8


def parse_binary_header(prefix: bytes) -> BinaryHeader | None:
    """Parse the header at the start of a binary file; None if ``prefix`` is too short yet."""
    if len(prefix) < len(MAGIC) + 4:
        return None
    if prefix[: len(MAGIC)] != MAGIC:
        raise EncodingsFormatError("not a Kakehashi binary encodings file (bad magic)")
    (hlen,) = struct.unpack("<I", prefix[len(MAGIC) : len(MAGIC) + 4])
    if hlen > MAX_HEADER:
        raise EncodingsFormatError("encodings header is implausibly large")
    end = len(MAGIC) + 4 + hlen
    if len(prefix) < end:
        return None
    try:
        header = json.loads(prefix[len(MAGIC) + 4 : end])
    except RecursionError as exc:
        raise EncodingsFormatError("encodings header is nested too deeply") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise EncodingsFormatError(f"encodings header is not valid JSON: {exc}") from exc
    if not isinstance(header, dict):
        raise EncodingsFormatError("encodings header must be a JSON object")
    if "bit_length" not in header:
        raise EncodingsFormatError("encodings header has no bit_length")
    bit_length = check_bit_length(header["bit_length"])
    ref_bytes = header.get("ref_bytes", REF_BYTES)
    if isinstance(ref_bytes, bool) or ref_bytes != REF_BYTES:
        raise EncodingsFormatError(
            f"header ref_bytes {describe_value(ref_bytes)} is not supported (only {REF_BYTES})"
        )
    return BinaryHeader(
        schema_id=check_schema_id(header.get("schema_id")),
        bit_length=bit_length,
        header_size=end,
        secret_fingerprint=check_fingerprint(header.get("secret_fingerprint")),
    )


def _decode_binary(data: bytes) -> Encodings:
    header = parse_binary_header(data)
    if header is None:
        raise EncodingsFormatError("encodings file is truncated (header incomplete)")
    body = data[header.header_size : len(data) - _TRAILER]
    if len(data) < header.header_size + _TRAILER:
        raise EncodingsFormatError("encodings file is truncated (no checksum trailer)")
    if hashlib.sha256(data[: len(data) - _TRAILER]).digest() != data[len(data) - _TRAILER :]:
        raise EncodingsFormatError("encodings file checksum does not match: truncated or altered")
    if len(body) % header.record_size:
        raise EncodingsFormatError("encodings file length is not a whole number of records")
    rows = np.frombuffer(body, dtype=np.uint8).reshape(-1, header.record_size)
    refs = [bytes(r).hex() for r in rows[:, :REF_BYTES]]
    clks = np.ascontiguousarray(rows[:, REF_BYTES:])
    return Encodings(
        refs=refs,
        clks=clks,
        bit_length=header.bit_length,
        schema_id=header.schema_id,
        secret_fingerprint=header.secret_fingerprint,
    )


def _decode_json(data: bytes) -> Encodings:
    try:
        document = json.loads(data)
    except RecursionError as exc:
        raise EncodingsFormatError("encodings JSON is nested too deeply") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EncodingsFormatError(f"encodings JSON is not valid: {exc}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("clks"), list):
        raise EncodingsFormatError('encodings JSON must be an object with a "clks" list')
    b64 = document["clks"]
    refs_in = document.get("refs")
    if refs_in is None:
        raise EncodingsFormatError(
            'encodings JSON has no "refs": each CLK needs a random ref (write it with '
            "`kakehashi encode --format json`)"
        )
    if not isinstance(refs_in, list) or len(refs_in) != len(b64):
        raise EncodingsFormatError(f'"refs" must be a list as long as "clks" ({len(b64)})')
    try:
        raw = [base64.b64decode(c, validate=True) for c in b64]
    except (binascii.Error, TypeError) as exc:
        raise EncodingsFormatError("a CLK is not valid base64") from exc
    lengths = {len(r) for r in raw}
    declared = document.get("bit_length")
    if declared is not None:
        declared = check_bit_length(declared, "bit_length")
    if len(lengths) > 1:
        raise EncodingsFormatError(
            f"CLKs have different lengths: {sorted(n * 8 for n in lengths)} bits"
        )
    nbytes = lengths.pop() if lengths else (declared // 8 if declared else 0)
    if declared is not None and declared != nbytes * 8:
        raise EncodingsFormatError(f"CLKs are {nbytes * 8} bits but bit_length says {declared}")
    if nbytes == 0 or nbytes % 8:
        raise EncodingsFormatError(
            f"CLK length {nbytes * 8} bits must be a positive multiple of 64"
        )
    refs = [check_ref(r, f"refs[{i}]") for i, r in enumerate(refs_in)]
    clks = np.frombuffer(b"".join(raw), dtype=np.uint8).reshape(len(raw), nbytes).copy()
    return Encodings(
        refs=refs,
        clks=clks,
        bit_length=nbytes * 8,
        schema_id=check_schema_id(document.get("schema_id"), "schema_id"),
        secret_fingerprint=check_fingerprint(
            document.get("secret_fingerprint"), "secret_fingerprint"
        ),
    )


def decode_encodings(data: bytes) -> Encodings:
    """Decode either format from bytes (detected by the first bytes) and check refs are unique."""
    if data.startswith(MAGIC):
        encodings = _decode_binary(data)
    elif data.lstrip()[:1] == b"{":
        encodings = _decode_json(data)
    else:
        raise EncodingsFormatError("not an encodings file: expected Kakehashi binary or JSON")
    if len(set(encodings.refs)) != len(encodings.refs):
        raise EncodingsFormatError("refs are not unique")
    return encodings


def read_encodings(path: str | Path) -> Encodings:
    """Read an encodings file of either format."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise EncodingsFormatError(f"{path}: cannot read ({exc.strerror})") from exc
    try:
        return decode_encodings(data)
    except EncodingsFormatError as exc:
        raise EncodingsFormatError(f"{path}: {exc}") from exc


def iter_binary_records(
    stream: BinaryIO, *, chunk_rows: int = 65536
) -> Iterator[tuple[BinaryHeader, list[str], np.ndarray]]:
    """Stream a binary encodings file in chunks without holding it whole.

    Yields ``(header, refs, clks)`` with ``clks`` shaped ``(k, bit_length/8)``; verifies the
    checksum trailer at the end and raises :class:`EncodingsFormatError` if it fails.
    """
    buf = b""
    header: BinaryHeader | None = None
    while header is None:
        more = stream.read(65536)
        if not more:
            raise EncodingsFormatError("encodings file is truncated (header incomplete)")
        buf += more
        header = parse_binary_header(buf)
    digest = hashlib.sha256(buf[: header.header_size])
    buf = buf[header.header_size :]
    size = header.record_size
    # Never buffer more than about _READ_BYTES, whatever the record size.
    chunk_rows = max(1, min(chunk_rows, _READ_BYTES // size))
    eof = False
    while not eof:
        while len(buf) < chunk_rows * size + _TRAILER and not eof:
            more = stream.read(max(65536, chunk_rows * size))
            if more:
                buf += more
            else:
                eof = True
        usable = len(buf) - _TRAILER if eof else min(chunk_rows * size, len(buf) - _TRAILER)
        usable -= usable % size
        if eof and (len(buf) - _TRAILER) % size:
            raise EncodingsFormatError("encodings file is truncated (partial record)")
        if usable > 0:
            chunk = buf[:usable]
            digest.update(chunk)
            rows = np.frombuffer(chunk, dtype=np.uint8).reshape(-1, size)
            yield header, [bytes(r).hex() for r in rows[:, :REF_BYTES]], rows[:, REF_BYTES:].copy()
            buf = buf[usable:]
    if len(buf) != _TRAILER or digest.digest() != buf:
        raise EncodingsFormatError("encodings file checksum does not match: truncated or altered")
