"""The family file: a body's guardian encodings, relations and date tags (issue 16).

Written by ``kakehashi encode --family MAP.toml`` beside the children's encodings and
uploaded to ``POST /projects/{pid}/family``. It holds no plaintext identifier::

    {"format": "kakehashi-family-1",
     "schema_id": "...", "bit_length": 1024, "secret_fingerprint": "...",
     "guardians":   [[guardian_ref, base64 CLK], ...],
     "relations":   [[child_ref, guardian_ref, "mother" | "father" | "other"], ...],
     "births":      [[child_ref, base64 date tag], ...],
     "pregnancies": [[pregnancy_ref, guardian_ref, [[base64 window tag, offset], ...]], ...]}

Guardian CLKs are made with the children's schema, secret and hardening; a guardian ref
is body-local and random (one per distinct guardian CLK of the export). A date tag is a
keyed 16-byte tag of one day (``linkage.family.date_tag``); a pregnancy carries the tags
of every week of its window (``linkage.family.pregnancy_window``), each with its offset
in weeks from the expected week (so the server can prefer the closer of two pregnancies
of one mother).
:func:`parse_family_document` checks a decoded document completely and raises
:class:`FamilyFormatError` naming the section and row.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any

FAMILY_FORMAT = "kakehashi-family-1"
ROLES = ("mother", "father", "other")
TAG_BYTES = 16
MAX_WINDOW_TAGS = 120  # a window longer than ~4 months is not an expected date

_REF = re.compile(r"^[0-9a-f]{32}$")


class FamilyFormatError(ValueError):
    """A family file that cannot be used; the message names the section and row."""


@dataclass(frozen=True)
class FamilyDocument:
    """A checked family file.

    Attributes:
        schema_id, bit_length, secret_fingerprint: as in an encodings file header.
        guardians: ``(guardian_ref, CLK bytes)``.
        relations: ``(child_ref, guardian_ref, role)``; every guardian ref is in guardians.
        births: ``(child_ref, tag)``, at most one per child ref.
        pregnancies: ``(pregnancy_ref, guardian_ref, {tag: week offset})``.
    """

    schema_id: str
    bit_length: int
    secret_fingerprint: str
    guardians: list[tuple[str, bytes]]
    relations: list[tuple[str, str, str]]
    births: list[tuple[str, bytes]]
    pregnancies: list[tuple[str, str, dict[bytes, int]]]

    @property
    def child_refs(self) -> set[str]:
        """The children's refs the file names (they must be the body's encodings)."""
        return {c for c, _, _ in self.relations} | {c for c, _ in self.births}

    def counts(self) -> dict[str, int]:
        return {
            "guardians": len(self.guardians),
            "relations": len(self.relations),
            "births": len(self.births),
            "pregnancies": len(self.pregnancies),
        }


def _b64(text: object, size: int, where: str) -> bytes:
    if not isinstance(text, str):
        raise FamilyFormatError(f"{where}: expected base64 text")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise FamilyFormatError(f"{where}: not base64") from exc
    if len(raw) != size:
        raise FamilyFormatError(f"{where}: {len(raw)} bytes, expected {size}")
    return raw


def _ref(value: object, where: str) -> str:
    if not isinstance(value, str) or not _REF.match(value):
        raise FamilyFormatError(f"{where}: a ref is 32 lower-case hexadecimal characters")
    return value


def _rows(doc: dict[str, Any], key: str, width: int) -> list[list[Any]]:
    rows = doc.get(key, [])
    if not isinstance(rows, list):
        raise FamilyFormatError(f"{key!r} must be a list")
    for number, row in enumerate(rows, 1):
        if not isinstance(row, list) or len(row) != width:
            raise FamilyFormatError(f"{key} row {number}: expected a list of {width} values")
    return rows


def parse_family_document(doc: object) -> FamilyDocument:
    """Check a decoded family file; FamilyFormatError naming section and row if wrong."""
    if not isinstance(doc, dict) or doc.get("format") != FAMILY_FORMAT:
        raise FamilyFormatError(f"not a family file (format {FAMILY_FORMAT!r} expected)")
    unknown = sorted(
        set(doc)
        - {"format", "schema_id", "bit_length", "secret_fingerprint"}
        - {"guardians", "relations", "births", "pregnancies"}
    )
    if unknown:
        raise FamilyFormatError(f"unknown field(s) {unknown}")
    schema_id, bit_length, fp = (
        doc.get("schema_id"),
        doc.get("bit_length"),
        doc.get("secret_fingerprint"),
    )
    if not isinstance(schema_id, str) or not schema_id:
        raise FamilyFormatError("the header field 'schema_id' is missing")
    if not isinstance(bit_length, int) or isinstance(bit_length, bool) or bit_length <= 0:
        raise FamilyFormatError("the header field 'bit_length' is missing or not a number")
    if bit_length % 8:
        raise FamilyFormatError("'bit_length' must be a multiple of 8")
    if not isinstance(fp, str) or not fp:
        raise FamilyFormatError("the header field 'secret_fingerprint' is missing")
    nbytes = bit_length // 8
    guardians: list[tuple[str, bytes]] = []
    for number, (ref, clk) in enumerate(_rows(doc, "guardians", 2), 1):
        where = f"guardians row {number}"
        guardians.append((_ref(ref, where), _b64(clk, nbytes, where)))
    known = {ref for ref, _ in guardians}
    if len(known) != len(guardians):
        raise FamilyFormatError("guardians: a guardian ref appears more than once")
    relations: list[tuple[str, str, str]] = []
    for number, (child, guardian, role) in enumerate(_rows(doc, "relations", 3), 1):
        where = f"relations row {number}"
        _ref(child, where)
        if _ref(guardian, where) not in known:
            raise FamilyFormatError(f"{where}: guardian ref is not in 'guardians'")
        if role not in ROLES:
            raise FamilyFormatError(f"{where}: role must be one of {', '.join(ROLES)}")
        relations.append((child, guardian, role))
    if len(set(relations)) != len(relations):
        raise FamilyFormatError("relations: a relation appears more than once")
    births: list[tuple[str, bytes]] = []
    for number, (child, tag) in enumerate(_rows(doc, "births", 2), 1):
        where = f"births row {number}"
        births.append((_ref(child, where), _b64(tag, TAG_BYTES, where)))
    if len({c for c, _ in births}) != len(births):
        raise FamilyFormatError("births: a child ref appears more than once")
    pregnancies: list[tuple[str, str, dict[bytes, int]]] = []
    for number, (preg, guardian, window) in enumerate(_rows(doc, "pregnancies", 3), 1):
        where = f"pregnancies row {number}"
        _ref(preg, where)
        if _ref(guardian, where) not in known:
            raise FamilyFormatError(f"{where}: guardian ref is not in 'guardians'")
        if not isinstance(window, list) or not 1 <= len(window) <= MAX_WINDOW_TAGS:
            raise FamilyFormatError(f"{where}: expected 1 to {MAX_WINDOW_TAGS} window tags")
        offsets: dict[bytes, int] = {}
        for item in window:
            if not isinstance(item, list) or len(item) != 2:
                raise FamilyFormatError(f"{where}: a window item is [base64 tag, week offset]")
            tag, offset = item
            if not isinstance(offset, int) or isinstance(offset, bool) or abs(offset) > 200:
                raise FamilyFormatError(f"{where}: a week offset is a whole number of weeks")
            raw = _b64(tag, TAG_BYTES, where)
            if raw in offsets:
                raise FamilyFormatError(f"{where}: a window tag appears more than once")
            offsets[raw] = offset
        pregnancies.append((preg, guardian, offsets))
    if len({p[0] for p in pregnancies}) != len(pregnancies):
        raise FamilyFormatError("pregnancies: a pregnancy ref appears more than once")
    refs = [r for r, _ in guardians] + [p[0] for p in pregnancies]
    if len(set(refs)) != len(refs):
        raise FamilyFormatError("a pregnancy ref is also a guardian ref")
    if not guardians:
        raise FamilyFormatError("the family file holds no guardians")
    return FamilyDocument(schema_id, bit_length, fp, guardians, relations, births, pregnancies)


def family_document(
    *,
    schema_id: str,
    bit_length: int,
    secret_fingerprint: str,
    guardians: list[tuple[str, bytes]],
    relations: list[tuple[str, str, str]],
    births: list[tuple[str, bytes]],
    pregnancies: list[tuple[str, str, dict[bytes, int]]],
) -> dict[str, Any]:
    """The JSON-ready family file (the inverse of :func:`parse_family_document`)."""

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode("ascii")

    return {
        "format": FAMILY_FORMAT,
        "schema_id": schema_id,
        "bit_length": bit_length,
        "secret_fingerprint": secret_fingerprint,
        "guardians": [[r, b64(c)] for r, c in guardians],
        "relations": [list(r) for r in relations],
        "births": [[c, b64(t)] for c, t in births],
        "pregnancies": [
            [p, g, [[b64(t), o] for t, o in window.items()]] for p, g, window in pregnancies
        ],
    }
