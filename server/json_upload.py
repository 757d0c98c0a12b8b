"""Streaming reader for JSON encodings uploads: checked as they arrive, never held whole.

A JSON upload has the known shape ``{"schema_id": str, "bit_length": int,
"secret_fingerprint": str, "refs": [hex, ...], "clks": [base64, ...]}`` (any key order;
unknown scalar keys are ignored). The file is walked with ijson's event parser, so memory
stays at one read buffer plus the current chunk of CLKs, and the refs (16 bytes a record,
which the duplicate-ref check needs anyway), whatever the file size:

- nesting deeper than the shape allows (``[[[[...`` or objects inside the lists) is refused
  at the first level too deep, before the parser goes on;
- each header field is checked when it arrives (type, range, and against the project via
  ``on_header``), so a file that declares its header first (as Kakehashi writes it) is
  refused before any record is read;
- each CLK and ref is checked when it arrives (``clks[i]: ...``), CLKs go to a spill file
  in chunks and are paired with their refs into the records file at the end.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import ijson
import numpy as np

from linkage.container import (
    REF_BYTES,
    check_bit_length,
    check_fingerprint,
    check_ref,
    check_schema_id,
    describe_value,
)
from linkage.errors import EncodingsFormatError
from server.core.files import open_private

_BUF = 64 * 1024
_CHUNK_ROWS = 8192
_HEADER_KEYS = ("schema_id", "bit_length", "secret_fingerprint")


@dataclass
class JsonUpload:
    """What a JSON upload declared and held, after a successful read."""

    schema_id: str | None
    bit_length: int
    secret_fingerprint: str | None
    refs: np.ndarray  # (n, 16) uint8
    count: int


def _scalar(event: str, value: Any) -> Any:
    if event == "number" and isinstance(value, Decimal):
        return float(value)  # 1e400 → inf, 1024.0 → float: check_bit_length refuses both
    return value


def read_json_upload(
    raw_path: Path,
    out_path: Path,
    on_header: Callable[[str, Any], None],
) -> JsonUpload:
    """Read the JSON upload ``raw_path``; write records (ref + CLK rows) to ``out_path``.

    ``on_header(key, value)`` is called once per header field as soon as it is read (after
    its type check) and may raise to refuse the upload against the project.

    Raises:
        EncodingsFormatError: the file is not valid JSON of the expected shape; the message
            says what is wrong and where (key, list index, byte offset for syntax errors).
    """
    spill = out_path.with_name(out_path.name + ".clks")
    try:
        return _read(raw_path, out_path, spill, on_header)
    except ijson.common.IncompleteJSONError as exc:
        raise EncodingsFormatError(f"encodings JSON is not valid: {_syntax(exc)}") from exc
    except ijson.common.JSONError as exc:
        raise EncodingsFormatError(f"encodings JSON is not valid: {_syntax(exc)}") from exc
    finally:
        spill.unlink(missing_ok=True)


def _syntax(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def _read(
    raw_path: Path, out_path: Path, spill: Path, on_header: Callable[[str, Any], None]
) -> JsonUpload:
    header: dict[str, Any] = {}
    seen: set[str] = set()
    nbytes: int | None = None
    n_clks = 0
    ref_bytes = bytearray()  # 16 bytes a ref, not a Python object each
    n_refs = 0
    pending: list[bytes] = []
    depth = 0
    key: str | None = None  # the top-level key being read
    with raw_path.open("rb") as src, open_private(spill) as clk_out:
        # basic_parse, not parse: parse builds a prefix string per event, which costs
        # O(depth²) on a deeply nested file before any check could stop it.
        for event, value in ijson.basic_parse(src, buf_size=_BUF, use_float=False):
            if event in ("start_map", "start_array"):
                depth += 1
                if depth == 1:
                    if event != "start_map":
                        raise EncodingsFormatError(
                            'encodings JSON must be an object with "refs" and "clks" lists'
                        )
                    continue
                if depth > 2 or key not in ("clks", "refs") or event != "start_array":
                    index = n_clks if key == "clks" else n_refs
                    where = f"{key}[{index}]" if depth > 2 else f'"{key}"'
                    raise EncodingsFormatError(
                        f"{where}: unexpected {'object' if event == 'start_map' else 'list'}"
                        " (the file nests deeper than refs and clks lists)"
                    )
                continue
            if event in ("end_map", "end_array"):
                depth -= 1
                continue
            if event == "map_key":
                if value in seen:
                    raise EncodingsFormatError(f'key "{describe_value(value)}" appears twice')
                seen.add(value)
                key = value
                continue
            if depth == 2 and key == "clks":
                if not isinstance(value, str):
                    raise EncodingsFormatError(
                        f"clks[{n_clks}] must be a base64 string, got {describe_value(value)}"
                    )
                try:
                    raw = base64.b64decode(value, validate=True)
                except (binascii.Error, ValueError) as exc:
                    raise EncodingsFormatError(f"clks[{n_clks}] is not valid base64") from exc
                if nbytes is None:
                    nbytes = len(raw)
                    check_bit_length(nbytes * 8, f"clks[{n_clks}] length in bits")
                if len(raw) != nbytes:
                    raise EncodingsFormatError(
                        f"clks[{n_clks}] is {len(raw) * 8} bits but earlier CLKs "
                        f"(or bit_length) say {nbytes * 8}"
                    )
                pending.append(raw)
                n_clks += 1
                if len(pending) >= _CHUNK_ROWS:
                    clk_out.write(b"".join(pending))
                    pending.clear()
                continue
            if depth == 2 and key == "refs":
                ref = check_ref(value, f"refs[{n_refs}]")
                ref_bytes += bytes.fromhex(ref)
                n_refs += 1
                continue
            if depth == 1 and key in _HEADER_KEYS:
                header[key] = _check_header(key, _scalar(event, value))
                if key == "bit_length":
                    if nbytes is not None and nbytes * 8 != header[key]:
                        raise EncodingsFormatError(
                            f"CLKs are {nbytes * 8} bits but bit_length says {header[key]}"
                        )
                    nbytes = header[key] // 8
                on_header(key, header[key])
                continue
            if depth == 1 and key in ("clks", "refs"):
                raise EncodingsFormatError(f'"{key}" must be a list')
            # Other scalar keys at the top level (clkhash writes none) are ignored.
        if pending:
            clk_out.write(b"".join(pending))
        clk_out.flush()
    if "clks" not in seen:
        raise EncodingsFormatError('encodings JSON must be an object with a "clks" list')
    if "refs" not in seen:
        raise EncodingsFormatError(
            'encodings JSON has no "refs": each CLK needs a random ref (write it with '
            "`kakehashi encode --format json`)"
        )
    if n_refs != n_clks:
        raise EncodingsFormatError(f'"refs" must be a list as long as "clks" ({n_clks})')
    for key in _HEADER_KEYS:
        if key not in header:
            on_header(key, None)
    if nbytes is None:
        raise EncodingsFormatError("the file holds no CLKs and declares no bit_length")
    refs = np.frombuffer(bytes(ref_bytes), dtype=np.uint8).reshape(-1, REF_BYTES)
    del ref_bytes
    _pair(spill, out_path, refs, nbytes)
    return JsonUpload(
        schema_id=header.get("schema_id"),
        bit_length=nbytes * 8,
        secret_fingerprint=header.get("secret_fingerprint"),
        refs=refs,
        count=n_clks,
    )


def _check_header(key: str, value: Any) -> Any:
    if key == "bit_length":
        return check_bit_length(value, "bit_length")
    if key == "schema_id":
        return check_schema_id(value, "schema_id")
    return check_fingerprint(value, "secret_fingerprint")


def _pair(spill: Path, out_path: Path, refs: np.ndarray, nbytes: int) -> None:
    """Write rows ``ref + CLK`` from the refs and the spilled CLKs, chunk by chunk."""
    width = REF_BYTES + nbytes
    with spill.open("rb") as clks, open_private(out_path) as dst:
        for start in range(0, refs.shape[0], _CHUNK_ROWS):
            part = refs[start : start + _CHUNK_ROWS]
            block = np.frombuffer(clks.read(part.shape[0] * nbytes), dtype=np.uint8)
            rows = np.empty((part.shape[0], width), dtype=np.uint8)
            rows[:, :REF_BYTES] = part
            rows[:, REF_BYTES:] = block.reshape(part.shape[0], nbytes)
            dst.write(rows.tobytes())
        dst.flush()
        os.fsync(dst.fileno())
