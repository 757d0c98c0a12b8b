"""Removing a body's own records by ref from its stored uploads.

Two callers: a deletion request (``POST /projects/{pid}/uploads/deletions``) and an append
upload that carries refs the body already stored (a changed record: the new version
replaces the old one). An upload file is never modified in place: the rows that stay are
written to a new file, the upload row points to it (an upload left with no record is
deleted), and the old file is unlinked after the transaction commits. A queued or running
run keeps reading its own hard-linked snapshot of the old file.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session

from linkage.container import REF_BYTES
from server.core.files import open_private
from server.core.security import new_id
from server.db.models import Upload
from server.storage import read_records


def ref_view(refs: np.ndarray) -> np.ndarray:
    """``(n, 16)`` uint8 refs as ``(n,)`` 16-byte void scalars (sortable, ``np.isin``-able)."""
    return np.ascontiguousarray(refs, np.uint8).reshape(-1, REF_BYTES).view(f"V{REF_BYTES}").ravel()


def refs_from_hex(refs: list[str]) -> np.ndarray:
    """32-character hex refs to ``(n, 16)`` uint8; ValueError naming the first bad one."""
    for i, ref in enumerate(refs):
        if not isinstance(ref, str) or len(ref) != 2 * REF_BYTES:
            raise ValueError(f"refs[{i}] is not a ref (32 hexadecimal characters)")
        try:
            int(ref, 16)
        except ValueError:
            raise ValueError(f"refs[{i}] is not a ref (32 hexadecimal characters)") from None
    blob = bytes.fromhex("".join(refs))
    return np.frombuffer(blob, np.uint8).reshape(-1, REF_BYTES)


def held_refs(uploads_dir: Path, uploads: list[Upload]) -> np.ndarray:
    """All refs of the given uploads, ``(n,)`` 16-byte void (see ``ref_view``)."""
    parts = [ref_view(read_records(uploads_dir / u.file_name, u.bit_length)[0]) for u in uploads]
    return np.concatenate(parts) if parts else np.zeros(0, f"V{REF_BYTES}")


def remove_refs(
    session: Session, uploads_dir: Path, uploads: list[Upload], refs: np.ndarray
) -> tuple[int, list[Path]]:
    """Remove the records with these refs from ``uploads`` (one body's, in ``session``).

    Args:
        refs: ``(k,)`` 16-byte void refs (``ref_view``) to remove.

    Returns:
        ``(records removed, old files to unlink after commit)``. New files are written
        (and fsynced) before this returns; if the transaction fails the caller unlinks
        nothing and the new files are orphans of no upload row.
    """
    removed = 0
    old_files: list[Path] = []
    for upload in uploads:
        path = uploads_dir / upload.file_name
        width = REF_BYTES + upload.bit_length // 8
        rows = np.fromfile(path, dtype=np.uint8).reshape(-1, width)
        gone = np.isin(ref_view(rows[:, :REF_BYTES]), refs)
        k = int(np.count_nonzero(gone))
        if not k:
            continue
        removed += k
        old_files.append(path)
        if k == len(rows):
            session.delete(upload)
            continue
        keep = rows[~gone]
        name = f"{new_id()}.rec"
        with open_private(uploads_dir / name) as handle:
            handle.write(keep.tobytes())
            handle.flush()
            os.fsync(handle.fileno())
        upload.file_name = name
        upload.count = len(keep)
        # The stored file no longer is the file the body sent: its digest is that of the
        # remaining records, so re-sending the original file is not taken as "unchanged".
        upload.sha256 = hashlib.sha256(keep.tobytes()).hexdigest()
    return removed, old_files
