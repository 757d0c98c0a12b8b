"""Encodings for a cross-municipality linkage, with the refs of the project upload.

A body encodes its export a second time with the *joint* secret agreed for the
cross-link (``kakehashi encode --secret joint.secret``). That run gives every record a new
random ref; before the upload the refs are put back to the ones the body's project upload
used for the same record, so that the coordinator can find its own project tokens for the
records that link to the other city. Both keys files (ref → record id) stay on the body's
machine; only the re-keyed encodings are uploaded.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from encoders.keys import KeysFileError, read_keys
from encoders.shuffle import random_order
from linkage.container import Encodings, read_encodings


def project_refs(
    encodings: Encodings, cross_keys: str | Path, project_keys: str | Path
) -> tuple[Encodings, int]:
    """``encodings`` (made with the joint secret) with each ref replaced by the project
    upload's ref of the same record id; records the project upload does not have are
    dropped. Returns the re-keyed encodings and how many records were dropped.

    Raises:
        KeysFileError: a keys file is unreadable, a record id appears twice in the project
            keys file, or no record of the encodings is in the project keys file.
    """
    cross = read_keys(cross_keys)
    by_record: dict[str, str] = {}
    for ref, record_id in read_keys(project_keys).items():
        if record_id in by_record:
            raise KeysFileError(
                f"{project_keys}: record id {record_id!r} appears twice; cannot tell which "
                "project ref to use"
            )
        by_record[record_id] = ref
    keep: list[int] = []
    refs: list[str] = []
    for i, ref in enumerate(encodings.refs):
        record_id = cross.get(ref)
        if record_id is None:
            raise KeysFileError(
                f"{cross_keys}: has no row for ref {ref} of the encodings (row {i + 1}); give "
                "the keys file written together with these encodings"
            )
        project_ref = by_record.get(record_id)
        if project_ref is not None:
            keep.append(i)
            refs.append(project_ref)
    if not keep:
        raise KeysFileError(
            f"{project_keys}: none of the encoded records is in this project keys file; give "
            "the keys file of the body's project upload"
        )
    # A fresh random order (encoders.shuffle): the re-keyed file does not keep the
    # order of the joint-secret encodings.
    order = random_order(len(keep))
    kept = np.asarray(keep, dtype=np.int64)[order]
    rekeyed = replace(encodings, refs=[refs[i] for i in order.tolist()], clks=encodings.clks[kept])
    return rekeyed, len(encodings.refs) - len(keep)


def rekey_file(
    encodings_path: str | Path,
    cross_keys: str | Path,
    project_keys: str | Path,
    output: str | Path,
) -> tuple[int, int]:
    """Write the re-keyed encodings of ``encodings_path`` to ``output`` (binary format);
    return (records written, records dropped)."""
    from linkage.container import write_encodings

    rekeyed, dropped = project_refs(read_encodings(encodings_path), cross_keys, project_keys)
    write_encodings(output, rekeyed, "binary")
    return len(rekeyed.refs), dropped
