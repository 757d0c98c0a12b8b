"""The generated municipality: truth, per-body exports, writers."""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import random
from dataclasses import dataclass, field, replace
from pathlib import Path

from synthetic import files
from synthetic.bodies import BODIES, BodySpec, render_record
from synthetic.errors import ERROR_LEVELS, ErrorRates
from synthetic.population import LifeEventRates, Person, build_population
from synthetic.signals import (
    KODOMO_SPEC,
    SignalTruth,
    cell,
    draw_signals,
    signal_columns,
)


def _geta(err: UnicodeError) -> tuple[str, int]:
    """Unmappable characters become 〓 (geta), as Windows exports of such names do."""
    assert isinstance(err, UnicodeEncodeError)
    return ("〓", err.end)


codecs.register_error("kakehashi_geta", _geta)

CANONICAL_KEYS: dict[str, str] = {
    "宛名番号": "record_id",
    "管理番号": "record_id",
    "氏名": "full_name",
    "氏": "surname",
    "名": "given_name",
    "氏名_フリガナ": "full_kana",
    "氏_フリガナ": "surname_kana",
    "名_フリガナ": "given_kana",
    "生年月日": "date_of_birth",
    "性別": "sex",
    "住所": "address",
    "旧氏": "former_surname",
    "通称": "alias",
    "氏名_外国人ローマ字": "roman_name",
}
"""Export header -> canonical record key (docs/architecture.md)."""


def sub_rng(seed: int, label: str) -> random.Random:
    """An independent, reproducible random stream for one stage of generation."""
    digest = hashlib.sha256(f"{seed}:{label}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


@dataclass
class BodyExport:
    """One body's export: headers and rows (strings), and whose record each row is.

    ``rows`` has shape ``(n_records, len(spec.columns))``; ``person_ids[i]`` is the truth
    for ``rows[i]``; ``record_ids[i]`` is that row's value in ``spec.id_header``.
    """

    spec: BodySpec
    rows: list[list[str]]
    record_ids: list[str]
    person_ids: list[str]

    def to_bytes(self) -> bytes:
        """The CSV file exactly as written (encoding and line endings of the body)."""
        buf = io.StringIO()
        newline = "\r\n" if self.spec.encoding == "cp932" else "\n"
        writer = csv.writer(buf, lineterminator=newline)
        writer.writerow(self.spec.columns)
        writer.writerows(self.rows)
        return buf.getvalue().encode(self.spec.encoding, errors="kakehashi_geta")

    def canonical_records(self) -> list[dict[str, str]]:
        """Rows as dicts keyed by canonical keys; unmapped columns are dropped.

        Values are what the file holds after decoding (CP932 bodies: 〓 where a character
        could not be written).
        """
        keys = [CANONICAL_KEYS.get(c) for c in self.spec.columns]
        out = []
        for row in self.rows:
            rec = {k: v for k, v in zip(keys, row, strict=True) if k is not None}
            if self.spec.encoding == "cp932":
                rec = {
                    k: v.encode("cp932", errors="kakehashi_geta").decode("cp932")
                    for k, v in rec.items()
                }
            out.append(rec)
        return out


@dataclass
class Municipality:
    """A synthetic city's children and the exports of its bodies.

    Attributes:
        persons: the true children, ``persons[i].person_id`` unique.
        bodies: body key (``jumin``, ``gakko``, ``hoiku``, ``fukushi``, ``boshi``) -> export.
        seed, error_level: how it was generated.
        signals: with ``generate(..., signals=True)``: every record's signal values and
            the planted children (``synthetic/signals.py``); else None.
    """

    persons: list[Person]
    bodies: dict[str, BodyExport]
    seed: int
    error_level: str
    signals: SignalTruth | None = None
    _truth: dict[tuple[str, str], str] = field(default_factory=dict, repr=False)

    @property
    def truth(self) -> dict[tuple[str, str], str]:
        """(body key, record id) -> person id, for every record of every body."""
        if not self._truth:
            for key, export in self.bodies.items():
                for rid, pid in zip(export.record_ids, export.person_ids, strict=True):
                    self._truth[(key, rid)] = pid
        return self._truth

    def subgroups(self) -> dict[str, set[str]]:
        """Person ids per subgroup: ``foreign``, ``changed_surname``, ``moved``, ``twins``."""
        return {
            "foreign": {p.person_id for p in self.persons if p.nationality},
            "changed_surname": {p.person_id for p in self.persons if p.former_surname},
            "moved": {p.person_id for p in self.persons if p.old_address},
            "twins": {p.person_id for p in self.persons if p.twin},
        }

    def twin_pairs(self) -> list[tuple[str, str]]:
        """Pairs of person ids of twins (same household and birth date)."""
        by_key: dict[tuple[int, object], list[str]] = {}
        for p in self.persons:
            if p.twin:
                by_key.setdefault((p.household_id, p.dob), []).append(p.person_id)
        return [(ids[0], ids[1]) for ids in by_key.values() if len(ids) == 2]

    def write_exports(self, folder: Path) -> dict[str, Path]:
        """Write one CSV per body into ``folder``; returns body key -> path."""
        return files.write_exports(self.bodies, folder)

    def write_truth(self, path: Path) -> Path:
        """Write the truth as CSV ``body,record_id,person_id`` (UTF-8)."""
        return files.write_truth(self.truth, path)

    def write_planted(self, path: Path) -> Path:
        """Write the planted children as CSV ``person_id,rule,reason,bodies`` (UTF-8)."""
        if self.signals is None:
            raise ValueError("this municipality was generated without signals")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(("person_id", "rule", "reason", "bodies"))
            for c in self.signals.planted:
                writer.writerow((c.person_id, c.rule, c.reason, " ".join(c.bodies)))
        return path


def generate(
    n_children: int = 2000,
    *,
    seed: int = 0,
    error_level: str = "normal",
    signals: bool = False,
    twins: float = 0.02,
) -> Municipality:
    """Generate a synthetic municipality of ``n_children`` children aged 0–18.

    Same ``(n_children, seed, error_level)`` -> byte-identical exports and truth. With
    ``signals=True`` the exports also carry signal columns, a sixth body ``kodomo`` is
    added and some children are planted (``synthetic/signals.py``); the identifier
    columns of the five bodies' existing records stay the same. ``twins``: share of
    households with a pair of twins (the family benchmark raises it to test multiple
    births).

    Raises:
        ValueError: for an unknown ``error_level`` or ``n_children < 1``.
    """
    if error_level not in ERROR_LEVELS:
        raise ValueError(f"error_level must be one of {sorted(ERROR_LEVELS)}, not {error_level!r}")
    if n_children < 1:
        raise ValueError("n_children must be at least 1")
    rates = ERROR_LEVELS[error_level]
    events = LifeEventRates(moved=rates.moved, adopted=rates.adopted, twins=twins)
    persons = build_population(n_children, sub_rng(seed, "population"), events)
    hh_rng = sub_rng(seed, "welfare-households")
    welfare = {h for h in sorted({p.household_id for p in persons}) if hh_rng.random() < 0.15}
    bodies: dict[str, BodyExport] = {}
    for spec in BODIES:
        rng = sub_rng(seed, f"body:{spec.key}")
        members = [p for p in persons if spec.covers(p, rng, p.household_id in welfare)]
        rng.shuffle(members)
        if spec.key == "jumin":
            ids = [str(i) for i in rng.sample(range(10**9, 10**10), len(members))]
        else:
            width = max(6, len(str(len(members) * 10)))
            ids = [
                f"{spec.id_prefix}{i:0{width}d}"
                for i in rng.sample(range(10 ** (width - 1), 10**width), len(members))
            ]
        rows = [
            render_record(p, spec, rng, rates, rid) for p, rid in zip(members, ids, strict=True)
        ]
        bodies[spec.key] = BodyExport(spec, rows, ids, [p.person_id for p in members])
    town = Municipality(persons, bodies, seed, error_level)
    if signals:
        _attach_signals(town, welfare, rates)
    return town


def _new_ids(export: BodyExport, spec: BodySpec, rng: random.Random, k: int) -> list[str]:
    """``k`` record ids in the body's style that the export does not use yet."""
    taken = set(export.record_ids)
    width = max(6, len(str((len(taken) + k) * 10)))
    out: list[str] = []
    while len(out) < k:
        rid = f"{spec.id_prefix}{rng.randrange(10 ** (width - 1), 10**width):0{width}d}"
        if rid not in taken:
            taken.add(rid)
            out.append(rid)
    return out


def _attach_signals(town: Municipality, welfare: set[int], rates: ErrorRates) -> None:
    """Draw signals, add the planted 母子保健 records and the ``kodomo`` body, and append
    each body's signal columns to its export."""
    members = {key: set(export.person_ids) for key, export in town.bodies.items()}
    truth, added = draw_signals(town.persons, members, welfare, sub_rng(town.seed, "signals"))
    by_id = {p.person_id: p for p in town.persons}
    empty = BodyExport(KODOMO_SPEC, [], [], [])
    specs = {key: export.spec for key, export in town.bodies.items()}
    specs[KODOMO_SPEC.key] = KODOMO_SPEC
    for key, spec in specs.items():
        extra = sorted(added.get(key, ()))
        if not extra:
            continue
        export = town.bodies.get(key, empty)
        rng = sub_rng(town.seed, f"signals:body:{key}")
        ids = _new_ids(export, spec, rng, len(extra))
        rows = [
            render_record(by_id[pid], spec, rng, rates, rid)
            for pid, rid in zip(extra, ids, strict=True)
        ]
        town.bodies[key] = BodyExport(
            spec, export.rows + rows, export.record_ids + ids, export.person_ids + extra
        )
    for key, export in town.bodies.items():
        columns = signal_columns(key)
        spec = replace(export.spec, columns=export.spec.columns + tuple(h for h, _ in columns))
        rows = [
            row + [cell(truth.values[(key, pid)][code]) for _, code in columns]
            for row, pid in zip(export.rows, export.person_ids, strict=True)
        ]
        town.bodies[key] = BodyExport(spec, rows, export.record_ids, export.person_ids)
    town.signals = truth


SCENARIOS: dict[str, int] = {"small": 2_000, "medium": 20_000, "large": 200_000}


def scenario(name: str, error_level: str = "normal", *, seed: int = 0) -> Municipality:
    """A named scenario: ``small`` 2 000, ``medium`` 20 000, ``large`` 200 000 children."""
    if name not in SCENARIOS:
        raise ValueError(f"scenario must be one of {sorted(SCENARIOS)}, not {name!r}")
    return generate(SCENARIOS[name], seed=seed, error_level=error_level)
