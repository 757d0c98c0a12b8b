"""The support list: rows carry rules, evidence and refs per body; CSV (BOM) and JSON."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

import pytest
from coordinator_testkit import table

from coordinator.rules import load_rules
from coordinator.signals import DecryptedSignal
from coordinator.support import CSV_HEADERS, SupportListError, build_support_list

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "ja" / "examples"
REF = date(2026, 4, 1)


def both_rules(tmp_path: Path):
    text = (EXAMPLES / "rules_mishugaku_kenshin.toml").read_text(encoding="utf-8")
    second = (EXAMPLES / "rules_fukusu_konnan.toml").read_text(encoding="utf-8")
    text += second[second.index("[[rule]]") :]
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    return load_rules(path)


CHILDREN = {
    "tok-unseen": {"jumin": {"birth_ym": "2022-01"}, "boshi": {"kenshin_mijushin": True}},
    "tok-hard": {
        "jumin": {"birth_ym": "2014-06"},
        "gakko": {"choki_kesseki": True},
        "fukushi": {"seikatsu_hogo": True, "jido_fuyo": False},
    },
    "tok-both": {
        "jumin": {"birth_ym": "2021-06"},
        "boshi": {"kenshin_mijushin": True},
        "gakko": {},
        "fukushi": {"seikatsu_hogo": True, "jido_fuyo": True},
    },
    "tok-known": {
        "jumin": {"birth_ym": "2014-06"},
        "gakko": {"choki_kesseki": True},
        "fukushi": {"seikatsu_hogo": True},
        "kodomo": {"yotaikyo": True},
    },
    "tok-nursery": {
        "jumin": {"birth_ym": "2022-01"},
        "hoiku": {},
        "boshi": {"kenshin_mijushin": True},
    },
}


def test_rows_rules_evidence_refs_and_counts(tmp_path: Path) -> None:
    result = build_support_list(table(CHILDREN), both_rules(tmp_path), REF)
    rows = {row.token: row for row in result.rows}
    assert set(rows) == {"tok-unseen", "tok-hard", "tok-both"}
    assert result.counts == {"未就園で健診未受診": 2, "複数の困難があり要対協未登録": 2}
    assert result.listed == 3 and result.tokens_screened == 5
    assert rows["tok-both"].rules == ("未就園で健診未受診", "複数の困難があり要対協未登録")
    unseen = rows["tok-unseen"].matches[0]
    assert [(e.body, e.code, e.value) for e in unseen.evidence] == [
        ("boshi", "kenshin_mijushin", True),
        ("jumin", "birth_ym", "2022-01"),
    ]
    hard = rows["tok-hard"].matches[0]
    # only the signals that made the rule true: jido_fuyo is false and is not evidence
    assert [(e.body, e.code) for e in hard.evidence] == [
        ("fukushi", "seikatsu_hogo"),
        ("gakko", "choki_kesseki"),
    ]
    # refs per body: every body that holds a record of the child, to ask in stage 2
    assert rows["tok-hard"].refs == {
        "fukushi": ("tok-hard-fukushi",),
        "gakko": ("tok-hard-gakko",),
        "jumin": ("tok-hard-jumin",),
    }


def test_csv_has_bom_japanese_headers_and_one_row_per_token(tmp_path: Path) -> None:
    result = build_support_list(table(CHILDREN), both_rules(tmp_path), REF)
    path = result.write_csv(tmp_path / "list.csv")
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert tuple(rows[0]) == CSV_HEADERS
    assert [r[0] for r in rows[1:]] == ["tok-both", "tok-hard", "tok-unseen"]
    hard = rows[2]
    assert hard[1] == "複数の困難があり要対協未登録"
    assert "長期欠席=はい [gakko tok-hard-gakko]" in hard[2]
    assert "gakko: tok-hard-gakko" in hard[3]
    counts = result.write_counts_csv(tmp_path / "counts.csv").read_text(encoding="utf-8-sig")
    assert "未就園で健診未受診,2" in counts


def test_json_round_trip(tmp_path: Path) -> None:
    result = build_support_list(table(CHILDREN), both_rules(tmp_path), REF)
    data = json.loads(result.write_json(tmp_path / "list.json").read_text(encoding="utf-8"))
    assert data["listed"] == 3 and data["catalogue_version"] == 3
    assert data["reference_date"] == "2026-04-01"
    assert data["rules_sha256"] == result.rules_sha256
    first = data["rows"][0]
    assert first["token"] == "tok-both" and first["refs"]["boshi"] == ["tok-both-boshi"]
    assert {s["label"] for r in first["rules"] for s in r["signals"]} >= {"乳幼児健診未受診"}


def test_audit_summary_holds_no_token_or_signal(tmp_path: Path) -> None:
    result = build_support_list(table(CHILDREN), both_rules(tmp_path), REF)
    summary = result.audit_summary()
    assert set(summary) == {"rules_sha256", "catalogue_version", "listed"}
    assert "tok-" not in json.dumps(summary)


def test_rules_naming_a_body_absent_from_the_table_are_refused(tmp_path: Path) -> None:
    children = {"t": {"jumin": {"birth_ym": "2022-01"}, "boshi": {"kenshin_mijushin": True}}}
    with pytest.raises(SupportListError, match="hoiku") as caught:
        build_support_list(table(children), both_rules(tmp_path), REF)
    assert "absence would hold for every child" in str(caught.value)


def test_signals_for_unknown_tokens_are_refused(tmp_path: Path) -> None:
    t = table(CHILDREN)
    t.signals.append(DecryptedSignal("elsewhere", "boshi", "r", "kenshin_mijushin", True))
    with pytest.raises(SupportListError, match="not in the token table"):
        build_support_list(t, both_rules(tmp_path), REF)


def test_failures_are_carried_into_the_list(tmp_path: Path) -> None:
    t = table(CHILDREN)
    t.failures.append(("gakko", "r1", "authentication failed"))
    result = build_support_list(t, both_rules(tmp_path), REF)
    assert result.to_dict()["undecryptable_records"] == [
        {"body": "gakko", "ref": "r1", "reason": "authentication failed"}
    ]


def test_groups_flagged_for_review_are_marked(tmp_path: Path) -> None:
    result = build_support_list(
        table(CHILDREN), both_rules(tmp_path), REF, review=["tok-hard", "tok-known"]
    )
    flags = {row.token: row.review for row in result.rows}
    assert flags == {"tok-both": False, "tok-hard": True, "tok-unseen": False}
    with result.write_csv(tmp_path / "l.csv").open(encoding="utf-8-sig", newline="") as handle:
        rows = {r[0]: r for r in csv.reader(handle)}
    assert rows["tok-hard"][4].startswith("要確認") and rows["tok-both"][4] == ""
    data = result.to_dict()
    assert [r["review"] for r in data["rows"]] == [False, True, False]
