"""Incremental runs on the server: keep each done run's pairs, link the next one by delta.

After a run, its ``linkage.delta.PairState`` (every record's body, ref and CLK digest, and
every scored candidate pair at or above the threshold) is written to
``<uploads>/pairs/<project id>/<run id>.npz``, private to the server process. It is never
returned by the API. The next run of the project is incremental when

* the newest *done* run left such a file (a failed or cancelled run's file is never used),
* the file reads back, and its threshold, CLK length and deduplicating bodies are the
  project's now (constraints from review are applied at clustering and need no check);

otherwise it is a full run. Either way the run's stats say which (``link_mode``, and
``link_full_reason`` for a full run) and how large the delta was. Files of older runs are
removed when a new run starts; a project's folder goes when it is closed or when retention
deletes some of its encodings (the next run is then full).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from linkage.container import REF_BYTES
from server.core.files import FILE_MODE, private_dir

PAIRS = "pairs"


def state_dir(uploads_dir: Path, pid: str) -> Path:
    """The folder of project ``pid``'s stored pair states."""
    return uploads_dir / PAIRS / pid


def drop_states(uploads_dir: Path, pid: str) -> None:
    """Remove every stored pair state of project ``pid`` (its next run is full)."""
    shutil.rmtree(state_dir(uploads_dir, pid), ignore_errors=True)


def link_run(
    uploads_dir: Path,
    pid: str,
    rid: str,
    previous: str | None,
    names: list[str],
    refs: list[np.ndarray],
    datasets: list[np.ndarray],
    *,
    threshold: float,
    dedup: set[str],
    known: Any,
    full_link: Callable[..., Any] | None = None,
) -> tuple[Any, dict[str, Any], Callable[[], None]]:
    """Link a run's records, incrementally when the previous done run allows it.

    Args:
        previous: id of the project's newest done run, or None.
        names, refs, datasets: per body (in project order): name, hex refs ``(n_d,)``,
            CLKs ``(n_d, bit_length/8)`` uint8.
        known: ``linkage.outcomes`` constraints (``must_link``, ``cannot_link``,
            ``decided``) in global record indices.
        full_link: the function a full run links with (``server.scaleout.linker``: the
            in-process engine, or the same run with its scoring on a Dask cluster);
            default ``linkage.engine.link``.

    Returns:
        ``(LinkResult, stats for the run, save)``: call ``save()`` before marking the run
        done to store its pair state for the next run.
    """
    # Imported here: the engine pulls in numba, which would slow every server start.
    from linkage.delta import PairState, compatible, link_delta, state_of
    from linkage.engine import link

    folder = state_dir(uploads_dir, pid)
    for stale in folder.glob("*.npz*") if folder.exists() else []:
        if stale.name not in (f"{previous}.npz", f"{rid}.npz"):
            stale.unlink(missing_ok=True)
    dedup_flags = [n in dedup for n in names]
    dedup_names = [n for n in names if n in dedup]
    bit_length = int(datasets[0].shape[1] * 8)
    raw = [np.asarray(r, np.uint8).reshape(-1, REF_BYTES) for r in refs]
    constraints = {
        "must_link": known.must_link,
        "cannot_link": known.cannot_link,
        "decided": known.decided,
    }
    state = PairState.load(folder / f"{previous}.npz") if previous is not None else None
    reason = None
    if previous is None:
        reason = "no earlier run"
    elif state is None:
        reason = "no stored pairs of the previous run"
    elif not compatible(state, threshold=threshold, bit_length=bit_length, dedup=dedup_names):
        reason = "threshold, bit length or deduplication changed"
    stats: dict[str, Any]
    if state is not None and reason is None:
        done = link_delta(names, datasets, raw, state, threshold=threshold, dedup=dedup_flags,
                          **constraints)  # fmt: skip
        result, new_state = done.result, done.state
        stats = {
            "link_mode": "incremental",
            "delta_records": int(done.stats["delta"]),
            "delta_added": int(done.stats["added"]),
            "delta_changed": int(done.stats["changed"]),
            "delta_deleted": int(done.stats["deleted"]),
            "pairs_kept": int(done.stats["kept_pairs"]),
            "pairs_new": int(done.stats["new_pairs"]),
            "comparisons": int(done.stats["comparisons"]),
            "seconds_link": round(done.stats["seconds_total"], 3),
        }
    else:
        # The threshold is the project's, fixed, in full runs as in incremental ones
        # (which cannot learn it): both give the same groups (docs/engine.md).
        result = (full_link or link)(datasets, threshold=threshold, threshold_from_data=False,
                                     dedup=dedup_flags, **constraints)  # fmt: skip
        new_state = state_of(names, datasets, raw, result, dedup=dedup_names)
        stats = {
            "link_mode": "full",
            "link_full_reason": reason,
            "delta_records": int(sum(len(d) for d in datasets)),
            "comparisons": int(result.stats["comparisons"]),
            "seconds_link": round(result.stats["seconds_total"], 3),
        }
    stats["pairs_complete"] = bool(new_state.complete)

    def save() -> None:
        private_dir(folder.parent)
        private_dir(folder)
        path = folder / f"{rid}.npz"
        new_state.save(path)  # inside a folder only the server can read
        os.chmod(path, FILE_MODE)

    return result, stats, save
