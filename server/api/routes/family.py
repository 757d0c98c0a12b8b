"""Family files (issue 16): a body uploads ``*.family.json``; the coordinator reads the
households and pregnancy links of the latest run (tokens only).

An upload is checked whole before anything is stored: format, schema, bit length and
secret fingerprint as for encodings, and every child ref it names must be one of the
body's current encodings. It replaces the body's earlier family file; all of it is stored
in one transaction or nothing is. Bodies cannot read any family result.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from linkage.family_format import FamilyDocument, FamilyFormatError, parse_family_document
from server.api import API_PREFIX
from server.api.deps import (
    Body,
    Coordinator,
    FactoryDep,
    Principal,
    SessionDep,
    SettingsDep,
    audit_note,
    check_member,
    latest_done_run,
    project_for,
)
from server.api.receive import receive_request
from server.api.routes.signals import _body_refs
from server.core import audit
from server.core.problems import Problem
from server.core.security import new_id
from server.db.models import FamilyLink, FamilyUpload, Upload
from server.family_run import delete_family_uploads, store_family_rows

router = APIRouter(prefix=API_PREFIX, tags=["family"])
FAMILY_MAX_BYTES = 128 * 1024 * 1024
"""A family file is parsed in memory: about 500 000 guardians with relations fit."""
_log = logging.getLogger("kakehashi.server.family")


def _bad(detail: str, kind: str = "invalid-family") -> Problem:
    return Problem(422, "Invalid family file", detail, kind)


def _parse(raw: bytes) -> FamilyDocument:
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise _bad("the family file is not JSON") from exc
    try:
        return parse_family_document(doc)
    except FamilyFormatError as exc:
        raise _bad(f"{exc}; nothing was stored") from exc


def _store(
    factory: Any, settings: Any, principal: Principal, pid: str, doc: FamilyDocument, sha: str
) -> dict[str, Any]:
    body = principal.body or ""
    with factory() as session, session.begin():
        project = project_for(session, principal, pid, lock=True)
        if project.status != "open":
            raise Problem(409, "Project closed", "the project is closed to uploads", "closed")
        same = session.execute(
            select(FamilyUpload).where(
                FamilyUpload.project_id == pid,
                FamilyUpload.body == body,
                FamilyUpload.sha256 == sha,
            )
        ).scalar()
        if same is not None:
            return {"upload_id": same.id, **same.counts, "sha256": sha, "duplicate": True}
        if doc.schema_id != project.schema_id:
            raise Problem(
                409,
                "Schema mismatch",
                f"the family file declares schema {doc.schema_id} but the project uses "
                f"{project.schema_id}",
                "schema-mismatch",
            )
        if doc.bit_length != project.bit_length:
            raise _bad(
                f"the guardian encodings are {doc.bit_length} bits but the project schema "
                f"uses {project.bit_length} bits",
                "bit-length-mismatch",
            )
        fingerprints = {
            fp
            for fp in session.execute(
                select(Upload.secret_fingerprint).where(Upload.project_id == pid)
            ).scalars()
            if fp
        }
        if fingerprints and doc.secret_fingerprint not in fingerprints:
            raise Problem(
                409,
                "Secret fingerprint mismatch",
                f"the family file was encoded with the secret {doc.secret_fingerprint}, but "
                f"the project's encodings use {sorted(fingerprints)[0]}: encode with the "
                "project's linkage secret",
                "fingerprint-mismatch",
            )
        wanted = doc.child_refs
        if wanted:
            current = _body_refs(session, settings, pid, body)
            unknown = sorted(wanted - current)
            if unknown:
                raise _bad(
                    f"{len(unknown)} child ref(s) are not among this body's current encodings "
                    f"(first: {unknown[0]}); upload the encodings of the same encode run "
                    "first; nothing was stored",
                    "unknown-refs",
                )
        old = list(
            session.execute(
                select(FamilyUpload.id).where(
                    FamilyUpload.project_id == pid, FamilyUpload.body == body
                )
            ).scalars()
        )
        delete_family_uploads(session, old)
        upload_id = new_id()
        counts = doc.counts()
        session.add(
            FamilyUpload(id=upload_id, project_id=pid, body=body, sha256=sha, counts=counts)
        )
        session.flush()
        store_family_rows(session, upload_id, pid, body, doc)
        audit.append(
            session,
            actor=principal.actor,
            action="family.stored",
            project_id=pid,
            detail={"upload": upload_id, "sha256": sha, "replaced": len(old), **counts},
        )
    return {"upload_id": upload_id, **counts, "sha256": sha, "duplicate": False}


@router.post(
    "/projects/{pid}/family",
    status_code=201,
    openapi_extra={
        "requestBody": {
            "content": {"application/json": {"schema": {"type": "object"}}},
            "required": True,
        }
    },
)
async def upload_family(
    pid: str,
    request: Request,
    principal: Body,
    factory: FactoryDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Upload the calling body's family file (``*.family.json`` from ``encode --family``):
    guardian encodings, child → guardian relations, birth-date and pregnancy-window tags.
    It replaces the body's earlier family file."""
    await run_in_threadpool(check_member, factory, principal, pid)
    got = await receive_request(request, min(settings.max_upload_bytes, FAMILY_MAX_BYTES))
    audit_note(request, upload_sha256=got.sha256, upload_bytes=got.size)
    doc = await run_in_threadpool(_parse, got.data or b"")
    sha = got.sha256
    del got
    result = await run_in_threadpool(_store, factory, settings, principal, pid, doc, sha)
    _log.info("family stored", extra={"upload": result["upload_id"], "project": pid})
    return result


@router.get("/projects/{pid}/results/family")
def family_results(pid: str, principal: Coordinator, session: SessionDep) -> dict[str, Any]:
    """The latest finished run's households and pregnancy links, for the coordinator only.

    ``households``: ``[child token, household token]`` for every child token (children who
    share a guardian share a household token). ``pregnancies``: one entry per pregnancy
    token with the body and ref of the pregnancy record (to ask the body about it) and
    the child tokens born of it (empty while open); ``review`` when another pregnancy of
    the same mother could take the child. ``guardian_bodies``: ``[household token, body]``
    for each body whose records are about guardians (福祉's payees, 母子保健's mothers)
    and that holds a record of some guardian of the household.
    """
    project_for(session, principal, pid)
    run = latest_done_run(session, pid)
    households: list[list[str]] = []
    guardian_bodies: list[list[str]] = []
    pregnancies: dict[str, dict[str, Any]] = {}
    children: defaultdict[str, list[str]] = defaultdict(list)
    for kind, token, linked, body, ref, review in session.execute(
        select(
            FamilyLink.kind, FamilyLink.token, FamilyLink.linked, FamilyLink.body,
            FamilyLink.ref, FamilyLink.review,
        )
        .where(FamilyLink.run_id == run.id)
        .order_by(FamilyLink.id)
    ):  # fmt: skip
        if kind == "household":
            households.append([token, linked])
            continue
        if kind == "guardian_in":
            guardian_bodies.append([token, body])
            continue
        entry = pregnancies.setdefault(
            token, {"token": token, "body": body, "ref": ref, "children": [], "review": False}
        )
        if linked:
            children[token].append(linked)
        entry["review"] = entry["review"] or bool(review)
    for token, entry in pregnancies.items():
        entry["children"] = sorted(children[token])
    return {
        "run_id": run.id,
        "households": households,
        "pregnancies": sorted(pregnancies.values(), key=lambda e: e["token"]),
        "guardian_bodies": sorted(guardian_bodies),
    }
