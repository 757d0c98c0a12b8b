"""The true families of the synthetic city: guardians, pregnancies, households.

Built on a generated :class:`synthetic.municipality.Municipality`: every household of
children gets its guardians (mother, father, step-father) with their own names, readings,
birth dates and the household's address, a family story (two parents; divorced or
unmarried single mother; single father; remarried mother with a step-father who adopted
the children or not), and the pregnancies (妊娠届) of the last three years with what the
mother was called and where she lived when she notified it. Children's records are not
changed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

from synthetic.names import NameEntry, foreign_name, japanese_pools
from synthetic.population import REFERENCE_DATE, Address, Person, _address

PREGNANCY_YEARS = 3
"""母子保健 keeps the 妊娠届 of children born in the last three years (and open ones)."""

FAMILY_TYPES = (
    "two_parents",
    "single_mother_divorced",
    "single_mother_unmarried",
    "single_father",
    "step_family",
)


@dataclass(frozen=True)
class FamilyRates:
    """Rates of family events; ``events`` scales those that make records differ."""

    divorced: float = 0.09  # household is a divorced mother with her children
    unmarried: float = 0.02  # unmarried single mother
    single_father: float = 0.015
    remarried: float = 0.035  # mother remarried, step-father in the household
    reverted: float = 0.6  # divorced mother took back her maiden name (復氏)
    married_after: float = 0.2  # first pregnancy notified before marriage (授かり婚)
    former_registered: float = 0.15  # mother's 旧氏 registered in 住民記録
    former_on_pregnancy: float = 0.3  # 旧氏 written on the 妊娠届 when surname changed
    moved_after: float = 0.5  # moved household: pregnancy notified at the old address
    edd_revised: float = 0.04  # expected date re-dated by ultrasound after notification
    lost: float = 0.03  # notified pregnancies that ended without a child (流産・死産)
    no_record: float = 0.04  # children born elsewhere (mother moved in): no 妊娠届 here
    current: float = 0.35  # pregnancies now open per birth in the last year
    first_time: float = 0.45  # share of open pregnancies of women with no child yet
    payee: float = 0.8  # single parents receiving 児童扶養手当
    events: float = 1.0


@dataclass
class Guardian:
    """A guardian as the truth knows them.

    ``person`` holds today's identity (name as in 住民記録, address, birth date,
    ``former_surname``: maiden or previous surname, None if never changed);
    ``jumin_id`` is their 宛名番号 in 住民記録 ('' when they are no child's guardian
    there, e.g. a woman pregnant with her first child).
    """

    person: Person
    role: str  # mother, father, stepfather
    jumin_id: str = ""
    former_registered: bool = False

    @property
    def person_id(self) -> str:
        return self.person.person_id


@dataclass
class Pregnancy:
    """One 妊娠届 and what became of it.

    ``expected`` is the true expected date; ``recorded_expected`` what the record says
    (re-dated later, or mistyped). ``children`` are the person ids born of it (twins:
    two). ``status``: ``born``, ``open`` (not yet born on the extract date) or ``lost``.
    ``surname``/``address`` are the mother's at notification; the flags say how they
    differ from today's 住民記録.
    """

    record_id: str
    mother_id: str
    expected: date
    recorded_expected: date
    notified: date
    children: tuple[str, ...]
    status: str
    surname: NameEntry
    address: Address
    former_written: NameEntry | None = None
    surname_changed: bool = False
    address_moved: bool = False
    edd_revised: bool = False
    edd_typo: bool = False


@dataclass
class Families:
    """All family truth of a town.

    Attributes:
        guardians: person id -> guardian.
        child_guardians: child person id -> [(guardian person id, 続柄 of the guardian
            to the child: 母, 父, 養父, 継父)], 住民記録 order.
        family_type: household id -> one of :data:`FAMILY_TYPES`.
        pregnancies: every 妊娠届, in record order.
        payees: 児童扶養手当 payees' person ids.
    """

    guardians: dict[str, Guardian] = field(default_factory=dict)
    child_guardians: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    family_type: dict[int, str] = field(default_factory=dict)
    pregnancies: list[Pregnancy] = field(default_factory=list)
    payees: list[str] = field(default_factory=list)
    children_of: dict[str, list[Person]] = field(default_factory=dict, repr=False)

    def household_of(self) -> dict[str, int]:
        """Child person id -> household (connected components through shared guardians),
        numbered 0.. in order of first child."""
        parent: dict[str, str] = {}

        def find(x: str) -> str:
            while parent.setdefault(x, x) != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for child, gs in self.child_guardians.items():
            find(child)
            for gid, _ in gs:
                a, b = find(child), find("g:" + gid)
                if a != b:
                    parent[a] = b
        out: dict[str, int] = {}
        label: dict[str, int] = {}
        for child in self.child_guardians:
            out[child] = label.setdefault(find(child), len(label))
        return out


def _delta_days(rng: random.Random, multiple: bool) -> int:
    """Birth date minus expected date (days) for one birth."""
    if multiple:  # twins are born ~3-4 weeks early on average
        return max(-126, min(7, round(rng.gauss(-25, 14))))
    r = rng.random()
    if r < 0.94:
        return max(-21, min(13, round(rng.gauss(-2, 8))))
    if r < 0.995:  # preterm 28+0 .. 36+6, mostly late preterm
        return max(-84, -22 - int(rng.expovariate(1 / 18)))
    if r < 0.997:  # very preterm 22+0 .. 27+6
        return rng.randint(-126, -85)
    return rng.randint(14, 20)  # post-term 42 weeks


def _years_before(d: date, years: float) -> date:
    return d - timedelta(days=round(years * 365.25))


def _foreign_entry(rng: random.Random, nationality: str, part: str) -> NameEntry:
    name = foreign_name(rng, nationality, part)
    return NameEntry(name.kanji or name.kana.replace(" ", ""), name.kana.replace(" ", ""))


def build_families(
    persons: list[Person], rng: random.Random, rates: FamilyRates, *, id_taken: set[str]
) -> Families:
    """Guardians, stories and pregnancies for the households of ``persons``.

    ``id_taken``: 住民記録 ids already used (children's); guardians get new ones.
    """
    pools = japanese_pools()
    fam = Families()
    by_household: dict[int, list[Person]] = {}
    for p in persons:
        by_household.setdefault(p.household_id, []).append(p)
    counter = [0]

    def new_pid() -> str:
        counter[0] += 1
        return f"G{counter[0]:07d}"

    def new_jumin_id() -> str:
        while True:
            rid = str(rng.randrange(10**9, 10**10))
            if rid not in id_taken:
                id_taken.add(rid)
                return rid

    def adult(sex: str, dob: date, surname: NameEntry, given: NameEntry, like: Person) -> Person:
        return Person(
            new_pid(), like.household_id, sex, dob, surname, given, like.address,
            old_address=like.old_address,
        )  # fmt: skip

    first_preg_day = _years_before(REFERENCE_DATE, PREGNANCY_YEARS)
    ev = rates.events
    for hid, kids in by_household.items():
        kids.sort(key=lambda p: p.dob)
        eldest, youngest = kids[0], kids[-1]
        nat = eldest.nationality
        age_first = max(17.0, min(44.0, rng.gauss(30.5, 4.8)))
        mother_dob = _years_before(eldest.dob, age_first) - timedelta(days=rng.randint(0, 364))
        if (youngest.dob - mother_dob).days > 45 * 365:
            mother_dob = _years_before(youngest.dob, 44)
        father_dob = _years_before(mother_dob, rng.gauss(2.0, 3.5))
        r = rng.random()
        kind = "two_parents"
        adopted = any(k.former_surname is not None for k in kids)
        if adopted:
            kind = "step_family"
        elif not nat:
            for name, rate in (
                ("single_mother_divorced", rates.divorced),
                ("single_mother_unmarried", rates.unmarried),
                ("single_father", rates.single_father),
                ("step_family", rates.remarried * ev),
            ):
                if r < rate:
                    kind = name
                    break
                r -= rate
        fam.family_type[hid] = kind
        surname = eldest.surname  # the children's surname today
        if nat:
            m_surname = eldest.surname
            if nat in ("KR", "CN"):  # wives keep their own surname
                m_surname = _foreign_entry(rng, nat, "surname")
            mother = adult("F", mother_dob, m_surname, _foreign_entry(rng, nat, "female"), eldest)
            father = adult("M", father_dob, surname, _foreign_entry(rng, nat, "male"), eldest)
            mother.nationality = father.nationality = nat
        else:
            maiden = pools["surname"].draw(rng)
            while maiden.kanji == surname.kanji:
                maiden = pools["surname"].draw(rng)
            mother = adult("F", mother_dob, surname, pools["female"].draw(rng), eldest)
            mother.former_surname = maiden
            father = adult("M", father_dob, surname, pools["male"].draw(rng), eldest)
        # surname the mother bore at each pregnancy, by story
        preg_surname = mother.surname
        guardians: list[tuple[Guardian, str]] = []
        if kind == "two_parents":
            guardians = [(Guardian(mother, "mother"), "母"), (Guardian(father, "father"), "父")]
        elif kind == "single_mother_divorced":
            if rng.random() < rates.reverted * ev and mother.former_surname is not None:
                preg_surname = mother.surname  # married name when pregnant
                mother.surname, mother.former_surname = mother.former_surname, mother.surname
            guardians = [(Guardian(mother, "mother"), "母")]
        elif kind == "single_mother_unmarried":
            mother.former_surname = None  # never married: the children bear her surname
            preg_surname = mother.surname
            guardians = [(Guardian(mother, "mother"), "母")]
        elif kind == "single_father":
            guardians = [(Guardian(father, "father"), "父")]
        else:  # step_family: mother remarried; children adopted (new surname) or not
            if adopted:
                old = eldest.former_surname
                assert old is not None
                preg_surname = old  # mother bore the first husband's surname
                step = adult("M", father_dob, surname, pools["male"].draw(rng), eldest)
                mother.former_surname = old
                guardians = [
                    (Guardian(mother, "mother"), "母"),
                    (Guardian(step, "stepfather"), "養父"),
                ]
            else:
                new = pools["surname"].draw(rng)
                while new.kanji == surname.kanji:
                    new = pools["surname"].draw(rng)
                step = adult("M", father_dob, new, pools["male"].draw(rng), eldest)
                preg_surname = mother.surname
                mother.surname, mother.former_surname = new, surname
                guardians = [
                    (Guardian(mother, "mother"), "母"),
                    (Guardian(step, "stepfather"), "継父"),
                ]
        for g, _ in guardians:
            g.jumin_id = new_jumin_id()
            g.former_registered = (
                g.person.former_surname is not None and rng.random() < rates.former_registered
            )
            fam.guardians[g.person_id] = g
        for k in kids:
            fam.child_guardians[k.person_id] = [(g.person_id, rel) for g, rel in guardians]
        fam.children_of[guardians[0][0].person_id] = kids
        payee_rate = {"single_father": 0.5}.get(kind, rates.payee if "mother" in kind else 0.0)
        if payee_rate and rng.random() < payee_rate:
            fam.payees.append(guardians[0][0].person_id)
        if kind == "single_father":
            continue  # the mother does not live in the city: no 妊娠届 here
        m_guardian = guardians[0][0]
        # births (twins share one) in the 妊娠届 period
        births: dict[date, list[Person]] = {}
        for k in kids:
            births.setdefault(k.dob, []).append(k)
        first_birth = min(births)
        for dob, born in sorted(births.items()):
            if dob < first_preg_day + timedelta(days=60) or rng.random() < rates.no_record:
                continue
            s = preg_surname
            if (
                kind == "two_parents"
                and not nat
                and dob == first_birth
                and mother.former_surname is not None
                and rng.random() < rates.married_after * ev
            ):
                s = mother.former_surname  # notified before the marriage
            _add_pregnancy(fam, rng, rates, m_guardian, born, dob, s)
        # an open pregnancy for some mothers whose youngest is at least 9 months old
        recent = (REFERENCE_DATE - youngest.dob).days > 270 and youngest.age() < 6
        if recent and rng.random() < 0.06:
            _add_open(fam, rng, rates, m_guardian, mother.surname)
    _first_time_mothers(fam, persons, rng, rates, pools)
    return fam


def _notify_day(rng: random.Random, expected: date) -> date:
    """妊娠届 are made at 8–14 weeks of pregnancy (26–32 weeks before the expected date)."""
    return expected - timedelta(days=rng.randint(26 * 7, 32 * 7))


def _at_notification(
    rng: random.Random, rates: FamilyRates, mother: Guardian, surname: NameEntry
) -> tuple[Address, bool, NameEntry | None]:
    moved = mother.person.old_address is not None and rng.random() < rates.moved_after
    address = (
        mother.person.old_address
        if moved and mother.person.old_address
        else (mother.person.address)
    )
    changed = surname.kanji != mother.person.surname.kanji
    former = None
    if changed and rng.random() < rates.former_on_pregnancy * rates.events:
        former = mother.person.former_surname
    return address, moved, former


def _add_pregnancy(
    fam: Families,
    rng: random.Random,
    rates: FamilyRates,
    mother: Guardian,
    born: list[Person],
    dob: date,
    surname: NameEntry,
) -> None:
    lost_before = rng.random() < rates.lost * rates.events
    expected = dob - timedelta(days=_delta_days(rng, len(born) > 1))
    if lost_before:  # an earlier pregnancy that ended, a year or more before this birth
        lost_edd = expected - timedelta(days=rng.randint(330, 700))
        # not while she was pregnant with an elder sibling
        births = {q.dob for q in _mother_children(fam, mother)}
        clear = all(abs((lost_edd - b).days) >= 300 for b in births)
        if clear and lost_edd >= _years_before(REFERENCE_DATE, PREGNANCY_YEARS):
            _record(fam, rng, rates, mother, lost_edd, (), "lost", surname)
    _record(fam, rng, rates, mother, expected, tuple(p.person_id for p in born), "born", surname)


def _mother_children(fam: Families, mother: Guardian) -> list[Person]:
    """The children the truth gives ``mother`` (filled in before her pregnancies)."""
    return fam.children_of.get(mother.person_id, [])


def _add_open(
    fam: Families, rng: random.Random, rates: FamilyRates, mother: Guardian, surname: NameEntry
) -> None:
    expected = REFERENCE_DATE + timedelta(days=rng.randint(1, 200))
    _record(fam, rng, rates, mother, expected, (), "open", surname)


def _record(
    fam: Families,
    rng: random.Random,
    rates: FamilyRates,
    mother: Guardian,
    expected: date,
    children: tuple[str, ...],
    status: str,
    surname: NameEntry,
) -> None:
    address, moved, former = _at_notification(rng, rates, mother, surname)
    recorded = expected
    revised = rng.random() < rates.edd_revised * rates.events
    if revised:  # notified by last menstrual period, re-dated by ultrasound later
        recorded = expected + timedelta(days=rng.choice((-1, 1)) * rng.randint(5, 14))
    fam.pregnancies.append(
        Pregnancy(
            record_id="",
            mother_id=mother.person_id,
            expected=expected,
            recorded_expected=recorded,
            notified=min(_notify_day(rng, expected), REFERENCE_DATE),
            children=children,
            status=status,
            surname=surname,
            address=address,
            former_written=former,
            surname_changed=surname.kanji != mother.person.surname.kanji,
            address_moved=moved,
            edd_revised=revised,
        )
    )


def _first_time_mothers(
    fam: Families, persons: list[Person], rng: random.Random, rates: FamilyRates, pools: dict
) -> None:
    """Open pregnancies of women with no child in the city (not in any child's record)."""
    recent = sum(1 for p in persons if (REFERENCE_DATE - p.dob).days < 365)
    n = round(recent * rates.current * rates.first_time / (1 - rates.first_time))
    households = max(p.household_id for p in persons) if persons else 0
    for i in range(n):
        like = Person("", households + 1 + i, "F", REFERENCE_DATE, NameEntry("", ""),
                      NameEntry("", ""), _address(rng))  # fmt: skip
        dob = _years_before(REFERENCE_DATE, rng.uniform(20, 40))
        counter = len(fam.guardians) + 1
        person = replace(
            like,
            person_id=f"G9{counter:06d}",
            dob=dob,
            surname=pools["surname"].draw(rng),
            given=pools["female"].draw(rng),
        )
        g = Guardian(person, "mother")
        fam.guardians[g.person_id] = g
        _add_open(fam, rng, rates, g, person.surname)
