"""Support signals for the synthetic municipality, and planted children.

With ``generate(..., signals=True)`` each body's export gets signal columns (appended after
its identifier columns), a sixth body, the こども家庭センター (``kodomo``: children registered
with the 要保護児童対策地域協議会), is added, and some children are *planted*: children
whose need shows only when departments' records are put together. Without
``signals=True`` nothing here runs and the exports are byte-identical to before.

Background rates are drawn per record from approximate published national figures. They
are rounded and simplified (national averages, no regional or yearly variation), good
enough to make a demo's list realistic in size, not to estimate anything:

* 乳幼児健診未受診 (母子保健): about 5 % — the 1歳6か月児 and 3歳児 health check-ups are
  attended by about 95 % (厚生労働省「地域保健・健康増進事業報告」, 2020s).
* 長期欠席 (学校, 30 days or more a year): about 3 % of primary and 9 % of lower-secondary
  pupils (文部科学省「児童生徒の問題行動・不登校等生徒指導上の諸課題に関する調査」, 令和5年度
  order of magnitude); doubled for children of the welfare body's households (assumption:
  absence is more common in poor households).
* 就学援助 (学校): about 14 % overall (文部科学省「就学援助実施状況等調査」, 就学援助率 ≈ 14 %):
  60 % in the welfare body's households, 6 % elsewhere (assumption, so that the total fits).
* 保育所等利用 (保育): every child the nursery body holds uses a nursery (the body's records
  *are* its users; the coverage rates are in ``synthetic/bodies.py``).
* 生活保護 (福祉): about 1.2 % of children (厚生労働省「被保護者調査」: roughly 0.2 million
  children under 18 in receipt, of about 18 million). The welfare body holds 15 % of
  households, so 8 % of its households receive it (drawn per household).
* 児童扶養手当 (福祉): about 7 % of children (こども家庭庁「福祉行政報告例」: about 0.8 million
  recipients, 1.2 million children) — 45 % of the welfare body's households.
* 要保護児童対策地域協議会 登録 (こども家庭センター): about 0.6 % of children (こども家庭庁
  「要保護児童対策地域協議会の設置・運営状況」: about 0.1 million registered cases); three
  times as likely in the welfare body's households (assumption).
* birth year-month (住民記録): from the child's true birth date.

Planted children (about one in 250 of each kind, at least 3 where candidates allow):

* ``未就園で健診未受診``: aged 3–5 on the reference date (by birth year-month), no nursery
  record, 乳幼児健診未受診 set in 母子保健 (a 母子保健 record is added if the child had
  none). 母子保健 sees a missed check-up but not that the child is in no nursery; 保育 sees
  nothing; only together do they show a child no service has seen.
* ``複数の困難があり要対協未登録``: a school pupil in a welfare household with 長期欠席 set
  at school and 生活保護 set at welfare, and no 要対協 registration. The school and welfare
  each see one hardship.

The truth (:class:`SignalTruth`) records every record's signal values, which children
were planted and why.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from synthetic.population import REFERENCE_DATE, Person

#: (body key, column header, code, label, value type, purpose) of the demo catalogue.
SIGNALS: tuple[tuple[str, str, str, str, str, str], ...] = (
    ("jumin", "生年月", "birth_ym", "生年月（年齢帯の判定用）", "yearmonth",
     "年齢帯（例: 3〜5歳）で対象を絞るため"),
    ("boshi", "健診未受診", "kenshin_mijushin", "乳幼児健診未受診", "flag",
     "乳幼児健診を受けていない子どもを、他の機関の情報と合わせて早く知るため"),
    ("gakko", "長期欠席", "choki_kesseki", "長期欠席（年30日以上）", "flag",
     "学校に来られていない子どもの背景にある困難を知るため"),
    ("gakko", "就学援助", "shugaku_enjo", "就学援助", "flag",
     "経済的な困難を、他の困難と重なっていないか確かめるため"),
    ("hoiku", "保育所等利用", "hoiku_riyo", "保育所等利用", "flag",
     "保育につながっているかを確かめるため"),
    ("fukushi", "生活保護", "seikatsu_hogo", "生活保護", "flag",
     "経済的な困難を、他の困難と重なっていないか確かめるため"),
    ("fukushi", "児童扶養手当", "jido_fuyo", "児童扶養手当", "flag",
     "ひとり親家庭の困難を、他の困難と重なっていないか確かめるため"),
    ("kodomo", "要対協登録", "yotaikyo", "要保護児童対策地域協議会 登録", "flag",
     "既に要対協で支援されている子どもかを確かめるため"),
)  # fmt: skip

KODOMO_BODY = "kodomo"
MIN_REGISTERED = 3  # so that the こども家庭センター always has an export
PLANTED_UNSEEN = "未就園で健診未受診"
PLANTED_HARDSHIP = "複数の困難があり要対協未登録"


def demo_catalogue_dict(version: int = 1) -> dict[str, Any]:
    """The demo's signal catalogue, as the coordinator would write it (JSON/TOML shape)."""
    return {
        "version": version,
        "signals": [
            {
                "code": code,
                "label": label,
                "body": body,
                "value_type": kind,
                "categories": [],
                "purpose": purpose,
            }
            for body, _header, code, label, kind, purpose in SIGNALS
        ],
    }


def signal_columns(body: str) -> list[tuple[str, str]]:
    """``(header, code)`` of the signal columns a body's export carries."""
    return [(header, code) for b, header, code, *_ in SIGNALS if b == body]


def signal_map(body: str) -> dict[str, str]:
    """code -> export header, for ``kakehashi encode --signals``."""
    return {code: header for header, code in signal_columns(body)}


def birth_yearmonth(person: Person) -> str:
    return f"{person.dob.year:04d}-{person.dob.month:02d}"


def age_by_yearmonth(person: Person, on: date = REFERENCE_DATE) -> int:
    """Age as the rules compute it: the child turns n on the first of its birth month."""
    return on.year - person.dob.year - (1 if on.month < person.dob.month else 0)


@dataclass(frozen=True)
class PlantedChild:
    """A child planted so that its need shows only across bodies."""

    person_id: str
    rule: str
    reason: str
    bodies: tuple[str, ...]


@dataclass
class SignalTruth:
    """What the generator knows about signals.

    Attributes:
        values: (body key, person id) -> code -> value (flags as bool, year-months as str),
            for every record of every body that carries signal columns.
        planted: the planted children, in person-id order.
        rates: the background rates used (for the report).
    """

    values: dict[tuple[str, str], dict[str, bool | str]] = field(default_factory=dict)
    planted: list[PlantedChild] = field(default_factory=list)
    rates: dict[str, float] = field(default_factory=dict)

    def planted_ids(self) -> set[str]:
        return {p.person_id for p in self.planted}


RATES: dict[str, float] = {
    "kenshin_mijushin": 0.05,
    "choki_kesseki_primary": 0.03,
    "choki_kesseki_lower_secondary": 0.09,
    "choki_kesseki_welfare_factor": 2.0,
    "shugaku_enjo_welfare": 0.60,
    "shugaku_enjo_other": 0.06,
    "seikatsu_hogo_welfare_household": 0.08,
    "jido_fuyo_welfare_household": 0.45,
    "yotaikyo": 0.006,
    "yotaikyo_welfare_factor": 3.0,
    "planted_per_child": 1 / 250,
}


def cell(value: bool | str) -> str:
    """How a value is written into an export cell: flags as 1/0."""
    if isinstance(value, bool):
        return "1" if value else "0"
    return value


def draw_signals(
    persons: list[Person],
    members: Mapping[str, set[str]],
    welfare_households: set[int],
    rng: random.Random,
) -> tuple[SignalTruth, dict[str, set[str]]]:
    """Draw background signals and plant children.

    Args:
        persons: all children.
        members: body key -> person ids holding a record there (the five bodies).
        welfare_households: household ids the welfare body covers.
        rng: this stage's own random stream.

    Returns:
        the truth, and the person ids to *add* per body (母子保健 records for planted
        children who had none; every 要対協-registered child for ``kodomo``).
    """
    truth = SignalTruth(rates=dict(RATES))
    by_id = {p.person_id: p for p in persons}
    ordered = sorted(by_id)
    target = max(3, round(len(persons) * RATES["planted_per_child"]))
    added: dict[str, set[str]] = {"boshi": set(), KODOMO_BODY: set()}

    # 要対協 registration first, so that planted hardship children can avoid it.
    registered = set()
    for pid in ordered:
        p = by_id[pid]
        factor = RATES["yotaikyo_welfare_factor"] if p.household_id in welfare_households else 1
        if rng.random() < RATES["yotaikyo"] * factor:
            registered.add(pid)

    # Planted: unseen by nursery and health services.
    unseen_candidates = [
        pid
        for pid in ordered
        if 3 <= age_by_yearmonth(by_id[pid]) <= 5 and pid not in members["hoiku"]
    ]
    unseen = set(rng.sample(unseen_candidates, min(target, len(unseen_candidates))))
    for pid in sorted(unseen):
        if pid not in members["boshi"]:
            added["boshi"].add(pid)
        truth.planted.append(
            PlantedChild(
                pid,
                PLANTED_UNSEEN,
                "3〜5歳・保育の記録なし（保育）・乳幼児健診未受診（母子保健）",
                ("jumin", "boshi"),
            )
        )
    # Planted: two hardships at two bodies, unknown to the council.
    hardship_candidates = [
        pid
        for pid in ordered
        if pid in members["gakko"] and pid in members["fukushi"] and pid not in unseen
    ]
    hardship = set(rng.sample(hardship_candidates, min(target, len(hardship_candidates))))
    registered -= hardship
    if len(registered) < MIN_REGISTERED:  # a small town still has a few registered cases
        others = [pid for pid in ordered if pid not in registered | hardship | unseen]
        registered |= set(rng.sample(others, min(MIN_REGISTERED - len(registered), len(others))))
    for pid in sorted(hardship):
        truth.planted.append(
            PlantedChild(
                pid,
                PLANTED_HARDSHIP,
                "長期欠席（学校）・生活保護（福祉）・要対協の登録なし",
                ("gakko", "fukushi"),
            )
        )
    truth.planted.sort(key=lambda c: c.person_id)
    added[KODOMO_BODY] = registered

    hogo_households = {
        h
        for h in sorted(welfare_households)
        if rng.random() < RATES["seikatsu_hogo_welfare_household"]
    }
    fuyo_households = {
        h for h in sorted(welfare_households) if rng.random() < RATES["jido_fuyo_welfare_household"]
    }
    holders = {body: set(ids) | added.get(body, set()) for body, ids in members.items()}
    holders[KODOMO_BODY] = registered
    for pid in ordered:
        p = by_id[pid]
        in_welfare = p.household_id in welfare_households
        if pid in holders["jumin"]:
            truth.values[("jumin", pid)] = {"birth_ym": birth_yearmonth(p)}
        if pid in holders["boshi"]:
            missed = pid in unseen or rng.random() < RATES["kenshin_mijushin"]
            truth.values[("boshi", pid)] = {"kenshin_mijushin": missed}
        if pid in holders["gakko"]:
            base = (
                RATES["choki_kesseki_primary"]
                if p.age() <= 11
                else RATES["choki_kesseki_lower_secondary"]
            )
            if in_welfare:
                base *= RATES["choki_kesseki_welfare_factor"]
            enjo = RATES["shugaku_enjo_welfare"] if in_welfare else RATES["shugaku_enjo_other"]
            truth.values[("gakko", pid)] = {
                "choki_kesseki": pid in hardship or rng.random() < base,
                "shugaku_enjo": rng.random() < enjo,
            }
        if pid in holders["hoiku"]:
            truth.values[("hoiku", pid)] = {"hoiku_riyo": True}
        if pid in holders["fukushi"]:
            truth.values[("fukushi", pid)] = {
                "seikatsu_hogo": pid in hardship or p.household_id in hogo_households,
                "jido_fuyo": p.household_id in fuyo_households,
            }
        if pid in holders[KODOMO_BODY]:
            truth.values[(KODOMO_BODY, pid)] = {"yotaikyo": True}
    return truth, added


def _kodomo_spec() -> Any:
    from synthetic.bodies import BodySpec

    def covers(p: Person, rng: random.Random, household_in_welfare: bool) -> bool:
        return False  # membership comes from draw_signals (要対協 registration)

    return BodySpec(
        KODOMO_BODY, "こども家庭センター", "kodomo.csv", "utf-8",
        ("宛名番号", "氏名", "氏名_フリガナ", "生年月日", "性別", "住所"),
        "宛名番号", "K", "slash", "jumin", "kanji", False, 1.0, True, None, covers,
    )  # fmt: skip


KODOMO_SPEC = _kodomo_spec()
"""The こども家庭センター's export: children registered with the 要対協 (signals only)."""
