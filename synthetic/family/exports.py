"""How the bodies write family records (column names: see ``synthetic.family``)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import timedelta

from synthetic.bodies import BODIES, BodySpec, render_record
from synthetic.errors import JUMIN_FACTOR, ErrorRates, typo_date
from synthetic.family.truth import Families, Guardian, Pregnancy
from synthetic.formats import DATE_STYLES, format_date
from synthetic.municipality import BodyExport
from synthetic.population import Person

_SPECS = {spec.key: spec for spec in BODIES}
PERSON_COLUMNS = ("氏名", "氏名_フリガナ", "生年月日", "性別", "住所", "旧氏")
GUARDIAN_SLOTS = 2
GUARDIAN_COLUMNS: tuple[str, ...] = tuple(
    f"保護者{slot}_{c}"
    for slot in range(1, GUARDIAN_SLOTS + 1)
    for c in ("宛名番号", *PERSON_COLUMNS, "続柄")
)
JUMIN_FAMILY_COLUMNS = ("世帯番号", "続柄", *GUARDIAN_COLUMNS)

NINSHIN_SPEC = replace(
    _SPECS["boshi"],
    key="boshi_ninshin",
    label="母子保健 妊娠届",
    filename="boshi_ninshin.csv",
    columns=(
        "管理番号",
        "氏名",
        "氏名_フリガナ",
        "生年月日",
        "住所",
        "旧氏",
        "出産予定日",
        "届出日",
    ),
    id_header="管理番号",
    id_prefix="N",
    stale=False,
)
FUYO_SPEC = replace(
    _SPECS["fukushi"],
    key="fukushi_fuyo",
    label="福祉 児童扶養手当",
    filename="fukushi_fuyo.csv",
    columns=("宛名番号", *PERSON_COLUMNS, "手当", "対象児童数"),
    id_header="宛名番号",
    id_prefix="FY",
    extra=("手当", "児童扶養手当"),
)
_RENDER_COLUMNS = ("宛名番号", *PERSON_COLUMNS)


def _as_recorded(g: Guardian, *, former: bool) -> Person:
    """The guardian as a body writes them: 旧氏 only when that body records it."""
    return replace(g.person, former_surname=g.person.former_surname if former else None)


def _render(p: Person, spec: BodySpec, rng: random.Random, rates: ErrorRates, rid: str
            ) -> dict[str, str]:  # fmt: skip
    render_spec = replace(spec, columns=(spec.id_header, *PERSON_COLUMNS), extra=None)
    row = render_record(p, render_spec, rng, rates, rid)
    return dict(zip(render_spec.columns, row, strict=True))


def jumin_with_guardians(
    jumin: BodyExport,
    persons: dict[str, Person],
    fam: Families,
    rng: random.Random,
    rates: ErrorRates,
) -> BodyExport:
    """住民記録's children export with 世帯番号, the child's 続柄 and up to two guardians."""
    spec = jumin.spec
    setai: dict[int, str] = {}
    cells: dict[str, dict[str, str]] = {}
    for gid in sorted({g for gs in fam.child_guardians.values() for g, _ in gs}):
        g = fam.guardians[gid]
        # 住民記録 holds a 旧氏 only when the person registered it
        p = _as_recorded(g, former=g.former_registered)
        cells[gid] = _render(p, spec, rng, rates, g.jumin_id)
    rows = []
    for row, pid in zip(jumin.rows, jumin.person_ids, strict=True):
        child = persons[pid]
        number = setai.setdefault(child.household_id, f"{rng.randrange(10**7, 10**8)}")
        gs = fam.child_guardians.get(pid, [])
        relation = "妻の子" if any(rel == "継父" for _, rel in gs) else "子"
        extra = [number, relation]
        for slot in range(GUARDIAN_SLOTS):
            if slot < len(gs):
                gid, rel = gs[slot]
                c = cells[gid]
                extra += [c["宛名番号"], *(c[k] for k in PERSON_COLUMNS), rel]
            else:
                extra += [""] * (len(PERSON_COLUMNS) + 2)
        rows.append(row + extra)
    new_spec = replace(spec, columns=spec.columns + JUMIN_FAMILY_COLUMNS)
    return BodyExport(new_spec, rows, jumin.record_ids, jumin.person_ids)


def _ids(rng: random.Random, prefix: str, k: int) -> list[str]:
    width = max(6, len(str(k * 10)))
    return [f"{prefix}{i:0{width}d}" for i in rng.sample(range(10 ** (width - 1), 10**width), k)]


def pregnancy_export(fam: Families, rng: random.Random, rates: ErrorRates) -> BodyExport:
    """母子保健's 妊娠届: the mother as she was at notification, the expected date."""
    spec = NINSHIN_SPEC
    order = list(range(len(fam.pregnancies)))
    rng.shuffle(order)
    ids = _ids(rng, spec.id_prefix, len(order))
    rows, person_ids = [], []
    for i, rid in zip(order, ids, strict=True):
        preg: Pregnancy = fam.pregnancies[i]
        preg.record_id = rid
        g = fam.guardians[preg.mother_id]
        p = replace(
            g.person,
            surname=preg.surname,
            address=preg.address,
            old_address=None,
            former_surname=preg.former_written,
        )
        cells = _render(p, replace(spec, key="boshi_ninshin"), rng, rates, rid)
        recorded = preg.recorded_expected
        if rng.random() < rates.date_typo:
            preg.edd_typo = True
            recorded = typo_date(rng, recorded, latest=recorded + timedelta(days=365))
        style = spec.date_style
        if rng.random() < rates.date_format:
            style = rng.choice(DATE_STYLES)
        values = {
            "管理番号": rid,
            **{k: cells[k] for k in ("氏名", "氏名_フリガナ", "生年月日", "住所")},
            "旧氏": preg.former_written.kanji if preg.former_written else "",
            "出産予定日": format_date(recorded, style),
            "届出日": format_date(preg.notified, spec.date_style),
        }
        rows.append([values[c] for c in spec.columns])
        person_ids.append(preg.mother_id)
    return BodyExport(spec, rows, ids, person_ids)


def payee_export(
    fam: Families, persons: dict[str, Person], rng: random.Random, rates: ErrorRates
) -> BodyExport:
    """福祉's 児童扶養手当 payees (single parents) with the number of children."""
    spec = FUYO_SPEC
    n_children: dict[str, int] = {}
    for gs in fam.child_guardians.values():
        for gid, _ in gs:
            n_children[gid] = n_children.get(gid, 0) + 1
    payees = list(fam.payees)
    rng.shuffle(payees)
    ids = _ids(rng, spec.id_prefix, len(payees))
    rows = []
    for gid, rid in zip(payees, ids, strict=True):
        g = fam.guardians[gid]
        cells = _render(_as_recorded(g, former=rng.random() < 0.3), spec, rng, rates, rid)
        values = {**cells, "手当": "児童扶養手当", "対象児童数": str(n_children.get(gid, 0))}
        rows.append([values[c] for c in spec.columns])
    return BodyExport(spec, rows, ids, payees)


__all__ = [
    "FUYO_SPEC",
    "GUARDIAN_COLUMNS",
    "JUMIN_FACTOR",
    "JUMIN_FAMILY_COLUMNS",
    "NINSHIN_SPEC",
    "jumin_with_guardians",
    "payee_export",
    "pregnancy_export",
]
