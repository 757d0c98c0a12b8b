"""Guardians, relations and date tags of a body's export: the family file (issue 16).

The family map (TOML, written by the body) says which columns of the export hold a
guardian's identifiers and, for pregnancy records, the expected date of birth::

    # 住民記録: each row is a child; its guardians are columns of the same row
    [guardians.mother]                 # role: mother, father or other
    full_name = "母_氏名"               # the same keys as [columns]: full_name or
    full_kana = "母_氏名_フリガナ"       # surname + given_name, full_kana, date_of_birth,
    date_of_birth = "母_生年月日"       # address, former_surname (旧氏), alias, sex ...
    address = "住所"
    record_id = "母_宛名番号"           # optional: the guardian's own id (one per person)

    [guardians.guardian2]
    role = "other"                     # a label that is not a role needs role = ...
    full_name = "保護者2_氏名"
    date_of_birth = "保護者2_生年月日"
    relationship = "保護者2_続柄"       # optional: the role comes from the cell
    relationship_values = { "父" = "father", "母" = "mother", "祖母" = "other" }

    # 母子保健 (妊娠届): each row is a pregnancy, about the mother
    subject = "guardian"               # rows are guardians: no children's encodings
    record_id = "妊娠届番号"
    [guardians.mother]
    full_name = "氏名"
    date_of_birth = "生年月日"
    [pregnancy]
    guardian = "mother"
    expected_date = "出産予定日"
    notified_date = "届出日"           # optional: guards against a mistyped expected date

Guardians are encoded with the children's pipeline (same schema, secret, normalisation
and hardening): their names never leave the body. Rows of the same guardian give the
same guardian ref (same own ``record_id``, or else the same normalised identifiers).
Without a sex column, a mother is encoded as female and a father as male. For children
(subject "child", the default) the file also carries each child's birth-date tag; for
pregnancies, the tags of the expected date's window (``linkage.family``). A bad value is
a row-level error (file, row, column) in the validation report and nothing is written.
"""

from __future__ import annotations

import json
import os
import tempfile
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from encoders.columns import STANDARD_HEADERS
from encoders.errors import InputError
from encoders.keys import KeysWriter
from encoders.normalise.chunk import INPUT_KEYS
from encoders.normalise.dates import normalise_date
from encoders.normalise.issues import NormalisationError
from encoders.pipeline import RowIssue, iter_encoded_chunks, normalise_chunk
from encoders.readers import Table, header_key, open_table
from encoders.shuffle import shuffled
from linkage.container import new_refs
from linkage.family import date_tag, derive_tag_key, pregnancy_window
from linkage.family_format import ROLES, family_document
from linkage.schema import LinkageSchema

_FAR_FUTURE = date(9999, 12, 31)  # an expected date of birth lies ahead
_GROUP_EXTRA = {"role", "relationship", "relationship_values", "record_id"}
_IMPLIED_SEX = {"mother": "女", "father": "男"}  # when the export has no sex column
_NAME_KEYS = ("full_name", "surname", "given_name")


@dataclass(frozen=True)
class GuardianColumns:
    """One guardian group of the map: its label, role and canonical key → header."""

    label: str
    role: str | None  # None: from the relationship column
    columns: dict[str, str]
    relationship: str | None = None
    relationship_values: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FamilyMap:
    """A body's family map, checked."""

    subject: str  # "child" or "guardian"
    guardians: tuple[GuardianColumns, ...]
    record_id: str | None = None
    pregnancy_guardian: str | None = None
    expected_date: str | None = None
    notified_date: str | None = None


def _fail(name: str, message: str) -> InputError:
    return InputError(name, None, None, message)


def load_family_map(path: str | Path) -> FamilyMap:
    """Read a family map; InputError naming the file and the table for anything wrong."""
    path = Path(path)
    name = path.name
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError as exc:
        raise _fail(name, "family map file not found") from exc
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise _fail(name, f"not a valid UTF-8 TOML file: {exc}") from exc
    unknown = sorted(set(data) - {"subject", "record_id", "guardians", "pregnancy"})
    if unknown:
        raise _fail(name, f"unknown top-level key(s) {unknown}")
    subject = data.get("subject", "child")
    if subject not in ("child", "guardian"):
        raise _fail(name, 'subject must be "child" (rows are children) or "guardian"')
    record_id = data.get("record_id")
    if record_id is not None and (not isinstance(record_id, str) or not record_id.strip()):
        raise _fail(name, 'record_id = "見出し" must name a column')
    table = data.get("guardians")
    if not isinstance(table, dict) or not table:
        raise _fail(name, "no [guardians.LABEL] tables (e.g. [guardians.mother])")
    groups: list[GuardianColumns] = []
    used: dict[str, str] = {}
    for label, entry in table.items():
        where = f"[guardians.{label}]"
        if not isinstance(entry, dict):
            raise _fail(name, f'{where}: expected a table of key = "見出し"')
        extra = sorted(set(entry) - set(INPUT_KEYS) - _GROUP_EXTRA)
        if extra:
            raise _fail(name, f"{where}: unknown key(s) {extra}; known: {', '.join(INPUT_KEYS)}")
        role = entry.get("role", label if label in ROLES else None)
        relationship = entry.get("relationship")
        values = entry.get("relationship_values", {})
        if role is not None and role not in ROLES:
            raise _fail(name, f"{where}: role must be one of {', '.join(ROLES)}")
        if relationship is not None:
            if not isinstance(relationship, str) or not relationship.strip():
                raise _fail(name, f"{where}: relationship must name the 続柄 column")
            if not isinstance(values, dict) or not values:
                raise _fail(name, f'{where}: relationship_values = {{ "母" = "mother", ... }}')
            bad = sorted(str(v) for v in values.values() if v not in ROLES)
            if bad:
                raise _fail(name, f"{where}: relationship_values must map to {ROLES}, not {bad}")
            role = None
        elif role is None:
            raise _fail(name, f'{where}: say role = "mother", "father" or "other"')
        columns = {k: v for k, v in entry.items() if k in (*INPUT_KEYS, "record_id")}
        for key, header in columns.items():
            if not isinstance(header, str) or not header.strip():
                raise _fail(name, f"{where}: {key} must name a column, as text")
            hk = header_key(header)
            if hk in used and key != "address":  # siblings' guardians may share 住所
                raise _fail(name, f"{where}: column {header!r} already feeds {used[hk]}")
            used.setdefault(hk, f"{label}.{key}")
        if not any(k in columns for k in _NAME_KEYS) or "date_of_birth" not in columns:
            raise _fail(
                name,
                f"{where}: a guardian needs a name (full_name, or surname and given_name) "
                "and date_of_birth",
            )
        groups.append(
            GuardianColumns(
                label,
                role,
                columns,
                relationship.strip() if relationship else None,
                {str(k).strip(): str(v) for k, v in values.items()},
            )
        )
    pregnancy = data.get("pregnancy")
    preg_guardian = expected = notified = None
    if pregnancy is not None:
        if subject != "guardian":
            raise _fail(name, '[pregnancy] needs subject = "guardian" (rows are pregnancies)')
        allowed = {"guardian", "expected_date", "notified_date"}
        if not isinstance(pregnancy, dict) or set(pregnancy) - allowed:
            raise _fail(
                name,
                '[pregnancy] takes guardian = "LABEL", expected_date = "見出し" and '
                'notified_date = "見出し" (届出日, optional)',
            )
        preg_guardian, expected = pregnancy.get("guardian"), pregnancy.get("expected_date")
        notified = pregnancy.get("notified_date")
        if notified is not None and (not isinstance(notified, str) or not notified.strip()):
            raise _fail(name, '[pregnancy] notified_date = "届出日" must name a column')
        if preg_guardian not in {g.label for g in groups}:
            raise _fail(name, "[pregnancy] guardian must be the label of a [guardians.*] table")
        if not isinstance(expected, str) or not expected.strip():
            raise _fail(name, '[pregnancy] expected_date = "出産予定日" is required')
    return FamilyMap(subject, tuple(groups), record_id, preg_guardian, expected, notified)


def _day(ymd: str) -> date:
    return date(int(ymd[:4]), int(ymd[4:6]), int(ymd[6:]))


class _GroupColumns:
    """Rows of (key → cell) dicts → canonical columns, for ``iter_encoded_chunks``."""

    def __call__(self, rows: Sequence[Sequence[str]]) -> dict[str, list[str]]:
        keys = (*INPUT_KEYS, "record_id")
        return {k: [row[i].strip() for row in rows] for i, k in enumerate(keys)}


@dataclass
class _Guardian:
    row: int
    label: str
    role: str
    record_id: str  # for the family keys file: the guardian's own id, or "<row id>:<label>"
    own_id: str = ""  # the guardian's own record id in the export (same person, same id)


class FamilyJob:
    """Encode one export's guardians and tags into ``<encodings>.family.json``.

    ``prepare`` reads the export once, checks every mapped cell and encodes the guardians
    (returning row-level errors); ``add`` is told the children's refs of the encoded rows
    (subject "child"); ``close`` writes the family file and the family keys file.
    """

    def __init__(
        self,
        family_map: FamilyMap,
        *,
        schema: LinkageSchema,
        secret: bytes,
        secret_fingerprint: str,
        output: str | Path,
        keys_output: str | Path,
        today: date | None = None,
    ) -> None:
        self.map = family_map
        self.schema = schema
        self.secret = secret
        self.fingerprint = secret_fingerprint
        self.output = Path(output)
        self.keys_output = Path(keys_output)
        self.today = today or date.today()
        self._tag_key = derive_tag_key(secret)
        self._guardians_of: dict[int, list[tuple[str, str]]] = {}  # row → [(g ref, role)]
        self._birth: dict[int, bytes] = {}
        self._pregnancies: list[tuple[int, str, str, dict[bytes, int]]] = []
        self._clk_of: dict[str, bytes] = {}
        self._keys: list[tuple[str, str]] = []
        self.relations: list[tuple[str, str, str]] = []
        self.births: list[tuple[str, bytes]] = []
        self.guardians_written = 0
        self.pregnancies_written = 0

    # -- pass 1 ---------------------------------------------------------------------------
    def prepare(
        self,
        input_path: Path,
        *,
        encoding: str | None,
        sheet: str | None,
        child_dob: int | None = None,
        child_record_id: int | None = None,
    ) -> list[RowIssue]:
        """Read every row of the export; encode the guardians; row-level errors for bad cells.

        ``child_dob`` / ``child_record_id``: the column indexes of the child's birth date
        and record id (subject "child"), from the children's column plan.
        """
        with open_table(input_path, encoding=encoding, sheet=sheet) as table:
            return self._prepare(table, child_dob, child_record_id)

    def _prepare(
        self, table: Table, child_dob: int | None, child_record_id: int | None
    ) -> list[RowIssue]:
        fmap, name = self.map, table.file
        position = {header_key(h): i for i, h in enumerate(table.headers)}
        found = ", ".join(table.headers)

        def column(header: str) -> int:
            i = position.get(header_key(header))
            if i is None:
                raise InputError(
                    name, None, header, f"family map column not found; headers are: {found}"
                )
            return i

        groups = [
            (g, {k: column(h) for k, h in g.columns.items()},
             column(g.relationship) if g.relationship else None)
            for g in fmap.guardians
        ]  # fmt: skip
        if fmap.subject == "guardian":
            rid_col = (
                column(fmap.record_id)
                if fmap.record_id
                else self._standard_id(position, name, found)
            )
        else:
            rid_col = child_record_id
        expected_col = column(fmap.expected_date) if fmap.expected_date else None
        issues: list[RowIssue] = []
        cells_of: list[list[str]] = []
        owners: list[_Guardian] = []
        header_of_key: dict[tuple[str, str], str] = {}
        notified_col = column(fmap.notified_date) if fmap.notified_date else None
        expected_of: dict[int, tuple[date | None, date | None]] = {}
        for number, cells in table:
            record_id = cells[rid_col].strip() if rid_col is not None else str(number)
            for g, index, rel_col in groups:
                values = {k: cells[i].strip() for k, i in index.items()}
                if not any(v for k, v in values.items() if k not in ("address", "record_id")):
                    continue  # no such guardian on this row (a shared 住所 alone is not one)
                role = g.role
                if rel_col is not None:
                    text = cells[rel_col].strip()
                    role = g.relationship_values.get(text)
                    if role is None:
                        issues.append(
                            RowIssue(
                                number, table.headers[rel_col], "error",
                                f"続柄 {text!r} is not in relationship_values of "
                                f"[guardians.{g.label}]",
                            )
                        )  # fmt: skip
                        continue
                assert role is not None
                for k, i in index.items():
                    header_of_key[(g.label, k)] = table.headers[i]
                if "sex" not in index and role in _IMPLIED_SEX:
                    values["sex"] = _IMPLIED_SEX[role]
                own_id = values.get("record_id", "")
                cells_of.append([values.get(k, "") for k in INPUT_KEYS] + [record_id])
                owners.append(
                    _Guardian(number, g.label, role, own_id or f"{record_id}:{g.label}", own_id)
                )
            if expected_col is not None:
                dates: list[date | None] = []
                for col, key in ((expected_col, "expected_date"), (notified_col, "notified")):
                    ymd = ""
                    if col is not None:
                        try:
                            ymd = normalise_date(cells[col], today=_FAR_FUTURE, column=key)
                        except NormalisationError as exc:
                            issues.append(RowIssue(number, table.headers[col], "error", exc.reason))
                    dates.append(_day(ymd) if ymd else None)
                if dates[0] is None and dates[1] is None:
                    issues.append(
                        RowIssue(
                            number, table.headers[expected_col], "error",
                            "expected date is empty (and no notification date)",
                        )
                    )  # fmt: skip
                else:
                    expected_of[number] = (dates[0], dates[1])
            if fmap.subject == "child" and child_dob is not None:
                try:
                    ymd = normalise_date(cells[child_dob], today=self.today)
                except NormalisationError:
                    ymd = ""  # the children's pipeline reports and rejects the row
                if ymd:
                    self._birth[number] = date_tag(self._tag_key, _day(ymd))
        # The same guardian on several rows (siblings' mother) is one guardian: rows are
        # grouped by their normalised values (CLKs cannot be compared: hardening may add
        # random bits), then each distinct guardian is encoded once by the children's
        # pipeline. Errors are reported for every row.
        n = len(cells_of)
        same_as: dict[int, int] = {}
        if n:
            norm = normalise_chunk(_GroupColumns()(cells_of), n, self.today)
            for at, key, severity, reason in norm.issues:
                if severity != "error":
                    continue
                who = owners[at]
                header = header_of_key.get((who.label, key), key)
                issues.append(RowIssue(who.row, header, "error", f"guardian {who.label}: {reason}"))
            fields = sorted(norm.values)
            first_of: dict[tuple[str, ...], int] = {}
            for at in range(n):
                if at not in norm.rejected:
                    own = owners[at].own_id
                    identity = ("id", own) if own else tuple(norm.values[f][at] for f in fields)
                    same_as[at] = first_of.setdefault(identity, at)
        ref_at: dict[int, str] = {}  # position in owners → guardian ref
        firsts = sorted(set(same_as.values()))
        for chunk in iter_encoded_chunks(
            ((at, cells_of[at]) for at in firsts), self.schema, self.secret,
            workers=1, today=self.today, make_columns=_GroupColumns(),
        ):  # fmt: skip
            for at, clk in zip(chunk.rows.tolist(), chunk.clks, strict=True):
                ref = ref_at[at] = new_refs(1)[0]
                self._clk_of[ref] = clk.tobytes()
                self._keys.append((ref, owners[at].record_id))
        for at, first in same_as.items():
            ref_at[at] = ref_at[first]
            self._guardians_of.setdefault(owners[at].row, []).append((ref_at[at], owners[at].role))
        mother_at = {
            o.row: ref_at[i]
            for i, o in enumerate(owners)
            if o.label == fmap.pregnancy_guardian and i in ref_at
        }
        record_of: dict[int, str] = {}
        for o, cells_row in zip(owners, cells_of, strict=True):
            record_of.setdefault(o.row, cells_row[-1])
        for number, (expected, notified) in expected_of.items():
            mother = mother_at.get(number)
            if mother is None:
                if not any(i.row == number for i in issues):
                    issues.append(
                        RowIssue(
                            number, fmap.pregnancy_guardian or "", "error",
                            "a pregnancy needs the mother's name and date of birth",
                        )
                    )  # fmt: skip
                continue
            window = pregnancy_window(self._tag_key, expected, notified)
            self._pregnancies.append((number, mother, record_of[number], window))
        return issues

    # -- pass 2 (subject "child"): the children's refs --------------------------------------
    def add(self, rows: list[int], refs: list[str]) -> None:
        """The children of encoded rows ``rows`` (row numbers) got refs ``refs``."""
        for number, child in zip(rows, refs, strict=True):
            for guardian, role in self._guardians_of.get(number, ()):
                self.relations.append((child, guardian, role))
            tag = self._birth.get(number)
            if tag is not None:
                self.births.append((child, tag))

    def close(self) -> None:
        """Write the family file and its keys file (each whole or not at all)."""
        self.relations = sorted(set(self.relations))
        if self.map.subject == "child":  # only guardians of encoded children travel
            used = {g for _, g, _ in self.relations}
        else:
            used = set(self._clk_of)
        # Guardians, births and pregnancies travel in a random order, not the export's
        # (encoders.shuffle); relations are sorted by their random refs.
        guardians = shuffled([(ref, clk) for ref, clk in self._clk_of.items() if ref in used])
        self.births = shuffled(self.births)
        pregnancy_refs = new_refs(len(self._pregnancies))
        pregnancies = shuffled(
            [
                (ref, mother, window)
                for ref, (_, mother, _, window) in zip(
                    pregnancy_refs, self._pregnancies, strict=True
                )
            ]
        )
        doc = family_document(
            schema_id=self.schema.schema_id,
            bit_length=self.schema.bit_length,
            secret_fingerprint=self.fingerprint,
            guardians=guardians,
            relations=self.relations,
            births=self.births,
            pregnancies=pregnancies,
        )
        keys = KeysWriter(self.keys_output)
        tmp: str | None = None
        try:
            keys.write((ref, rid) for ref, rid in self._keys if ref in used)
            keys.write(
                (ref, record_id)
                for ref, (_, _, record_id, _) in zip(pregnancy_refs, self._pregnancies, strict=True)
            )
            self.output.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.output.name}.", dir=self.output.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(doc, handle, ensure_ascii=False)
            os.replace(tmp, self.output)
        except BaseException:
            keys.abort()
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)
            raise
        keys.close()
        self.guardians_written = len(guardians) or -1  # -1: written, but empty
        self.pregnancies_written = len(pregnancies)

    def abort(self) -> None:
        """Remove what ``close`` wrote (a later output of the same run failed)."""
        if self.guardians_written or self.pregnancies_written:
            self.output.unlink(missing_ok=True)
            self.keys_output.unlink(missing_ok=True)

    @staticmethod
    def _standard_id(position: dict[str, int], name: str, found: str) -> int:
        for header in STANDARD_HEADERS["record_id"]:
            if header_key(header) in position:
                return position[header_key(header)]
        raise InputError(
            name, None, "record_id",
            f"no record id column; set record_id = \"見出し\" in the family map; headers: {found}",
        )  # fmt: skip
