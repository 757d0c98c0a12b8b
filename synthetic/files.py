"""Writing a synthetic town to disk, the same way for every generator.

A generator's town has ``bodies`` (body key -> an export with ``spec.filename`` and
``to_bytes()``) and ``truth`` ((body, record id) -> person id); these two functions are
what its ``write_exports`` and ``write_truth`` do, so the demo, the tests and the
benchmarks read every generator's files alike.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def write_exports(bodies: Mapping[str, Any], folder: Path) -> dict[str, Path]:
    """Write one file per body into ``folder`` (created); return body key -> path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for key, export in bodies.items():
        path = folder / export.spec.filename
        path.write_bytes(export.to_bytes())
        paths[key] = path
    return paths


def write_truth(truth: Mapping[tuple[str, str], str], path: Path) -> Path:
    """Write the truth as CSV ``body,record_id,person_id`` (UTF-8); return ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(("body", "record_id", "person_id"))
        for (body, rid), pid in truth.items():
            writer.writerow((body, rid, pid))
    return path
