"""Review outcomes: what the bodies found about groups flagged for review (coordinator).

The coordinator records, for one or more tokens of the latest finished run, whether their
records are one person (``confirmed``), several (``split``, with the parts) or whether it is
still unclear (``unsure``). The next run keeps confirmed records together and split parts
apart (``linkage.outcomes``), and does not flag answered records again. Only tokens,
body names and refs are stored: no free text, so no personal data can be typed in.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import select

from server.api import API_PREFIX
from server.api.deps import Coordinator, SessionDep, latest_done_run, project_for
from server.core import audit
from server.core.problems import Problem
from server.core.security import new_id
from server.db.models import ReviewOutcome, TokenRow

router = APIRouter(prefix=API_PREFIX, tags=["review"])
_MAX_TOKENS = 20
_MAX_RECORDS = 200


class RecordRef(BaseModel):
    body: str = Field(min_length=1, max_length=200)
    ref: str = Field(pattern=r"^[0-9a-f]{32}$")


class OutcomeIn(BaseModel):
    outcome: Literal["confirmed", "split", "unsure"]
    tokens: list[str] = Field(min_length=1, max_length=_MAX_TOKENS)
    parts: list[list[RecordRef]] | None = Field(
        default=None,
        description="split only: the records of the tokens divided into parts (at least "
        "two); omitted, every record is a part of its own",
    )


def outcome_view(o: ReviewOutcome) -> dict[str, Any]:
    return {
        "outcome_id": o.id,
        "run_id": o.run_id,
        "outcome": o.outcome,
        "tokens": list(o.tokens),
        "parts": [[{"body": b, "ref": r} for b, r in part] for part in o.parts],
        "actor": o.actor,
        "created_at": o.created_at.isoformat() if o.created_at else None,
    }


@router.post("/projects/{pid}/review/outcomes", status_code=201)
def record_outcome(
    pid: str,
    principal: Coordinator,
    session: SessionDep,
    body: Annotated[dict[str, Any], Body(openapi_examples=None)],
) -> dict[str, Any]:
    """Record what the bodies found for some tokens of the latest finished run.

    Body: ``{"outcome": "confirmed"|"split"|"unsure", "tokens": [...], "parts": [[{"body",
    "ref"}, ...], ...]}`` (parts with a split only).
    """
    project = project_for(session, principal, pid)  # another project's: 404 before any check
    try:
        payload = OutcomeIn.model_validate(body)
    except ValidationError as exc:
        where = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        raise Problem(422, "Invalid request", where, "invalid-request") from None
    run = latest_done_run(session, pid)
    tokens = list(dict.fromkeys(payload.tokens))
    rows = session.execute(
        select(TokenRow.token, TokenRow.body, TokenRow.ref)
        .where(TokenRow.run_id == run.id, TokenRow.token.in_(tokens))
        .order_by(TokenRow.id)
    ).all()
    found = {t for t, _, _ in rows}
    missing = [t for t in tokens if t not in found]
    if missing:
        raise Problem(
            422,
            "Unknown token",
            f"token {missing[0]} is not in the latest finished run ({run.id})",
            "unknown-token",
        )
    records = [(b, r) for _, b, r in rows]
    if len(records) > _MAX_RECORDS:
        raise Problem(422, "Too many records", f"at most {_MAX_RECORDS} records per outcome")
    dedup = set(project.dedup_bodies)
    if payload.outcome == "split":
        if payload.parts is None:
            parts = [[rec] for rec in records]
        else:
            parts = [[(p.body, p.ref) for p in part] for part in payload.parts]
            flat = [rec for part in parts for rec in part]
            if len(parts) < 2 or any(not part for part in parts):
                raise Problem(422, "Invalid parts", "a split needs at least two non-empty parts")
            if len(flat) != len(set(flat)) or set(flat) != set(records):
                raise Problem(
                    422,
                    "Invalid parts",
                    "the parts must hold each record of the given tokens exactly once",
                )
        if len(parts) < 2:
            raise Problem(422, "Nothing to split", "the tokens hold only one record")
    else:
        if payload.parts is not None:
            raise Problem(
                422, "Invalid parts", f"parts are given with a split only, not {payload.outcome}"
            )
        parts = [records]
    if payload.outcome != "unsure":
        for part in parts:
            bodies = [b for b, _ in part if b not in dedup]
            if len(bodies) != len(set(bodies)):
                raise Problem(
                    422,
                    "Two records of one body",
                    "one person can have only one record per body in a group",
                    "body-twice",
                )
    outcome = ReviewOutcome(
        id=new_id(),
        project_id=pid,
        run_id=run.id,
        outcome=payload.outcome,
        tokens=tokens,
        parts=[[list(rec) for rec in part] for part in parts],
        actor=principal.actor,
    )
    # One transaction (begun by the reads above): the outcome and its audit entry together.
    session.add(outcome)
    audit.append(
        session,
        actor=principal.actor,
        action="review.outcome",
        project_id=pid,
        detail={
            "outcome_id": outcome.id,
            "outcome": payload.outcome,
            "run": run.id,
            "tokens": len(tokens),
            "records": len(records),
        },
    )
    session.commit()
    return outcome_view(outcome)


@router.get("/projects/{pid}/review/outcomes")
def list_outcomes(pid: str, principal: Coordinator, session: SessionDep) -> dict[str, Any]:
    """All recorded review outcomes of the project, oldest first."""
    project_for(session, principal, pid)
    rows = session.execute(
        select(ReviewOutcome)
        .where(ReviewOutcome.project_id == pid)
        .order_by(ReviewOutcome.created_at, ReviewOutcome.id)
    ).scalars()
    return {"outcomes": [outcome_view(o) for o in rows]}
