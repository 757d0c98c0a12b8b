"""Synthetic signals: off leaves the generator alone; on adds columns, a body and planted
children whose need shows only across bodies."""

from __future__ import annotations

import csv
import io
from collections import Counter

import pytest

from synthetic import generate
from synthetic.signals import (
    KODOMO_BODY,
    PLANTED_HARDSHIP,
    PLANTED_UNSEEN,
    SIGNALS,
    age_by_yearmonth,
    demo_catalogue_dict,
    signal_columns,
)


@pytest.fixture(scope="module")
def towns() -> tuple:
    return generate(1500, seed=7), generate(1500, seed=7, signals=True)


def _rows(export) -> list[list[str]]:
    text = export.to_bytes().decode(export.spec.encoding)
    return list(csv.reader(io.StringIO(text)))


def test_signals_off_is_the_old_generator(towns: tuple) -> None:
    plain, _ = towns
    assert plain.signals is None and KODOMO_BODY not in plain.bodies
    again = generate(1500, seed=7, signals=False)
    assert {k: e.to_bytes() for k, e in again.bodies.items()} == {
        k: e.to_bytes() for k, e in plain.bodies.items()
    }


def test_signals_on_keeps_every_existing_record_and_appends_columns(towns: tuple) -> None:
    plain, rich = towns
    for key, export in plain.bodies.items():
        enriched = rich.bodies[key]
        headers = [h for h, _ in signal_columns(key)]
        assert enriched.spec.columns == export.spec.columns + tuple(headers)
        n = len(export.rows)
        assert enriched.record_ids[:n] == export.record_ids
        assert [r[: len(export.spec.columns)] for r in enriched.rows[:n]] == export.rows
        header, *body = _rows(enriched)
        assert header[-len(headers) :] == headers if headers else True
        assert all(len(r) == len(header) for r in body)


def test_every_record_has_its_signal_values(towns: tuple) -> None:
    _, rich = towns
    assert rich.signals is not None
    for key, export in rich.bodies.items():
        codes = [code for _, code in signal_columns(key)]
        for row, pid in zip(export.rows, export.person_ids, strict=True):
            values = rich.signals.values[(key, pid)]
            assert sorted(values) == sorted(codes)
            cells = row[len(row) - len(codes) :]
            assert cells == [
                ("1" if values[c] else "0") if isinstance(values[c], bool) else values[c]
                for c in codes
            ]


def test_catalogue_covers_every_column() -> None:
    catalogue = demo_catalogue_dict()
    assert [s["code"] for s in catalogue["signals"]] == [s[2] for s in SIGNALS]
    assert all(s["label"] and s["purpose"] for s in catalogue["signals"])


def test_planted_children_need_more_than_one_body(towns: tuple) -> None:
    _, rich = towns
    truth = rich.signals
    by_id = {p.person_id: p for p in rich.persons}
    holders = {key: set(e.person_ids) for key, e in rich.bodies.items()}
    kinds = Counter(c.rule for c in truth.planted)
    assert kinds[PLANTED_UNSEEN] >= 3 and kinds[PLANTED_HARDSHIP] >= 3
    for child in truth.planted:
        pid = child.person_id
        if child.rule == PLANTED_UNSEEN:
            assert 3 <= age_by_yearmonth(by_id[pid]) <= 5
            assert pid not in holders["hoiku"]
            assert truth.values[("boshi", pid)]["kenshin_mijushin"] is True
            assert truth.values[("jumin", pid)]["birth_ym"] == by_id[pid].dob.strftime("%Y-%m")
        else:
            assert truth.values[("gakko", pid)]["choki_kesseki"] is True
            assert truth.values[("fukushi", pid)]["seikatsu_hogo"] is True
            assert pid not in holders[KODOMO_BODY]
        # no single body holds the whole reason
        assert len(child.bodies) >= 2


def test_background_rates_are_near_the_stated_figures() -> None:
    town = generate(6000, seed=3, signals=True)
    truth = town.signals
    assert truth is not None
    planted = truth.planted_ids()

    def share(body: str, code: str) -> float:
        values = [
            v[code] for (b, pid), v in truth.values.items() if b == body and pid not in planted
        ]
        return sum(1 for v in values if v is True) / len(values)

    n = len(town.persons)
    assert 0.03 <= share("boshi", "kenshin_mijushin") <= 0.08
    assert 0.08 <= share("gakko", "shugaku_enjo") <= 0.20
    hogo = sum(1 for (b, _), v in truth.values.items() if b == "fukushi" and v["seikatsu_hogo"])
    assert 0.004 <= hogo / n <= 0.025
    fuyo = sum(1 for (b, _), v in truth.values.items() if b == "fukushi" and v["jido_fuyo"])
    assert 0.04 <= fuyo / n <= 0.11
    assert 0.002 <= len(town.bodies[KODOMO_BODY].rows) / n <= 0.02
