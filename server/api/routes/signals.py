"""Support signals: the catalogue, the coordinator's public key, sealed signal uploads.

The server enforces the catalogue *by code* — a body may upload only codes the current
catalogue allows for it — and stores one fixed-size ciphertext per record that it cannot
open (HPKE to the coordinator's X25519 key; no private key is ever sent here). It routes
the ciphertexts by token to the coordinator. No value, and nothing derived from a value,
is logged or audited: audit entries hold versions, codes, counts and hashes only.

Routes (under ``/api/v1/projects/{pid}/signals``):

* ``PUT /catalogue`` (coordinator) — set the catalogue; a changed catalogue is the next
  version; ``GET /catalogue[?version=N]`` (coordinator, bodies);
* ``PUT /key`` (coordinator) — set or rotate the public key; ``GET /key`` (coordinator,
  bodies) returns it with its fingerprint and version;
* ``POST`` (body) — a signals file; ``GET /status`` (coordinator) — who must re-upload;
* ``GET /rows`` (coordinator) — the latest run's ``(token, body, ref, upload, ciphertext)``.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from linkage.signals import (
    SEAL_FORMAT,
    Catalogue,
    CatalogueError,
    SignalSpec,
    ciphertext_size,
    key_fingerprint,
)
from server.api import API_PREFIX
from server.api.deps import (
    Body,
    Coordinator,
    FactoryDep,
    Member,
    Principal,
    SessionDep,
    SettingsDep,
    audit_note,
    check_member,
    latest_done_run,
    project_for,
)
from server.api.receive import receive_request
from server.core import audit
from server.core.problems import Problem
from server.core.security import new_id
from server.db.models import (
    CoordinatorKey,
    Project,
    SignalCatalogue,
    SignalRow,
    SignalUpload,
    TokenRow,
    Upload,
    utcnow,
)
from server.storage import read_records, refs_to_hex

router = APIRouter(prefix=API_PREFIX, tags=["signals"])
_log = logging.getLogger("kakehashi.server.signals")
SIGNALS_MAX_BYTES = 256 * 1024**2  # a signals file is parsed in memory: ~1.5 M records
ALGORITHM = "HPKE base mode: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM"


# -- helpers ------------------------------------------------------------------------------


def _catalogue_row(session: Session, pid: str, version: int | None = None) -> SignalCatalogue:
    stmt = select(SignalCatalogue).where(SignalCatalogue.project_id == pid)
    if version is not None:
        stmt = stmt.where(SignalCatalogue.version == version)
    row = session.execute(stmt.order_by(SignalCatalogue.version.desc()).limit(1)).scalar()
    if row is None:
        which = f"version {version} of the" if version is not None else "a"
        raise Problem(
            404, "No catalogue", f"the project has no {which} signal catalogue", "no-catalogue"
        )
    return row


def _catalogue(row: SignalCatalogue) -> Catalogue:
    return Catalogue.from_dict(json.loads(row.document))


def _current_key(session: Session, pid: str) -> CoordinatorKey:
    key = session.execute(
        select(CoordinatorKey)
        .where(CoordinatorKey.project_id == pid)
        .order_by(CoordinatorKey.version.desc())
        .limit(1)
    ).scalar()
    if key is None:
        raise Problem(
            404,
            "No coordinator key",
            "the coordinator has not set a public key for this project yet",
            "no-key",
        )
    return key


def _key_view(key: CoordinatorKey) -> dict[str, Any]:
    return {
        "key_version": key.version,
        "public_key": key.public_key,
        "fingerprint": key.fingerprint,
        "algorithm": ALGORITHM,
        "created_at": key.created_at.isoformat() if key.created_at else None,
    }


def _stale_reason(
    upload: SignalUpload,
    current: Catalogue | None,
    key: CoordinatorKey | None,
    catalogues: dict[int, Catalogue],
    encodings_since: dict[str, Any],
) -> str | None:
    """Why an upload's ciphertexts are no longer served (None while they are current)."""
    since = encodings_since.get(upload.body)
    if since is None:
        return "the body has no encodings on the server"
    if upload.created_at < since:
        return "the body's encodings were replaced after these signals were uploaded"
    if key is None or upload.key_version != key.version:
        now = key.version if key is not None else "none"
        return f"sealed to coordinator key version {upload.key_version}; current is {now}"
    if current is None:
        return "the project has no catalogue"
    old = catalogues.get(upload.catalogue_version)
    for code in upload.codes:
        spec = current.spec(code)
        if spec is None:
            return f"signal {code} is no longer in the catalogue"
        if old is not None and old.spec(code) != spec:
            return f"signal {code} changed in catalogue version {current.version}"
    return None


def _encodings_since(session: Session, pid: str) -> dict[str, Any]:
    """Per body, when its current encodings began (its oldest stored upload)."""
    return dict(
        session.execute(
            select(Upload.body, func.min(Upload.created_at))
            .where(Upload.project_id == pid)
            .group_by(Upload.body)
        ).all()
    )


def _catalogues(session: Session, pid: str) -> dict[int, Catalogue]:
    rows = session.execute(
        select(SignalCatalogue).where(SignalCatalogue.project_id == pid)
    ).scalars()
    return {r.version: _catalogue(r) for r in rows}


# -- catalogue -----------------------------------------------------------------------------


@router.put("/projects/{pid}/signals/catalogue")
def set_catalogue(
    pid: str, payload: dict[str, Any], principal: Coordinator, session: SessionDep
) -> dict[str, Any]:
    """Set the project's signal catalogue; a changed catalogue becomes the next version.

    Each signal names the one body allowed to send it, which must be a project body.
    Setting the same signals again changes nothing. Every change is audited (version,
    digest, codes).
    """
    with session.begin():
        project = project_for(session, principal, pid, lock=True)
        try:
            catalogue = Catalogue.from_dict(payload)
        except CatalogueError as exc:
            raise Problem(422, "Invalid catalogue", str(exc), "invalid-catalogue") from exc
        unknown = sorted({s.body for s in catalogue.signals} - set(project.bodies))
        if unknown:
            raise Problem(
                422,
                "Invalid catalogue",
                f"signal body {unknown[0]!r} is not a body of this project "
                f"(bodies: {', '.join(project.bodies)})",
                "invalid-catalogue",
            )
        latest = session.execute(
            select(SignalCatalogue)
            .where(SignalCatalogue.project_id == pid)
            .order_by(SignalCatalogue.version.desc())
            .limit(1)
        ).scalar()
        if latest is not None and latest.digest == catalogue.digest:
            return {**json.loads(latest.document), "changed": False}
        version = (latest.version if latest else 0) + 1
        stored = catalogue.with_version(version)
        session.add(
            SignalCatalogue(
                project_id=pid,
                version=version,
                document=json.dumps(stored.to_dict(), ensure_ascii=False),
                digest=catalogue.digest,
                actor=principal.actor,
            )
        )
        audit.append(
            session,
            actor=principal.actor,
            action="signals.catalogue.set",
            project_id=pid,
            detail={
                "version": version,
                "previous": latest.version if latest else None,
                "digest": catalogue.digest,
                "codes": {s.code: s.body for s in catalogue.signals},
            },
        )
    return {**stored.to_dict(), "changed": True}


@router.get("/projects/{pid}/signals/catalogue")
def get_catalogue(
    pid: str,
    principal: Member,
    session: SessionDep,
    version: int | None = Query(default=None, ge=1, description="A past version (default: latest)"),
) -> dict[str, Any]:
    """The project's signal catalogue (latest, or ``version``)."""
    project_for(session, principal, pid)
    return json.loads(_catalogue_row(session, pid, version).document)


# -- coordinator key -------------------------------------------------------------------------


@router.put(
    "/projects/{pid}/signals/key",
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "public_key": {
                                "type": "string",
                                "description": "base64 of the 32 raw bytes of an X25519 key",
                            }
                        },
                        "required": ["public_key"],
                    }
                }
            },
            "required": True,
        }
    },
)
def set_key(
    pid: str, payload: dict[str, Any], principal: Coordinator, session: SessionDep
) -> dict[str, Any]:
    """Set the coordinator's public key, or rotate to a new one (the next key version).

    After a rotation, uploads sealed to the previous key are refused and stored ones are
    no longer served: ``GET …/signals/status`` lists the bodies that must re-upload. Only
    public keys are accepted; the server never holds a private key.
    """
    project_for(session, principal, pid)
    session.rollback()  # end the read; the change below runs in its own transaction
    text = payload.get("public_key")
    if not isinstance(text, str) or len(text) > 64:
        raise Problem(
            422, "Invalid key", "public_key (base64 of 32 bytes) is required", "invalid-key"
        )
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Problem(422, "Invalid key", "public_key is not base64", "invalid-key") from exc
    if len(raw) != 32 or raw == bytes(32):
        raise Problem(
            422, "Invalid key", "public_key must be 32 bytes of an X25519 key", "invalid-key"
        )
    fingerprint = key_fingerprint(raw)
    encoded = base64.b64encode(raw).decode()
    with session.begin():
        project_for(session, principal, pid, lock=True)
        keys = list(
            session.execute(
                select(CoordinatorKey)
                .where(CoordinatorKey.project_id == pid)
                .order_by(CoordinatorKey.version)
            ).scalars()
        )
        if keys and keys[-1].public_key == encoded:
            return {**_key_view(keys[-1]), "changed": False}
        if any(k.public_key == encoded for k in keys):
            raise Problem(
                409,
                "Key used before",
                "this public key was an earlier coordinator key of the project; "
                "make a new key pair with `kakehashi keys new`",
                "key-reused",
            )
        if keys:
            keys[-1].retired_at = utcnow()
        key = CoordinatorKey(
            project_id=pid,
            version=len(keys) + 1,
            public_key=encoded,
            fingerprint=fingerprint,
            actor=principal.actor,
        )
        session.add(key)
        audit.append(
            session,
            actor=principal.actor,
            action="signals.key.rotated" if keys else "signals.key.set",
            project_id=pid,
            detail={"key_version": key.version, "fingerprint": fingerprint},
        )
        session.flush()
        view = _key_view(key)
    return {**view, "changed": True}


@router.get("/projects/{pid}/signals/key")
def get_key(pid: str, principal: Member, session: SessionDep) -> dict[str, Any]:
    """The coordinator's current public key, its version and its fingerprint."""
    project_for(session, principal, pid)
    return _key_view(_current_key(session, pid))


# -- uploads ----------------------------------------------------------------------------------


def _bad(detail: str, kind: str = "invalid-signals") -> Problem:
    return Problem(422, "Invalid signals file", detail, kind)


def _parse_signals_file(raw: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise _bad("the signals file is not JSON") from exc
    if not isinstance(doc, dict) or doc.get("format") != SEAL_FORMAT:
        raise _bad(f"not a signals file (format {SEAL_FORMAT!r} expected)")
    for key, kind in (
        ("project_id", str),
        ("body", str),
        ("catalogue_version", int),
        ("key_fingerprint", str),
        ("codes", list),
        ("rows", list),
    ):
        if not isinstance(doc.get(key), kind) or isinstance(doc.get(key), bool):
            raise _bad(f"the header field {key!r} is missing or has the wrong type")
    codes = doc["codes"]
    if not codes or not all(isinstance(c, str) and c for c in codes):
        raise _bad("'codes' must list at least one signal code")
    if len(set(codes)) != len(codes):
        raise _bad("a signal code is declared more than once")
    return doc


def _check_codes(catalogue: Catalogue, body: str, codes: list[str]) -> tuple[SignalSpec, ...]:
    specs: list[SignalSpec] = []
    for code in codes:
        spec = catalogue.spec(code)
        if spec is None:
            raise Problem(
                422,
                "Undeclared signal",
                f"signal {code!r} is not in the project's catalogue (version "
                f"{catalogue.version}); nothing was stored",
                "undeclared-signal",
            )
        if spec.body != body:
            raise Problem(
                403,
                "Signal not allowed",
                f"signal {code!r} may be sent by {spec.body} only, not by {body}; "
                "nothing was stored",
                "signal-not-allowed",
            )
        specs.append(spec)
    return tuple(specs)


def _decode_rows(rows: list[Any], size: int) -> tuple[list[str], list[bytes]]:
    refs: list[str] = []
    blobs: list[bytes] = []
    for number, row in enumerate(rows, 1):
        if not isinstance(row, list) or len(row) != 2 or not all(isinstance(x, str) for x in row):
            raise _bad(f"row {number}: expected [ref, base64 ciphertext]")
        ref, text = row
        if len(ref) != 32 or any(c not in "0123456789abcdef" for c in ref):
            raise _bad(f"row {number}: a ref is 32 lower-case hexadecimal characters")
        try:
            blob = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise _bad(f"row {number}: the ciphertext is not base64") from exc
        if len(blob) != size:
            raise _bad(
                f"row {number}: ciphertext of {len(blob)} bytes; every record's ciphertext "
                f"for these codes is {size} bytes"
            )
        refs.append(ref)
        blobs.append(blob)
    if len(set(refs)) != len(refs):
        raise _bad(f"{len(refs) - len(set(refs))} ref(s) appear more than once", "duplicate-refs")
    return refs, blobs


def _body_refs(session: Session, settings: Any, pid: str, body: str) -> set[str]:
    """The refs of the body's current encodings (its stored uploads)."""
    refs: set[str] = set()
    uploads = session.execute(
        select(Upload).where(Upload.project_id == pid, Upload.body == body)
    ).scalars()
    for u in uploads:
        path = settings.uploads_dir / u.file_name
        if path.exists():
            refs.update(refs_to_hex(read_records(path, u.bit_length)[0]))
    return refs


def _store_signals(
    session: Session,
    settings: Any,
    principal: Principal,
    pid: str,
    doc: dict[str, Any],
    sha: str,
    mode: str,
) -> dict[str, Any]:
    body = principal.body or ""
    with session.begin():
        project: Project = project_for(session, principal, pid, lock=True)
        if project.status != "open":
            raise Problem(409, "Project closed", "the project is closed to uploads", "closed")
        if doc["project_id"] != pid:
            raise _bad("the signals file was made for another project", "wrong-project")
        if doc["body"] != body:
            raise _bad(f"the signals file was made for body {doc['body']!r}", "wrong-body")
        same = session.execute(
            select(SignalUpload).where(
                SignalUpload.project_id == pid,
                SignalUpload.body == body,
                SignalUpload.sha256 == sha,
            )
        ).scalar()
        if same is not None:
            return {"upload_id": same.id, "count": same.count, "sha256": sha, "duplicate": True}
        catalogue = _catalogue(_catalogue_row(session, pid))
        specs = _check_codes(catalogue, body, doc["codes"])
        if doc["catalogue_version"] != catalogue.version:
            raise Problem(
                409,
                "Catalogue changed",
                f"the file was made with catalogue version {doc['catalogue_version']}; "
                f"the current version is {catalogue.version}: encode again",
                "catalogue-version",
            )
        key = _current_key(session, pid)
        if doc["key_fingerprint"] != key.fingerprint:
            raise Problem(
                409,
                "Coordinator key changed",
                f"the file is sealed to key {doc['key_fingerprint']}, not the current "
                f"coordinator key (version {key.version}, {key.fingerprint}): encode again "
                "with the current key",
                "key-rotated",
            )
        refs, blobs = _decode_rows(doc["rows"], ciphertext_size(specs))
        current = _body_refs(session, settings, pid, body)
        unknown = [r for r in refs if r not in current]
        if unknown:
            raise _bad(
                f"{len(unknown)} ref(s) are not among this body's current encodings "
                f"(first: {unknown[0]}); upload the encodings of the same encode run first",
                "unknown-refs",
            )
        if mode == "replace":
            if len(refs) != len(current):
                raise _bad(
                    f"the file has {len(refs)} records but this body's encodings have "
                    f"{len(current)}: every record carries one ciphertext (replace mode)",
                    "incomplete-signals",
                )
            old = list(
                session.execute(
                    select(SignalUpload.id).where(
                        SignalUpload.project_id == pid, SignalUpload.body == body
                    )
                ).scalars()
            )
            session.execute(delete(SignalRow).where(SignalRow.upload_id.in_(old)))
            session.execute(delete(SignalUpload).where(SignalUpload.id.in_(old)))
        else:
            taken = session.execute(
                select(func.count())
                .select_from(SignalRow)
                .where(
                    SignalRow.project_id == pid,
                    SignalRow.body == body,
                    SignalRow.ref.in_(refs),
                )
            ).scalar_one()
            if taken:
                raise Problem(
                    409,
                    "Duplicate refs",
                    f"{taken} ref(s) already have signals (append mode)",
                    "duplicate-refs",
                )
        upload_id = new_id()
        session.add(
            SignalUpload(
                id=upload_id,
                project_id=pid,
                body=body,
                catalogue_version=catalogue.version,
                key_version=key.version,
                key_fingerprint=key.fingerprint,
                codes=list(doc["codes"]),
                count=len(refs),
                sha256=sha,
                mode=mode,
            )
        )
        session.flush()
        session.add_all(
            SignalRow(upload_id=upload_id, project_id=pid, body=body, ref=r, ciphertext=b)
            for r, b in zip(refs, blobs, strict=True)
        )
        audit.append(
            session,
            actor=principal.actor,
            action="signals.stored",
            project_id=pid,
            detail={
                "upload": upload_id,
                "records": len(refs),
                "codes": list(doc["codes"]),
                "catalogue_version": catalogue.version,
                "key_version": key.version,
                "sha256": sha,
                "mode": mode,
            },
        )
    return {
        "upload_id": upload_id,
        "count": len(refs),
        "sha256": sha,
        "codes": list(doc["codes"]),
        "catalogue_version": catalogue.version,
        "key_version": key.version,
        "duplicate": False,
    }


@router.post(
    "/projects/{pid}/signals",
    status_code=201,
    openapi_extra={
        "requestBody": {
            "content": {"application/json": {"schema": {"type": "object"}}},
            "required": True,
        }
    },
)
async def upload_signals(
    pid: str,
    request: Request,
    principal: Body,
    factory: FactoryDep,
    settings: SettingsDep,
    mode: Literal["replace", "append"] = Query(
        default="replace",
        description="replace: one ciphertext for every current record of the body, "
        "replacing earlier signals; append: signals for newly appended records",
    ),
) -> dict[str, Any]:
    """Upload the calling body's signals file (``*.signals.json`` from ``encode --signals``).

    The header declares the catalogue version, the coordinator key fingerprint and the
    codes it carries. A code the catalogue does not allow for this body is refused (4xx
    naming it) and nothing is stored; so is a file sealed to an old key or catalogue, a
    ciphertext of the wrong size, or a ref that is not one of the body's current
    encodings. The server never opens a ciphertext.
    """
    await run_in_threadpool(check_member, factory, principal, pid)
    got = await receive_request(request, min(settings.max_upload_bytes, SIGNALS_MAX_BYTES))
    audit_note(request, upload_sha256=got.sha256, upload_bytes=got.size, mode=mode)
    doc = await run_in_threadpool(_parse_signals_file, got.data or b"")
    sha = got.sha256
    del got

    def _commit() -> dict[str, Any]:
        with factory() as session:
            return _store_signals(session, settings, principal, pid, doc, sha, mode)

    result = await run_in_threadpool(_commit)
    _log.info(
        "signals stored",
        extra={"upload": result["upload_id"], "project": pid, "records": result["count"]},
    )
    return result


# -- status and download ----------------------------------------------------------------------


@router.get("/projects/{pid}/signals/status")
def signal_status(pid: str, principal: Coordinator, session: SessionDep) -> dict[str, Any]:
    """Per body: its stored signal uploads and whether it must upload (again), and why."""
    project = project_for(session, principal, pid)
    catalogues = _catalogues(session, pid)
    since = _encodings_since(session, pid)
    current = catalogues[max(catalogues)] if catalogues else None
    key = session.execute(
        select(CoordinatorKey)
        .where(CoordinatorKey.project_id == pid)
        .order_by(CoordinatorKey.version.desc())
        .limit(1)
    ).scalar()
    uploads = list(
        session.execute(
            select(SignalUpload)
            .where(SignalUpload.project_id == pid)
            .order_by(SignalUpload.created_at)
        ).scalars()
    )
    bodies = []
    for body in project.bodies:
        allowed = [s.code for s in current.for_body(body)] if current else []
        mine = [u for u in uploads if u.body == body]
        views = []
        for u in mine:
            reason = _stale_reason(u, current, key, catalogues, since)
            views.append(
                {
                    "upload_id": u.id,
                    "records": u.count,
                    "codes": list(u.codes),
                    "catalogue_version": u.catalogue_version,
                    "key_version": u.key_version,
                    "mode": u.mode,
                    "created_at": u.created_at.isoformat() if u.created_at else None,
                    "current": reason is None,
                    "reason": reason,
                }
            )
        must, why = False, None
        if allowed and not mine:
            must, why = True, "no signals uploaded yet"
        elif stale := [v["reason"] for v in views if not v["current"]]:
            must, why = True, stale[0]
        bodies.append(
            {
                "body": body,
                "allowed_codes": allowed,
                "uploads": views,
                "must_upload": must,
                "reason": why,
            }
        )
    return {
        "catalogue_version": current.version if current else None,
        "key_version": key.version if key else None,
        "key_fingerprint": key.fingerprint if key else None,
        "bodies": bodies,
    }


@router.get("/projects/{pid}/signals/rows")
def signal_rows(
    pid: str, principal: Coordinator, session: SessionDep, factory: FactoryDep
) -> dict[str, Any]:
    """Every (token, body, ref) row of the latest finished run with its sealed signals.

    ``rows`` are ``[token, body, ref, upload_id, base64 ciphertext]`` (the last two null
    when the record has no current signals); ``uploads`` gives each upload's header
    (body, catalogue version, key fingerprint, codes) needed to open its ciphertexts;
    ``stale`` lists uploads no longer served (old key or changed catalogue).
    """
    project_for(session, principal, pid)
    run = latest_done_run(session, pid)
    catalogues = _catalogues(session, pid)
    since = _encodings_since(session, pid)
    if not catalogues:
        raise Problem(404, "No catalogue", "the project has no signal catalogue", "no-catalogue")
    current = catalogues[max(catalogues)]
    key = _current_key(session, pid)
    uploads = list(
        session.execute(select(SignalUpload).where(SignalUpload.project_id == pid)).scalars()
    )
    served: dict[str, dict[str, Any]] = {}
    stale: list[dict[str, Any]] = []
    for u in uploads:
        reason = _stale_reason(u, current, key, catalogues, since)
        if reason is None:
            served[u.id] = {
                "body": u.body,
                "catalogue_version": u.catalogue_version,
                "key_fingerprint": u.key_fingerprint,
                "codes": list(u.codes),
            }
        else:
            stale.append({"upload_id": u.id, "body": u.body, "records": u.count, "reason": reason})
    sealed = {
        (body, ref): (upload_id, blob)
        for body, ref, upload_id, blob in session.execute(
            select(SignalRow.body, SignalRow.ref, SignalRow.upload_id, SignalRow.ciphertext).where(
                SignalRow.project_id == pid, SignalRow.upload_id.in_(list(served))
            )
        )
    }
    rows: list[list[Any]] = []
    for token, body, ref in session.execute(
        select(TokenRow.token, TokenRow.body, TokenRow.ref)
        .where(TokenRow.run_id == run.id)
        .order_by(TokenRow.id)
    ):
        hit = sealed.get((body, ref))
        if hit is None:
            rows.append([token, body, ref, None, None])
        else:
            rows.append([token, body, ref, hit[0], base64.b64encode(hit[1]).decode()])
    run_id = run.id
    session.close()
    audit.append_now(
        factory,
        actor=principal.actor,
        action="signals.rows.download",
        project_id=pid,
        detail={
            "run": run_id,
            "rows": len(rows),
            "sealed": sum(1 for r in rows if r[3] is not None),
            "catalogue_version": current.version,
            "key_version": key.version,
        },
    )
    return {
        "run_id": run_id,
        "catalogue_version": current.version,
        "key_version": key.version,
        "key_fingerprint": key.fingerprint,
        "uploads": served,
        "stale": stale,
        "columns": ["token", "body", "ref", "upload_id", "ciphertext"],
        "rows": rows,
    }
