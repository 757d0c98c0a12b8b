"""Normalise one canonical record into the values of the linkage schema's fields.

A canonical record maps the keys of ``docs/architecture.md`` (record_id, full_name,
surname, given_name, full_kana, surname_kana, given_kana, date_of_birth, sex, address,
former_surname, alias, roman_name) to raw strings; any key may be missing or empty.
:data:`NORMALISERS` maps each normaliser name used by ``linkage/schemas/children-v1.json``
to a function computing that field; :func:`normalise_record` runs all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from encoders.normalise.address import normalise_address, split_address
from encoders.normalise.chunk import FIELDS, INPUT_KEYS, normalise_columns
from encoders.normalise.dates import normalise_date
from encoders.normalise.issues import Issue, NormalisationError
from encoders.normalise.kana import loose_kana, strict_kana
from encoders.normalise.names import (
    normalise_kanji_name,
    normalise_roman_name,
    split_full_name,
    with_alternates,
)
from encoders.normalise.sex import normalise_sex
from encoders.normalise.text import has_placeholder, normalise_text

FieldNormaliser = Callable[[Mapping[str, str], list[Issue], date | None], str]
"""(record, issues to append to, today) -> field value ('' when unknown)."""


@dataclass
class NormalisedRecord:
    """The schema field values of one record and the issues found.

    ``values`` maps normaliser name → value; ``building`` is the 方書 split off the
    address (kept by the department, not encoded). Errors mean the row is rejected,
    warnings that it is doubtful.
    """

    values: dict[str, str]
    issues: list[Issue] = field(default_factory=list)
    building: str = ""

    @property
    def rejected(self) -> bool:
        return any(issue.severity == "error" for issue in self.issues)


def _raw(record: Mapping[str, str], key: str, issues: list[Issue]) -> str:
    """The raw value of ``key`` ('' when missing); a placeholder is reported and gives ''."""
    value = record.get(key) or ""
    if value and has_placeholder(value):
        issues.append(Issue(key, "placeholder character", "warning"))
        return ""
    return value


def _name_part(
    record: Mapping[str, str], part_key: str, full_key: str, index: int, issues: list[Issue]
) -> str:
    """The surname (index 0) or given name (index 1) from its own column or the full name."""
    part = _raw(record, part_key, issues)
    if part.strip():
        return part
    full = _raw(record, full_key, issues)
    if not full.strip():
        return ""
    split = split_full_name(full)
    if not split.split:
        issues.append(Issue(full_key, "no space between surname and given name", "warning"))
    return split[index]


def _alias_part(record: Mapping[str, str], index: int, issues: list[Issue]) -> str:
    alias = _raw(record, "alias", issues)
    if not alias.strip():
        return ""
    split = split_full_name(alias)
    if not split.split:
        return split.surname if index == 0 else ""
    return split[index]


def surname(record: Mapping[str, str], issues: list[Issue], today: date | None = None) -> str:
    """Kanji surname, folded, with 旧氏 and the 通称 surname as alternates ('現|旧').

    Falls back to the strict kana key when the record has no surname in any script.
    """
    current = normalise_kanji_name(_name_part(record, "surname", "full_name", 0, issues))
    former = normalise_kanji_name(_raw(record, "former_surname", issues))
    alias = normalise_kanji_name(_alias_part(record, 0, issues))
    value = with_alternates(current, (former, alias))
    return value or surname_kana_strict(record, [], today)


def given_name(record: Mapping[str, str], issues: list[Issue], today: date | None = None) -> str:
    """Kanji given name, folded, with the 通称 given name as alternate."""
    current = normalise_kanji_name(_name_part(record, "given_name", "full_name", 1, issues))
    alias = normalise_kanji_name(_alias_part(record, 1, issues))
    value = with_alternates(current, (alias,))
    return value or given_kana_strict(record, [], today)


def _kana(record: Mapping[str, str], index: int, issues: list[Issue]) -> str:
    key = "surname_kana" if index == 0 else "given_kana"
    return _name_part(record, key, "full_kana", index, issues)


def surname_kana_strict(
    record: Mapping[str, str], issues: list[Issue], today: date | None = None
) -> str:
    return strict_kana(_kana(record, 0, issues))


def given_kana_strict(
    record: Mapping[str, str], issues: list[Issue], today: date | None = None
) -> str:
    return strict_kana(_kana(record, 1, issues))


def surname_kana_loose(
    record: Mapping[str, str], issues: list[Issue], today: date | None = None
) -> str:
    return loose_kana(_kana(record, 0, issues))


def given_kana_loose(
    record: Mapping[str, str], issues: list[Issue], today: date | None = None
) -> str:
    return loose_kana(_kana(record, 1, issues))


def date_of_birth(record: Mapping[str, str], issues: list[Issue], today: date | None = None) -> str:
    """'YYYYMMDD'; an unparseable, impossible, out-of-era or future date is an error."""
    try:
        value = normalise_date(record.get("date_of_birth") or "", today=today)
    except NormalisationError as exc:
        issues.append(exc.to_issue())
        return ""
    if not value:
        issues.append(Issue("date_of_birth", "missing", "warning"))
    return value


def sex(record: Mapping[str, str], issues: list[Issue], today: date | None = None) -> str:
    """'1' male, '2' female, '' unknown; an unrecognised code is a warning."""
    try:
        return normalise_sex(record.get("sex") or "")
    except NormalisationError as exc:
        issues.append(exc.to_issue())
        return ""


def address(record: Mapping[str, str], issues: list[Issue], today: date | None = None) -> str:
    """The address key without the building part (方書)."""
    return normalise_address(_raw(record, "address", issues))


def roman_name(record: Mapping[str, str], issues: list[Issue], today: date | None = None) -> str:
    """Foreign resident's roman name: uppercase tokens, sorted."""
    return normalise_roman_name(_raw(record, "roman_name", issues))


def identity_for(key: str) -> FieldNormaliser:
    """A normaliser that applies only the text rule to ``record[key]``."""

    def _identity(record: Mapping[str, str], issues: list[Issue], today: date | None = None) -> str:
        return normalise_text(_raw(record, key, issues))

    return _identity


NORMALISERS: dict[str, FieldNormaliser] = {
    "surname": surname,
    "given_name": given_name,
    "surname_kana_strict": surname_kana_strict,
    "given_kana_strict": given_kana_strict,
    "surname_kana_loose": surname_kana_loose,
    "given_kana_loose": given_kana_loose,
    "date_of_birth": date_of_birth,
    "sex": sex,
    "address": address,
    "roman_name": roman_name,
}
"""Normaliser name (as in the schema's ``kakehashi.fields``) → field function."""

DEFAULT_FIELDS: tuple[str, ...] = FIELDS


def normalise_fields(
    record: Mapping[str, str], today: date | None, fields: Sequence[str] = DEFAULT_FIELDS
) -> tuple[dict[str, str], list[Issue]]:
    """Field by field through :data:`NORMALISERS` (any subset of ``fields``).

    The specification of :func:`encoders.normalise.chunk.normalise_columns`, which computes
    the same values and issues column by column.
    """
    issues: list[Issue] = []
    values = {name: NORMALISERS[name](record, issues, today) for name in fields}
    return values, issues


def normalise_record(
    record: Mapping[str, str],
    *,
    today: date | None = None,
    fields: tuple[str, ...] | list[str] = DEFAULT_FIELDS,
) -> NormalisedRecord:
    """Normalise ``record`` into the values of ``fields`` (normaliser names).

    ``today`` bounds the date of birth (default: the current date). Issues are reported
    once each.
    """
    if tuple(fields) == DEFAULT_FIELDS:
        columns = {key: [record.get(key) or ""] for key in INPUT_KEYS}
        result = normalise_columns(columns, 1, today=today)
        values = {name: column[0] for name, column in result.values.items()}
        issues = [issue for _, issue in result.issues]
    else:
        values, issues = normalise_fields(record, today, fields)
    raw_address = record.get("address") or ""
    building = split_address(raw_address).building if "address" in fields else ""
    return NormalisedRecord(values=values, issues=list(dict.fromkeys(issues)), building=building)
