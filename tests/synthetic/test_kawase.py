"""The second generator (川瀬市): its statistics, determinism and export interface."""

from __future__ import annotations

import random
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthetic.kawase import BODY_SPECS, generate
from synthetic.kawase.tables import SURNAMES
from synthetic.kawase.typos import date_typo, kanji_typo, keyed_typo


@pytest.fixture(scope="module")
def town():
    return generate(6000, seed=3)


def _share(n: int, total: int) -> float:
    return n / total


def test_same_arguments_same_bytes(tmp_path: Path) -> None:
    a = generate(300, seed=7).write_exports(tmp_path / "a")
    b = generate(300, seed=7).write_exports(tmp_path / "b")
    c = generate(300, seed=8).write_exports(tmp_path / "c")
    assert all(a[k].read_bytes() == b[k].read_bytes() for k in a)
    assert any(a[k].read_bytes() != c[k].read_bytes() for k in a)


def test_subgroup_shares(town) -> None:
    n = len(town.persons)
    groups = town.subgroups()
    assert 0.012 < _share(len(groups["twins"]), n) < 0.03
    assert 0.025 < _share(len(groups["foreign"]), n) < 0.06
    assert 0.06 < _share(len(groups["moved"]), n) < 0.13
    assert 0.008 < _share(len(groups["changed_surname"]), n) < 0.035
    assert 0.03 < _share(len(groups["missing"]), n) < 0.15


def test_twins_share_birth_date_and_household(town) -> None:
    by_id = {c.person_id: c for c in town.persons}
    pairs = town.twin_pairs()
    assert pairs
    for a, b in pairs:
        assert by_id[a].dob == by_id[b].dob and by_id[a].household == by_id[b].household
        assert by_id[a].given != by_id[b].given
    # Some twin pairs share the first kanji of the given name (the hard case).
    shared = sum(by_id[a].given[0] == by_id[b].given[0] for a, b in pairs)
    assert 0.2 < shared / len(pairs) < 0.75


def test_surname_frequencies_follow_the_ranking_shape(town) -> None:
    counts = Counter(c.surname for c in town.persons if not c.nationality)
    total = sum(counts.values())
    head = sum(counts[k] for k, _ in SURNAMES)
    assert 0.2 < head / total < 0.38  # the written-out top 60 (plus changed surnames)
    assert counts.most_common(1)[0][0] in {"佐藤", "鈴木", "高橋"}
    # A flat tail: gimei's other surnames are drawn uniformly, not by their list order.
    head_names = {k for k, _ in SURNAMES}
    tail = sorted(v for k, v in counts.items() if k not in head_names)
    assert len(tail) > 300
    assert tail[-1] < 4 * tail[len(tail) // 2]


def test_apartment_blocks_put_many_children_at_one_address(town) -> None:
    per_site = Counter(
        (a.town, a.chome, a.banchi, a.go) for c in town.persons for _, a in c.addresses[-1:]
    )
    assert per_site.most_common(1)[0][1] >= 100


def test_moves_fall_between_extract_dates(town) -> None:
    """Some movers' bodies disagree on the address: the move reached some extracts only."""
    moved = town.subgroups()["moved"]
    addr_col = {s.key: s.columns.index("住所") for s in BODY_SPECS}
    by_person: dict[str, set[str]] = {}
    for key, export in town.bodies.items():
        for row, pid in zip(export.rows, export.person_ids, strict=True):
            if pid in moved and row[addr_col[key]]:
                town_part = row[addr_col[key]].replace("川瀬市", "")[:3]
                by_person.setdefault(pid, set()).add(town_part)
    disagree = sum(len(v) > 1 for v in by_person.values())
    assert disagree > 0.2 * len(by_person)


def test_exports_read_back_with_the_department_reader(tmp_path: Path) -> None:
    from benchmarks.baselines import read_exports

    t = generate(400, seed=1)
    records = read_exports(t.write_exports(tmp_path))
    assert {k: len(v) for k, v in records.items()} == {k: len(e.rows) for k, e in t.bodies.items()}
    truth = t.truth
    assert all((body, r["record_id"]) in truth for body, rs in records.items() for r in rs)
    t.write_truth(tmp_path / "truth.csv")
    assert len((tmp_path / "truth.csv").read_text(encoding="utf-8").splitlines()) == len(truth) + 1


def test_missing_rates_are_per_body(town) -> None:
    hoiku = town.bodies["hoiku"]
    kana = hoiku.spec.columns.index("フリガナ")
    share = sum(not r[kana] for r in hoiku.rows) / len(hoiku.rows)
    assert 0.03 < share < 0.15  # hoiku leaves readings out at 8 %


def _dist(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet="アイカキサシタチハルトナミ", min_size=1, max_size=8), st.integers(0, 10**6)
)
def test_keyed_typo_is_at_most_two_edits_and_keeps_the_script(text: str, seed: int) -> None:
    out = keyed_typo(text, random.Random(seed))
    assert _dist(text, out) <= 4  # a transposition is two Levenshtein edits
    assert all("\u30a0" <= ch <= "\u30ff" for ch in out)


def test_kanji_typo_mostly_homophones() -> None:
    rng = random.Random(0)
    outs = [kanji_typo("佳奈", rng) for _ in range(2000)]
    homophone = sum(len(o) == 2 and o != "佳奈" and o[0] in "佳加香夏" and o[1] in "奈菜那"
                    for o in outs)  # fmt: skip
    assert 0.5 < homophone / len(outs) < 0.9


@settings(max_examples=200, deadline=None)
@given(st.dates(date(2008, 1, 1), date(2026, 3, 31)), st.integers(0, 10**6))
def test_date_typo_stays_a_valid_date(d: date, seed: int) -> None:
    text = f"{d.year}{d.month:02d}{d.day:02d}"
    out = date_typo(text, random.Random(seed))
    date(int(out[:4]), int(out[4:6]), int(out[6:]))
    assert out[:4] == text[:4]
