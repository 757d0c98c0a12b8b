"""Normalise a chunk of records column by column: the path every export goes through.

:func:`normalise_columns` gives, record by record, the same values and issues as the
field-by-field normalisers of :mod:`encoders.normalise.record` (the specification; a
property test checks that both agree). It is built for throughput:

* the text rule runs once per column on the values joined together
  (:func:`~encoders.normalise.text.clean_column`), not once per value, so unique names and
  readings cost a few C-speed passes;
* rules whose values repeat (readings, name parts, birth dates, sex codes, addresses) are
  computed once per distinct value and memoised across chunks;
* the common shapes of an export (no 旧氏, no 通称, no placeholder characters) are
  recognised per column, so their per-record work is a few list comprehensions.

Columns are sequences of ``str`` (``""`` for an empty or missing cell), keyed by the
canonical keys of ``docs/architecture.md``; a key with no column may be left out.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Generic, TypeVar

from encoders.normalise.address import normalise_address_column
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
from encoders.normalise.text import COLUMN_SEPARATOR, clean_column, has_placeholder, remove_spaces

FIELDS: tuple[str, ...] = (
    "surname",
    "given_name",
    "surname_kana_strict",
    "given_kana_strict",
    "surname_kana_loose",
    "given_kana_loose",
    "date_of_birth",
    "sex",
    "address",
    "roman_name",
)
"""The normaliser names :func:`normalise_columns` computes, in schema order."""

INPUT_KEYS: tuple[str, ...] = (
    "full_name",
    "surname",
    "given_name",
    "full_kana",
    "surname_kana",
    "given_kana",
    "date_of_birth",
    "sex",
    "address",
    "former_surname",
    "alias",
    "roman_name",
)
"""The canonical keys the normalisers read."""

PLACEHOLDER = "placeholder character"
NO_SPACE = "no space between surname and given name"

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class ColumnMemo(Generic[K, V]):
    """Results of a column function kept across chunks, up to ``maxsize`` distinct inputs.

    ``memo(values)`` computes ``function`` only on the distinct values not seen before
    and returns one result per value. When full, the memo starts afresh (a chunk's
    values are always all stored, so the lookup after computing cannot miss).
    """

    def __init__(self, function: Callable[[list[K]], Sequence[V]], maxsize: int) -> None:
        self._function = function
        self._maxsize = maxsize
        self._known: dict[K, V] = {}

    def __call__(self, values: Sequence[K]) -> list[V]:
        known = self._known
        distinct = dict.fromkeys(values)
        missing = [value for value in distinct if value not in known]
        if missing and len(known) + len(missing) > self._maxsize:
            known.clear()  # start afresh; this chunk's values must all be stored
            missing = list(distinct)
        if missing:
            known.update(zip(missing, self._function(missing), strict=True))
        return [known[value] for value in values]

    def cache_clear(self) -> None:
        self._known.clear()


def _each(function: Callable[[K], V]) -> Callable[[list[K]], list[V]]:
    return lambda values: [function(value) for value in values]


def _outcome(rule: Callable[[str], str]) -> Callable[[str], str | Issue]:
    """``rule``'s value, or the issue its NormalisationError carries."""

    def outcome(value: str) -> str | Issue:
        try:
            return rule(value)
        except NormalisationError as exc:
            return exc.to_issue()

    return outcome


# Birth dates, sex codes and addresses repeat across rows (siblings, one household, the
# same day). Memoised here; the rules themselves stay plain functions.
address_memo: ColumnMemo[str, str] = ColumnMemo(normalise_address_column, 1 << 16)
sex_memo: ColumnMemo[str, str | Issue] = ColumnMemo(_each(_outcome(normalise_sex)), 256)


@lru_cache(maxsize=8)
def date_memo(today: date | None) -> ColumnMemo[str, str | Issue]:
    """The birth-date memo for one ``today`` (the future-date bound changes the outcome)."""
    rule = _outcome(lambda value: normalise_date(value, today=today))
    return ColumnMemo(_each(rule), 1 << 16)


@dataclass
class NormalisedColumns:
    """The schema field values of a chunk of ``n`` records and the issues found.

    Attributes:
        values: normaliser name (see :data:`FIELDS`) → ``(n,)`` values, ``""`` unknown.
        issues: ``(position in the chunk, issue)``; each issue once per record. Errors
            mean the record is rejected, warnings that it is doubtful.
    """

    values: dict[str, list[str]]
    issues: list[tuple[int, Issue]]


class _Chunk:
    """The columns of one chunk and the issues found so far (one call of normalise_columns)."""

    def __init__(self, columns: Mapping[str, Sequence[str]], n: int) -> None:
        self.columns = columns
        self.n = n
        self.issues: list[tuple[int, Issue]] = []

    def column(self, key: str) -> Sequence[str]:
        values = self.columns.get(key)
        if values is None:
            return [""] * self.n
        if len(values) != self.n:
            raise ValueError(f"column {key!r} has {len(values)} values, expected {self.n}")
        return values

    def raw(self, key: str, rows: Sequence[int] | None = None) -> list[str]:
        """The values of ``key``; one with a placeholder gives ``""`` and a warning.

        Only ``rows`` (default: all) are read: the others are ``""`` and never reported.
        """
        values = self.column(key)
        if rows is None:
            out = list(values)
        else:
            out = [""] * self.n
            for i in rows:
                out[i] = values[i]
        if has_placeholder(COLUMN_SEPARATOR.join(out)):
            for i, value in enumerate(out):
                if value and has_placeholder(value):
                    out[i] = ""
                    self.issues.append((i, Issue(key, PLACEHOLDER, "warning")))
        return out

    def parts(self, first: str, second: str, full_key: str) -> tuple[list[str], list[str]]:
        """(first, second) per record from their own columns, else split from the full one.

        A part present in its own column wins; the full column is read only for records
        that lack one of the two. The split is :func:`split_full_name`'s, column-wise.
        """
        a, b = self.raw(first), self.raw(second)
        a_present = [bool(value.strip()) for value in a] if any(a) else [False] * self.n
        b_present = [bool(value.strip()) for value in b] if any(b) else [False] * self.n
        need = [i for i in range(self.n) if not (a_present[i] and b_present[i])]
        if not need:
            return a, b
        full = self.raw(full_key, need)
        texts, _ = clean_column([full[i] for i in need])  # an unknown value's text is ""
        splits = [text.partition(" ") for text in texts]
        split_firsts = [split[0] for split in splits]
        split_seconds = [remove_spaces(split[2]) for split in splits]
        for j, (text, split) in enumerate(zip(texts, splits, strict=True)):
            if text and not split[1]:
                self.issues.append((need[j], Issue(full_key, NO_SPACE, "warning")))
        if len(need) == self.n and not any(a_present) and not any(b_present):
            return split_firsts, split_seconds  # the usual export: one full-name column
        firsts, seconds = list(a), list(b)
        for j, i in enumerate(need):
            if not a_present[i]:
                firsts[i] = split_firsts[j]
            if not b_present[i]:
                seconds[i] = split_seconds[j]
        return firsts, seconds

    def alias_parts(self) -> tuple[list[str], list[str]]:
        """The 通称 surname and given name (no given name when the alias has no space)."""
        alias = self.raw("alias")
        surnames = [""] * self.n
        givens = [""] * self.n
        if any(alias):
            for i, value in enumerate(alias):
                if value.strip():
                    split = split_full_name(value)
                    surnames[i] = split.surname
                    givens[i] = split.given if split.split else ""
        return surnames, givens

    def with_issues(self, outcomes: list[str | Issue], missing: Issue | None = None) -> list[str]:
        """Values from rule outcomes; an issue gives ``""`` and is reported.

        With ``missing``, an empty value is reported as that issue too.
        """
        if all(type(outcome) is str for outcome in outcomes) and (
            missing is None or "" not in outcomes
        ):
            return outcomes  # type: ignore[return-value]
        values: list[str] = []
        for i, outcome in enumerate(outcomes):
            if isinstance(outcome, Issue):
                self.issues.append((i, outcome))
                values.append("")
            else:
                if not outcome and missing is not None:
                    self.issues.append((i, missing))
                values.append(outcome)
        return values


def _names(current: list[str], alternates: list[list[str]], fallback: list[str]) -> list[str]:
    """Kanji names with their alternates (旧氏, 通称); the strict kana key when empty."""
    names = [
        name or kana
        for name, kana in zip(map(normalise_kanji_name, current), fallback, strict=True)
    ]
    with_others = sorted({i for column in alternates for i, value in enumerate(column) if value})
    for i in with_others:
        others = [normalise_kanji_name(column[i]) for column in alternates]
        names[i] = with_alternates(normalise_kanji_name(current[i]), others) or fallback[i]
    return names


def normalise_columns(
    columns: Mapping[str, Sequence[str]], n: int, *, today: date | None = None
) -> NormalisedColumns:
    """Normalise ``n`` records given as columns into the values of :data:`FIELDS`.

    ``today`` bounds the date of birth (default: the current date).
    """
    chunk = _Chunk(columns, n)
    surname, given = chunk.parts("surname", "given_name", "full_name")
    former = chunk.raw("former_surname")
    alias_surname, alias_given = chunk.alias_parts()
    surname_kana, given_kana = chunk.parts("surname_kana", "given_kana", "full_kana")
    surname_strict = list(map(strict_kana, surname_kana))
    given_strict = list(map(strict_kana, given_kana))

    dates = chunk.with_issues(
        date_memo(today)(chunk.column("date_of_birth")),
        missing=Issue("date_of_birth", "missing", "warning"),
    )
    values = {
        "surname": _names(surname, [former, alias_surname], surname_strict),
        "given_name": _names(given, [alias_given], given_strict),
        "surname_kana_strict": surname_strict,
        "given_kana_strict": given_strict,
        "surname_kana_loose": list(map(loose_kana, surname_kana)),
        "given_kana_loose": list(map(loose_kana, given_kana)),
        "date_of_birth": dates,
        "sex": chunk.with_issues(sex_memo(chunk.column("sex"))),
        "address": address_memo(chunk.raw("address")),
        "roman_name": list(map(normalise_roman_name, chunk.raw("roman_name"))),
    }
    return NormalisedColumns(values=values, issues=chunk.issues)
