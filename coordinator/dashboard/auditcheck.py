"""Check the project's audit entries as the coordinator receives them.

The server's audit log is one hash chain over every project: ``hash = SHA-256(prev_hash
|| canonical JSON of [seq, ts, actor, project_id, action, detail])`` (the format of
``server/core/audit.py``; a test checks both compute the same hash). The coordinator
sees only its own project's entries, so it can

* recompute every entry's hash from its content and its ``prev_hash`` (an edited entry
  fails), and
* check the link ``prev_hash == hash of the previous entry`` wherever two of its entries
  are consecutive in the chain.

Between entries whose sequence numbers are not consecutive lie other projects' (or
server-wide) entries, which only the operator can check (``kakehashi audit verify``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


def entry_hash(
    prev_hash: str, seq: int, ts: str, actor: str, project_id: str | None, action: str, detail: str
) -> str:
    content = json.dumps(
        [seq, ts, actor, project_id, action, detail], separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256((prev_hash + content).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ChainCheck:
    ok: bool
    entries: int
    links_checked: int
    gaps: int
    problems: tuple[str, ...]


def check_entries(entries: Sequence[dict[str, Any]], project_id: str) -> ChainCheck:
    """Check entries (as ``GET /projects/{pid}/audit`` returns them, in seq order)."""
    problems: list[str] = []
    links = gaps = 0
    previous: dict[str, Any] | None = None
    for e in entries:
        detail = json.dumps(e["detail"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        again = entry_hash(
            e["prev_hash"], e["seq"], e["ts"], e["actor"], project_id, e["action"], detail
        )
        if again != e["hash"]:
            problems.append(f"記録 {e['seq']}: 内容がハッシュと一致しません")
        if previous is not None:
            if e["seq"] <= previous["seq"]:
                problems.append(f"記録 {e['seq']}: 番号の順序が正しくありません")
            elif e["seq"] == previous["seq"] + 1:
                links += 1
                if e["prev_hash"] != previous["hash"]:
                    problems.append(f"記録 {e['seq']}: 直前の記録とのつながりが切れています")
            else:
                gaps += 1
        previous = e
    return ChainCheck(not problems, len(entries), links, gaps, tuple(problems))
