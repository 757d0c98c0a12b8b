"""Map an export's header names to the canonical record keys (docs/architecture.md).

Three sources, strongest first:

1. ``overrides`` — ``{canonical_key: header}``, from ``--column key=header`` options;
2. a mapping file (TOML, read with :mod:`tomllib`)::

       [columns]
       record_id = "児童番号"
       full_name = "児童氏名"
       date_of_birth = "誕生日"

3. the standard resident-record data list names (住民記録 基本データリスト), recognised
   without configuration: ``氏名``, ``氏``/``名``, ``氏名_フリガナ``, ``生年月日``, ... and
   a record id (``宛名番号`` first, then ``住民番号``, ``管理番号``, ``レコードID``,
   ``record_id``, ``ID``).

Headers are compared by :func:`encoders.readers.header_key` (stripped, NFKC, case-folded),
so ``氏名（フリガナ）`` matches ``氏名(フリガナ)`` and ``ＩＤ`` matches ``ID``.

When a mapping or override names any key of the name group (``full_name``, ``surname``,
``given_name``) the standard headers are not used for the rest of that group, and the same
for the kana group: a child's name chosen by mapping is never mixed with, say, a
guardian's ``氏``/``名`` recognised by default.

``個人番号`` / ``マイナンバー`` (My Number) is never used: mapping it to any key is an
error, and a file whose only id column it is fails with an explicit error. When a file
carries it beside a proper id, the column is ignored and never read.
"""

from __future__ import annotations

import tomllib
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from encoders.errors import InputError
from encoders.normalise.chunk import INPUT_KEYS
from encoders.readers import header_key
from encoders.validate import looks_garbled

CANONICAL_KEYS: tuple[str, ...] = ("record_id", *INPUT_KEYS)
"""The keys a column can be mapped to: the record id and what the normalisers read."""

#: Standard header names per key, in order of preference.
STANDARD_HEADERS: dict[str, tuple[str, ...]] = {
    "record_id": ("宛名番号", "住民番号", "管理番号", "レコードID", "record_id", "ID"),
    "full_name": ("氏名",),
    "surname": ("氏",),
    "given_name": ("名",),
    "full_kana": ("氏名_フリガナ", "氏名（フリガナ）", "フリガナ", "氏名カナ", "氏名フリガナ"),
    "surname_kana": ("氏_フリガナ", "氏（フリガナ）"),
    "given_kana": ("名_フリガナ", "名（フリガナ）"),
    "date_of_birth": ("生年月日",),
    "sex": ("性別",),
    "address": ("住所",),
    "former_surname": ("旧氏",),
    "alias": ("通称",),
    "roman_name": ("氏名_外国人ローマ字", "ローマ字氏名"),
}

#: Headers that hold the Individual Number (My Number); never read.
MY_NUMBER_HEADERS: tuple[str, ...] = ("個人番号", "マイナンバー")

#: Display name of each key for messages (its first standard header).
_LABEL = {key: f"{names[0]} ({key})" for key, names in STANDARD_HEADERS.items()}
_GROUPS: tuple[frozenset[str], ...] = (
    frozenset({"full_name", "surname", "given_name"}),
    frozenset({"full_kana", "surname_kana", "given_kana"}),
)
_OPTIONAL_REPORTED = ("full_kana", "sex", "address", "former_surname", "alias", "roman_name")
_STANDARD_LOOKUP: dict[str, tuple[str, int]] = {
    header_key(name): (key, rank)
    for key, names in STANDARD_HEADERS.items()
    for rank, name in enumerate(names)
}
_MY_NUMBER_KEYS = frozenset(header_key(n) for n in MY_NUMBER_HEADERS)

How = Literal["standard", "mapping"]


@dataclass(frozen=True)
class ColumnPlan:
    """Which column of the export feeds which canonical key.

    Attributes:
        headers: the export's header names, as written.
        index: canonical key → 0-based column index into a row's cells.
        recognised: ``(header, key, how)`` in column order; ``how`` is ``"standard"``,
            ``"mapping"`` (mapping file or command-line override).
        ignored: headers not used, in column order.
        missing_optional: optional keys with no column (``full_kana`` stands for the
            kana group), for ``--check`` output.
        notes: short remarks for ``--check`` (e.g. a second id column, 個人番号 never read).
    """

    headers: list[str]
    index: dict[str, int]
    recognised: list[tuple[str, str, str]]
    ignored: list[str]
    missing_optional: list[str]
    notes: list[str] = field(default_factory=list)
    _pairs: tuple[tuple[str, int], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_pairs", tuple(self.index.items()))

    def record(self, cells: Sequence[str]) -> dict[str, str]:
        """The canonical record of one row: ``{key: cell text, surrounding whitespace stripped}``.

        ``cells`` is one row as a reader yields it (``len(headers)`` values); only keys
        with a column appear in the result.
        """
        return {key: cells[i].strip() for key, i in self._pairs}

    def columns(self, rows: Sequence[Sequence[str]]) -> dict[str, list[str]]:
        """The canonical columns of several rows: ``{key: [cell text, stripped, per row]}``.

        ``plan.columns(rows)[key][i] == plan.record(rows[i])[key]``; the encoder works on
        chunks of rows column by column.
        """
        return {key: [cells[i].strip() for cells in rows] for key, i in self._pairs}


def _read_mapping_file(path: Path) -> dict[str, str]:
    label = path.name
    try:
        with path.open("rb") as fh:
            document = tomllib.load(fh)
    except FileNotFoundError:
        raise InputError(label, None, None, f"mapping file not found: {path}") from None
    except OSError as e:
        raise InputError(label, None, None, f"cannot open the mapping file: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise InputError(label, None, None, f"not valid TOML: {e}") from None
    except UnicodeDecodeError:
        raise InputError(label, None, None, "not valid TOML: the file must be UTF-8") from None
    columns = document.get("columns")
    if not isinstance(columns, dict):
        raise InputError(
            label,
            None,
            None,
            'no [columns] table; write e.g. [columns] then record_id = "児童番号"',
        )
    mapping: dict[str, str] = {}
    for key, header in columns.items():
        if not isinstance(header, str) or not header.strip():
            raise InputError(
                label, None, key, "the value must be the header name in the export, as text"
            )
        mapping[key] = header
    return mapping


def _check_keys(mapping: Mapping[str, str], label: str, source: str) -> None:
    for key in mapping:
        if key not in CANONICAL_KEYS:
            raise InputError(
                label,
                None,
                None,
                f"{source} names unknown field {key!r}; known fields: {', '.join(CANONICAL_KEYS)}",
            )


def resolve_columns(
    headers: Sequence[str],
    *,
    mapping_file: str | Path | None = None,
    overrides: Mapping[str, str] | None = None,
    file_label: str = "",
) -> ColumnPlan:
    """Decide which column feeds each canonical key.

    Args:
        headers: the export's header names as written (e.g. ``Table.headers``).
        mapping_file: a TOML file with a ``[columns]`` table ``key = "header"``.
        overrides: ``{key: header}`` from the command line; beats the mapping file.
        file_label: the export's name, for error messages.

    Raises:
        InputError: unknown key or absent header in the mapping/overrides, one header
            mapped to two keys, 個人番号 used, or a required column (record_id, a name:
            full_name or surname + given_name, date_of_birth) missing.
    """
    headers = list(headers)
    keys = [header_key(h) for h in headers]
    position = {k: i for i, k in enumerate(keys)}
    found = ", ".join(headers) or "(none)"
    if any(looks_garbled(h) for h in headers):
        found += (
            "; the headers look garbled (文字化け): the file was read with the wrong encoding, "
            "try --encoding utf-8 or --encoding cp932"
        )

    explicit: list[tuple[str, str, How, str]] = []  # (key, header, how, source label)
    if mapping_file is not None:
        mpath = Path(mapping_file)
        mapping = _read_mapping_file(mpath)
        _check_keys(mapping, mpath.name, "the mapping file")
        explicit += [(k, h, "mapping", f"mapping file {mpath.name}") for k, h in mapping.items()]
    if overrides:
        _check_keys(overrides, file_label, "a column option")
        explicit = [e for e in explicit if e[0] not in overrides]
        explicit += [(k, h, "mapping", f"option --column {k}={h}") for k, h in overrides.items()]

    index: dict[str, int] = {}
    how_of: dict[int, How] = {}
    for key, header, how, source in explicit:
        hk = header_key(header)
        if hk in _MY_NUMBER_KEYS:
            raise InputError(
                file_label,
                None,
                header,
                f"{source} maps {key} to {header}: the Individual Number (個人番号, My Number) "
                "must not be used for linkage; use 宛名番号 or another local id",
            )
        if hk not in position:
            raise InputError(
                file_label,
                None,
                header.strip(),
                f"{source} maps {key} to column {header.strip()!r}, which is not in the file; "
                f"headers found: {found}",
            )
        col = position[hk]
        if col in how_of:
            other = next(k for k, i in index.items() if i == col)
            raise InputError(
                file_label,
                None,
                headers[col],
                f"column is mapped to both {other} and {key}; map it to one field only",
            )
        index[key] = col
        how_of[col] = how

    blocked = {k for g in _GROUPS if g & index.keys() for k in g}
    notes: list[str] = []
    best: dict[str, tuple[int, int]] = {}  # key -> (rank, column)
    for col, hk in enumerate(keys):
        if col in how_of or hk not in _STANDARD_LOOKUP:
            continue
        key, rank = _STANDARD_LOOKUP[hk]
        if key in index or key in blocked:
            continue
        if key not in best or rank < best[key][0]:
            best[key] = (rank, col)
    for key, (_, col) in best.items():
        index[key] = col
        how_of[col] = "standard"
    for col, hk in enumerate(keys):
        if col in how_of:
            continue
        if hk in _STANDARD_LOOKUP and _STANDARD_LOOKUP[hk][0] in index:
            key = _STANDARD_LOOKUP[hk][0]
            notes.append(f"{headers[col]} not used: {key} comes from {headers[index[key]]}")
        if hk in _MY_NUMBER_KEYS:
            notes.append(f"{headers[col]} (My Number) is never read")

    _require(index, headers, keys, file_label, found)

    recognised = [
        (headers[col], key, how_of[col]) for key, col in sorted(index.items(), key=lambda kv: kv[1])
    ]
    ignored = [h for col, h in enumerate(headers) if col not in how_of]
    missing = [k for k in _OPTIONAL_REPORTED if k not in index]
    if "full_kana" in missing and {"surname_kana", "given_kana"} <= index.keys():
        missing.remove("full_kana")
    return ColumnPlan(
        headers=headers,
        index=dict(sorted(index.items(), key=lambda kv: CANONICAL_KEYS.index(kv[0]))),
        recognised=recognised,
        ignored=ignored,
        missing_optional=missing,
        notes=notes,
    )


def _require(
    index: Mapping[str, int], headers: list[str], keys: list[str], file_label: str, found: str
) -> None:
    hint = "map it with --column KEY=HEADER or a [columns] mapping file"
    if "record_id" not in index:
        my_number = [h for h, k in zip(headers, keys, strict=True) if k in _MY_NUMBER_KEYS]
        if my_number:
            raise InputError(
                file_label,
                None,
                my_number[0],
                "the only id column is the Individual Number (個人番号, My Number), which must "
                "not be used for linkage; export 宛名番号 or another local record id instead",
            )
        _missing("record_id", file_label, found, hint)
    if "full_name" not in index:
        if "surname" in index and "given_name" not in index:
            _missing("given_name", file_label, found, hint)
        if "given_name" in index and "surname" not in index:
            _missing("surname", file_label, found, hint)
        if "surname" not in index:
            raise InputError(
                file_label,
                None,
                "氏名",
                f"required column not found: a name, 氏名 (full_name) or 氏 and 名 "
                f"(surname, given_name); headers found: {found}; {hint}",
            )
    if "date_of_birth" not in index:
        _missing("date_of_birth", file_label, found, hint)


def _missing(key: str, file_label: str, found: str, hint: str) -> None:
    raise InputError(
        file_label,
        None,
        STANDARD_HEADERS[key][0],
        f"required column not found: {_LABEL[key]}; headers found: {found}; {hint}",
    )


def _display_width(text: str) -> int:
    """Terminal columns a text takes (full-width and wide characters count two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "FW" else 1 for c in text)


def describe(plan: ColumnPlan) -> str:
    """A human-readable account of a plan, for ``kakehashi encode --check``."""
    lines = ["Columns recognised:"]
    width = max((_display_width(h) for h, _, _ in plan.recognised), default=0)
    for header, key, how in plan.recognised:
        pad = " " * (width - _display_width(header))
        lines.append(f"  {header}{pad}  → {key}  ({how})")
    lines.append("Columns ignored: " + (", ".join(plan.ignored) if plan.ignored else "none"))
    if plan.missing_optional:
        absent = ", ".join(_LABEL[k] for k in plan.missing_optional)
        lines.append(f"Optional columns not found: {absent}")
    else:
        lines.append("Optional columns not found: none")
    lines += [f"Note: {n}" for n in plan.notes]
    return "\n".join(lines)
