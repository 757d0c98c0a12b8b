"""Families in the server (issue 16): storing family files, deleting them, and the run step.

A body's family file (``linkage.family_format``) is stored as rows of ``family_rows``
(guardian CLKs, relations, birth tags, pregnancy windows), replacing the body's earlier
one; it goes on project close and after the retention period like encodings.

After a run has linked the children (``server.worker``), :func:`run_family`:

1. links the guardians' CLKs across bodies with ``linkage.engine.link`` (same
   threshold; within a body too where its rows are guardians, e.g. a mother's two 妊娠届);
2. puts every relation (child ref → guardian ref) on a child token and a guardian group,
   and matches pregnancies to children (``linkage.family.match_pregnancies``: the same
   mother's group, a birth tag inside the pregnancy's window); a multiple birth gives one
   link per child token, an unmatched pregnancy stays open;
3. forms households, the connected components of child tokens and guardian groups, a
   pregnancy's link counting as a relation to its mother;
4. keeps household tokens stable across runs with ``linkage.incremental.update_tokens``
   (a child's household token of the previous run is its old token) and pregnancy tokens
   per (body, ref);
5. relates the guardian groups holding a record of a body whose rows are guardians
   (福祉's payees, 母子保健's mothers) to the households of their children: one
   ``guardian_in`` row (household token, body name) per household and such body.

Results are written as ``family_links`` rows of the run (tokens only) before the run is
marked done, so they become visible together with its token table. The family rows are
read when the run executes (not from the run's snapshot of encodings).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session, sessionmaker

from linkage.family_format import TAG_BYTES, FamilyDocument
from server.db.models import FamilyLink, FamilyRow, FamilyUpload, Run

_BATCH = 20_000


# -- storage ------------------------------------------------------------------------------
def store_family_rows(
    session: Session, upload_id: str, pid: str, body: str, doc: FamilyDocument
) -> None:
    """Add the rows of ``doc`` under ``upload_id`` in ``session`` (caller commits)."""
    rows: list[dict[str, Any]] = []
    base = {"upload_id": upload_id, "project_id": pid, "body": body}
    rows += [{**base, "kind": "guardian", "ref": r, "data": clk} for r, clk in doc.guardians]
    rows += [
        {**base, "kind": "relation", "ref": c, "other": g, "role": role}
        for c, g, role in doc.relations
    ]
    rows += [{**base, "kind": "birth", "ref": c, "data": tag} for c, tag in doc.births]
    rows += [
        {
            **base,
            "kind": "pregnancy",
            "ref": p,
            "other": g,
            "data": b"".join(w),
            "offsets": list(w.values()),
        }
        for p, g, w in doc.pregnancies
    ]
    for start in range(0, len(rows), _BATCH):
        session.execute(insert(FamilyRow), rows[start : start + _BATCH])


def delete_family_uploads(session: Session, ids: Sequence[str]) -> None:
    if ids:
        session.execute(delete(FamilyRow).where(FamilyRow.upload_id.in_(list(ids))))
        session.execute(delete(FamilyUpload).where(FamilyUpload.id.in_(list(ids))))


def delete_project_family(session: Session, pid: str) -> int:
    """Delete a project's family uploads and rows (on close); return uploads deleted."""
    ids = list(
        session.execute(select(FamilyUpload.id).where(FamilyUpload.project_id == pid)).scalars()
    )
    delete_family_uploads(session, ids)
    return len(ids)


def delete_family_before(session: Session, cutoff: datetime) -> dict[str, int]:
    """Delete family uploads created before ``cutoff``; return ``{project_id: uploads}``."""
    old = session.execute(
        select(FamilyUpload.id, FamilyUpload.project_id).where(FamilyUpload.created_at < cutoff)
    ).all()
    delete_family_uploads(session, [i for i, _ in old])
    by_project: dict[str, int] = defaultdict(int)
    for _, pid in old:
        by_project[pid] += 1
    return dict(by_project)


# -- the run step -------------------------------------------------------------------------
def _previous_links(session: Session, pid: str, rid: str) -> tuple[dict, dict]:
    """The newest finished run's household token per child token and pregnancy token per
    (body, ref)."""
    previous = session.execute(
        select(Run.id)
        .where(Run.project_id == pid, Run.status == "done", Run.id != rid)
        .order_by(Run.finished_at.desc())
        .limit(1)
    ).scalar()
    household: dict[str, str] = {}
    pregnancy: dict[tuple[str, str], str] = {}
    if previous is not None:
        for kind, token, linked, body, ref in session.execute(
            select(
                FamilyLink.kind, FamilyLink.token, FamilyLink.linked, FamilyLink.body,
                FamilyLink.ref,
            ).where(FamilyLink.run_id == previous)
        ):  # fmt: skip
            if kind == "household" and linked:
                household[token] = linked
            elif kind == "pregnancy" and body is not None and ref is not None:
                pregnancy[(body, ref)] = token
    return household, pregnancy


def _guardian_groups(
    guardians: dict[str, list[tuple[str, bytes]]], threshold: float, dedup: set[str]
) -> tuple[dict[tuple[str, str], int], int]:
    """Group id of each (body, guardian ref): guardians linked across bodies, and within
    the bodies of ``dedup``."""
    bodies = sorted(guardians)
    total = sum(len(v) for v in guardians.values())
    if total < 2:
        return {(b, r): 0 for b in bodies for r, _ in guardians[b]}, total
    from linkage.engine import link  # numba: imported only when a run needs it

    datasets = [
        np.frombuffer(b"".join(c for _, c in guardians[b]), np.uint8).reshape(len(guardians[b]), -1)
        for b in bodies
    ]
    # Fixed threshold, as in every server run (docs/engine.md, the threshold section).
    result = link(datasets, threshold=threshold, dedup=[b in dedup for b in bodies],
                  threshold_from_data=False)  # fmt: skip
    group: dict[tuple[str, str], int] = {}
    for b, of in zip(bodies, result.group_of, strict=True):
        for (ref, _), g in zip(guardians[b], of.tolist(), strict=True):
            group[(b, ref)] = int(g)
    return group, int(result.n_groups)


def _guardian_bodies(
    pairs: Sequence[tuple[int, int]],
    household_tokens: Sequence[str],
    group_of_guardian: dict[tuple[str, str], int],
    subject_bodies: set[str],
) -> list[tuple[str, str]]:
    """(household token, body) for every body whose rows are guardians (payees, 妊娠届)
    and that holds a record of some guardian of the household, sorted.

    ``pairs`` are (child index, guardian group) from the relations of the bodies that
    know 続柄 and from pregnancy links; ``household_tokens`` is the household token of
    each child index. Only the body's name is kept: not which guardian, nor how many.
    """
    bodies_of_group: dict[int, set[str]] = defaultdict(set)
    for (body, _), group in group_of_guardian.items():
        if body in subject_bodies:
            bodies_of_group[group].add(body)
    found: set[tuple[str, str]] = set()
    for child, group in pairs:
        for body in bodies_of_group.get(group, ()):
            found.add((household_tokens[child], body))
    return sorted(found)


def run_family(
    factory: sessionmaker[Session],
    rid: str,
    pid: str,
    children: Callable[[], tuple[Sequence[tuple[str, str]], Sequence[str]]],
    threshold: float,
) -> dict[str, Any]:
    """Compute and write run ``rid``'s family links; return counts for the run's stats.

    ``children()`` gives the run's children as ``(owners, record_tokens)``: (body, hex ref)
    and hex token of each record; it is called only when a body uploaded a family file.
    Returns ``{}`` (and writes nothing) when no body did.
    """
    from linkage.family import households, match_pregnancies
    from linkage.incremental import update_tokens
    from linkage.tokens import new_token

    with factory() as session:
        rows = list(
            session.execute(
                select(
                    FamilyRow.body, FamilyRow.kind, FamilyRow.ref, FamilyRow.other,
                    FamilyRow.data, FamilyRow.offsets,
                ).where(FamilyRow.project_id == pid)
            ).all()
        )  # fmt: skip
        old_household, old_pregnancy = _previous_links(session, pid, rid)
        keep = session.execute(
            select(Run.id)
            .where(Run.project_id == pid, Run.status == "done")
            .order_by(Run.finished_at.desc())
            .limit(1)
        ).scalar()
        runs = select(Run.id).where(Run.project_id == pid, Run.id.not_in([rid, keep or rid]))
    with factory() as session, session.begin():
        # A re-run starts clean; links of superseded runs are never served again.
        session.execute(delete(FamilyLink).where(FamilyLink.run_id == rid))
        session.execute(delete(FamilyLink).where(FamilyLink.run_id.in_(runs)))
    if not rows:
        return {}
    owners, record_tokens = children()

    guardians: dict[str, list[tuple[str, bytes]]] = defaultdict(list)
    for body, kind, ref, _, data, _ in rows:
        if kind == "guardian" and data is not None:
            guardians[body].append((ref, data))
    # A body whose rows are guardians (妊娠届, payees) may hold one guardian as several
    # records (a mother's two 妊娠届, the second after marriage): its guardians
    # deduplicate. A body that relates children to guardians encoded one ref per
    # guardian already, and there deduplication would merge spouses (same surname and
    # address, close birth years).
    relating = {body for body, kind, *_ in rows if kind == "relation"}
    group_of_guardian, n_guardian_groups = _guardian_groups(
        guardians, threshold, set(guardians) - relating
    )

    child_tokens = sorted(set(record_tokens))
    child_index = {t: i for i, t in enumerate(child_tokens)}
    token_of = dict(zip(owners, record_tokens, strict=True))
    births: dict[int, set[bytes]] = defaultdict(set)
    relations: list[tuple[int, int]] = []
    stale = 0  # relations or birth tags naming a child ref not in this run (re-encoded)
    pregnancies: list[tuple[str, str, int, dict[bytes, int]]] = []
    for body, kind, ref, other, data, offsets in rows:
        if kind == "birth":
            token = token_of.get((body, ref))
            if token is not None and data is not None:
                births[child_index[token]].add(data)
            else:
                stale += 1
        elif kind == "relation":
            token = token_of.get((body, ref))
            guardian = group_of_guardian.get((body, other or ""))
            if token is not None and guardian is not None:
                relations.append((child_index[token], guardian))
            else:
                stale += 1
        elif kind == "pregnancy":
            guardian = group_of_guardian.get((body, other or ""))
            if guardian is not None and data is not None:
                tags = [data[i : i + TAG_BYTES] for i in range(0, len(data), TAG_BYTES)]
                window = dict(zip(tags, offsets or [0] * len(tags), strict=True))
                pregnancies.append((body, ref, guardian, window))
    relations = sorted(set(relations))

    # Pregnancy → child: one row per (relation, birth tag of the child).
    rel_child: list[int] = []
    rel_guardian: list[int] = []
    rel_tag: list[bytes] = []
    for child, guardian in relations:
        for tag in sorted(births.get(child, ())):
            rel_child.append(child)
            rel_guardian.append(guardian)
            rel_tag.append(tag)
    links = match_pregnancies(
        np.array([g for _, _, g, _ in pregnancies], np.int64),
        [w for _, _, _, w in pregnancies],
        np.array(rel_child, np.int64),
        np.array(rel_guardian, np.int64),
        rel_tag,
    )

    # Households over relations and pregnancy links (the mother is the child's guardian).
    pairs = relations + [
        (int(c), pregnancies[int(p)][2])
        for p, c in zip(links.preg_index.tolist(), links.child_group.tolist(), strict=True)
    ]
    household = households(
        np.array([c for c, _ in pairs], np.int64),
        np.array([g for _, g in pairs], np.int64),
        len(child_tokens),
    )
    n_households = int(household.max()) + 1 if household.size else 0
    update = update_tokens([old_household.get(t) for t in child_tokens], household, n_households)
    preg_tokens = [old_pregnancy.get((b, r)) or new_token() for b, r, _, _ in pregnancies]

    out: list[dict[str, Any]] = [
        {"run_id": rid, "kind": "household", "token": t, "linked": h, "review": False}
        for t, h in zip(child_tokens, update.record_tokens, strict=True)
    ]
    for p, c, flag in zip(
        links.preg_index.tolist(), links.child_group.tolist(), links.ambiguous.tolist(),
        strict=True,
    ):  # fmt: skip
        body, ref, _, _ = pregnancies[p]
        out.append(
            {"run_id": rid, "kind": "pregnancy", "token": preg_tokens[p],
             "linked": child_tokens[c], "body": body, "ref": ref, "review": bool(flag)}
        )  # fmt: skip
    for p in links.open.tolist():
        body, ref, _, _ = pregnancies[p]
        out.append(
            {"run_id": rid, "kind": "pregnancy", "token": preg_tokens[p], "linked": None,
             "body": body, "ref": ref, "review": False}
        )  # fmt: skip
    guardian_links = _guardian_bodies(
        pairs, update.record_tokens, group_of_guardian, set(guardians) - relating
    )
    out += [
        {"run_id": rid, "kind": "guardian_in", "token": h, "body": b, "review": False}
        for h, b in guardian_links
    ]
    for start in range(0, len(out), _BATCH):
        with factory() as session, session.begin():
            session.execute(insert(FamilyLink), out[start : start + _BATCH])
    sizes = np.bincount(household) if household.size else np.zeros(0, np.int64)
    return {
        "guardians": sum(len(v) for v in guardians.values()),
        "guardian_groups": n_guardian_groups,
        "relations": len(relations),
        "households_with_siblings": int(np.count_nonzero(sizes > 1)),
        "pregnancies": len(pregnancies),
        "pregnancy_links": int(links.preg_index.size),
        "pregnancies_open": int(links.open.size),
        "pregnancy_links_review": int(np.count_nonzero(links.ambiguous)),
        "stale_child_refs": stale,
        "households_with_guardian_body": len({h for h, _ in guardian_links}),
    }
