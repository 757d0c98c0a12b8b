"""The status quo of linkage in many municipalities: exact kanji name + birth date.

Exact match on the kanji name as recorded (whitespace stripped) and the birth date as
recorded (Gregorian forms only). Used by the accuracy benchmark and by the demo's support
list comparison. Records are canonical records (``docs/architecture.md`` keys).
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Mapping
from datetime import date

Records = dict[str, list[dict[str, str]]]
"""Body key -> canonical records (each has ``record_id``)."""
Prediction = dict[tuple[str, str], Hashable]

_WS = re.compile(r"[\s\u3000]+")
_GREGORIAN = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})$|^(\d{4})(\d{2})(\d{2})$")


def _gregorian(text: str) -> date | None:
    m = _GREGORIAN.match(text.strip())
    if m is None:
        return None
    y, mo, d = (int(g) for g in (m.groups()[:3] if m.group(1) else m.groups()[3:]))
    try:
        return date(y, mo, d)
    except ValueError:
        return None


def _kanji_name(rec: Mapping[str, str]) -> str:
    name = rec.get("full_name") or (rec.get("surname", "") + rec.get("given_name", ""))
    return _WS.sub("", name)


def status_quo(records: Records) -> Prediction:
    """Exact match on (name as recorded, whitespace stripped; Gregorian birth date).

    Records whose birth date is not written in a Gregorian form, or whose name is empty,
    stay singletons.
    """
    pred: Prediction = {}
    for body, recs in records.items():
        for rec in recs:
            key = (body, rec["record_id"])
            name, dob = _kanji_name(rec), _gregorian(rec.get("date_of_birth", ""))
            pred[key] = ("sq", name, dob) if name and dob else ("single", *key)
    return pred
