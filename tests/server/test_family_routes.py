"""Families end to end (issue 16): real encoder → real server run → coordinator.

Four bodies: 住民記録 (children with their guardians' columns), 保育 (children only),
母子保健 (妊娠届: mothers and expected dates, no children's file) and 福祉 (児童扶養手当
payees: guardians only). The run links the children, links the guardians across bodies,
and returns household tokens per child token, pregnancy tokens with their children and
the guardian-subject bodies of each household — to the coordinator only.
"""

from __future__ import annotations

import csv
import json
import re
import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from server_testkit import LiveServer, wait_run

from apiclient import ApiClient, ApiError
from encoders.secret import new_secret, write_secret
from kakehashi.cli import main

# Hex tokens and refs (and base64 CLKs) are random and may hold any run of digits.
LONG_TOKEN = re.compile(r"[A-Za-z0-9+/=_-]{24,}")
GUARDIAN_COLUMNS = "母_氏名,母_フリガナ,母_生年月日,父_氏名,父_生年月日"
SATO = "佐藤　美咲,サトウ　ミサキ,1992-03-04,佐藤　健,1990-01-02"
JUMIN = [
    # id, name, kana, dob, sex, address, mother, kana, dob, father, dob
    f"C1,佐藤　陽葵,サトウ　ヒマリ,2024-05-01,2,架橋市本町1-2-3,{SATO}",
    f"C2,佐藤　陽翔,サトウ　ハルト,2024-05-01,1,架橋市本町1-2-3,{SATO}",
    f"C3,佐藤　湊,サトウ　ミナト,2021-02-10,1,架橋市本町1-2-3,{SATO}",
    "C4,田中　結衣,タナカ　ユイ,2023-08-08,2,架橋市南町9,田中　愛,タナカ　アイ,1995-06-07,,",
    "C5,鈴木　蓮,スズキ　レン,2020-11-30,1,架橋市北町5-6,,,,鈴木　大輔,1985-05-05",
    "C6,高橋　一花,タカハシ　イチカ,2022-01-20,2,架橋市東町2-2,,,,,",
]
HOIKU = [
    "H1,佐藤　湊,サトウ　ミナト,2021-02-10,1,架橋市本町1-2-3",
    "H2,田中　結衣,タナカ　ユイ,2023-08-08,2,架橋市南町9",
    "H3,鈴木　蓮,スズキ　レン,2020-11-30,1,架橋市北町5-6",
]
NINPU = [
    # the first 妊娠届 was made before marriage, under her maiden name
    "P0,山田　美咲,ヤマダ　ミサキ,1992-03-04,架橋市本町1-2-3,2021-02-20",
    "P1,佐藤　美咲,サトウ　ミサキ,1992-03-04,架橋市本町1-2-3,令和6年5月10日",
    "P2,山本　さくら,ヤマモト　サクラ,1998-09-09,架橋市西町7,2030-01-15",
]
FAMILY_MAP = """
[guardians.mother]
full_name = "母_氏名"
full_kana = "母_フリガナ"
date_of_birth = "母_生年月日"
address = "住所"

[guardians.father]
full_name = "父_氏名"
date_of_birth = "父_生年月日"
address = "住所"
"""
PREGNANCY_MAP = """
subject = "guardian"
record_id = "妊娠届番号"
[guardians.mother]
full_name = "氏名"
full_kana = "氏名_フリガナ"
date_of_birth = "生年月日"
address = "住所"
[pregnancy]
guardian = "mother"
expected_date = "出産予定日"
"""
CHILD_HEADER = "宛名番号,氏名,氏名_フリガナ,生年月日,性別,住所"
FUYO = [
    # 児童扶養手当 payees: 結衣's mother, 蓮's father (no kana in 住民記録), a stranger
    "F1,田中　愛,タナカ　アイ,1995-06-07,2,架橋市南町9",
    "F2,鈴木　大輔,,1985-05-05,1,架橋市北町5-6",
    "F3,伊藤　真由美,イトウ　マユミ,1988-12-12,2,架橋市西町3",
]
PAYEE_MAP = """
subject = "guardian"
record_id = "宛名番号"
[guardians.payee]
role = "other"
full_name = "氏名"
full_kana = "氏名_フリガナ"
date_of_birth = "生年月日"
sex = "性別"
address = "住所"
"""


def _cli(args: list[str]) -> None:
    try:
        main(args)
    except SystemExit as exc:
        assert not exc.code, f"kakehashi {args[0]} failed"


def _keys(path: Path) -> dict[str, str]:
    with path.open(encoding="utf-8") as handle:
        return {ref: rid for ref, rid in csv.reader(handle) if ref != "ref"}


@pytest.fixture(scope="module")
def scenario(live: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("family")
    secret = tmp / "secret.key"
    write_secret(secret, new_secret())
    project = live.new_project(bodies=("jumin", "hoiku", "boshi", "fukushi"))
    pid, creds = project["project_id"], project["credentials"]
    files = {
        "fuyo.csv": "\n".join([CHILD_HEADER, *FUYO]),
        "payee.toml": PAYEE_MAP,
        "jumin.csv": "\n".join([f"{CHILD_HEADER},{GUARDIAN_COLUMNS}", *JUMIN]),
        "hoiku.csv": "\n".join([CHILD_HEADER, *HOIKU]),
        "ninpu.csv": "\n".join(["妊娠届番号,氏名,氏名_フリガナ,生年月日,住所,出産予定日", *NINPU]),
        "family.toml": FAMILY_MAP,
        "preg.toml": PREGNANCY_MAP,
    }
    for name, text in files.items():
        (tmp / name).write_text(text + "\n", encoding="utf-8")
    s = str(secret)
    _cli(["encode", str(tmp / "jumin.csv"), "--secret", s, "--family", str(tmp / "family.toml")])
    _cli(["encode", str(tmp / "hoiku.csv"), "--secret", s])
    _cli(["encode", str(tmp / "ninpu.csv"), "--secret", s, "--family", str(tmp / "preg.toml")])
    _cli(["encode", str(tmp / "fuyo.csv"), "--secret", s, "--family", str(tmp / "payee.toml")])
    for body, file in (
        ("jumin", "jumin.kkh"),
        ("hoiku", "hoiku.kkh"),
        ("boshi", "ninpu.family.json"),
        ("fukushi", "fuyo.family.json"),
    ):
        cred = tmp / f"{body}.credential"
        cred.write_text(creds["bodies"][body])
        _cli(["upload", str(tmp / file), "--server", live.url, "--project", pid,
              "--credential", str(cred)])  # fmt: skip
    return {"pid": pid, "creds": creds, "tmp": tmp}


def _run_and_read(live: LiveServer, scenario: dict) -> tuple[dict, dict]:
    pid, coord = scenario["pid"], scenario["creds"]["coordinator"]
    with live.client(coord) as c:
        rid = c.post(f"/api/v1/projects/{pid}/runs", json={}).json()["run_id"]
        done = wait_run(c, pid, rid, timeout=180)
        assert done["status"] == "done", done
        rows = c.get(f"/api/v1/projects/{pid}/results/tokens", params={"format": "json"}).json()
    token = {(body, ref): tok for tok, body, ref in rows["rows"]}
    tmp = scenario["tmp"]
    token_of = {}  # record id -> coordinator token (the test plays each body's resolve)
    for body, keys in (("jumin", "jumin.keys.csv"), ("hoiku", "hoiku.keys.csv")):
        for ref, rid_ in _keys(tmp / keys).items():
            token_of[rid_] = token[(body, ref)]
    with ApiClient(live.url, coord) as client:
        family = client.family_results(pid)
    return family, {"token_of": token_of, "stats": done.get("stats")}


@pytest.fixture(scope="module")
def first_run(live: LiveServer, scenario: dict) -> tuple[dict, dict]:
    return _run_and_read(live, scenario)


def test_households_and_pregnancies_reach_the_coordinator(
    live: LiveServer, scenario: dict, first_run: tuple[dict, dict]
) -> None:
    family, seen = first_run
    token_of = seen["token_of"]
    assert token_of["C3"] == token_of["H1"]  # 湊 linked across 住民記録 and 保育
    household = dict(family["households"])
    assert set(household) == set(token_of.values())
    sato = {household[token_of[c]] for c in ("C1", "C2", "C3")}
    assert len(sato) == 1  # twins and their brother share a guardian: one household
    others = {household[token_of[c]] for c in ("C4", "C5", "C6")}
    assert len(others) == 3 and not sato & others
    preg_keys = _keys(scenario["tmp"] / "ninpu.family.keys.csv")
    by_record = {preg_keys[p["ref"]]: p for p in family["pregnancies"]}
    assert set(by_record) == {"P0", "P1", "P2"}
    assert all(p["body"] == "boshi" for p in by_record.values())
    # Twins: one link per child, two distinct child tokens, never merged.
    assert by_record["P1"]["children"] == sorted([token_of["C1"], token_of["C2"]])
    assert token_of["C1"] != token_of["C2"]
    assert by_record["P0"]["children"] == [token_of["C3"]]
    assert by_record["P2"]["children"] == []  # not born yet: open, with its own token
    assert len({p["token"] for p in family["pregnancies"]}) == 3
    text = json.dumps(family, ensure_ascii=False)
    # Tokens and refs are random hex and may hold any digits ("1992" included);
    # what must not be there is plaintext outside them.
    text = LONG_TOKEN.sub("", text)
    for plain in ("佐藤", "美咲", "サトウ", "1992", "2024", "田中", "大輔", "1985"):
        assert plain not in text  # tokens only
    fam = seen["stats"]["family"]
    assert fam["pregnancy_links"] == 3 and fam["pregnancies_open"] == 1
    assert fam["stale_child_refs"] == 0
    # 美咲 (住民記録 + 母子保健), 健, 愛 (住民記録 + 福祉), 大輔 (same), さくら, 真由美
    assert fam["guardian_groups"] == 6
    # Guardian-subject bodies per household: 美咲's 妊娠届, 愛's and 大輔's 手当.
    guardian_bodies = {(h, b) for h, b in family["guardian_bodies"]}
    assert guardian_bodies == {
        (household[token_of["C1"]], "boshi"),
        (household[token_of["C4"]], "fukushi"),
        (household[token_of["C5"]], "fukushi"),
    }
    assert fam["households_with_guardian_body"] == 3
    # A second run keeps household and pregnancy tokens (children's tokens are kept too).
    again, _ = _run_and_read(live, scenario)
    assert dict(again["households"]) == household
    assert again["guardian_bodies"] == family["guardian_bodies"]  # a re-run starts clean
    assert {p["token"] for p in again["pregnancies"]} == {p["token"] for p in family["pregnancies"]}


def test_household_rule_on_the_servers_households(
    live: LiveServer, scenario: dict, first_run: tuple[dict, dict]
) -> None:
    """The coordinator's side: the real token table and households, a sibling rule."""
    from coordinator.rules import parse_rules
    from coordinator.signals import SignalTable
    from coordinator.support import build_support_list
    from linkage.signals import Catalogue

    pid, coord = scenario["pid"], scenario["creds"]["coordinator"]
    _, seen = first_run
    with ApiClient(live.url, coord) as client:
        family = client.family_results(pid)
        households = dict(family["households"])
        rows = client.get_json(f"/projects/{pid}/results/tokens?format=json")["rows"]
    catalogue = Catalogue.from_dict(
        {"version": 1, "signals": [{"code": "x", "label": "x", "body": "jumin",
                                    "value_type": "flag", "purpose": "p"}]}
    )  # fmt: skip
    table = SignalTable(catalogue, [tuple(r) for r in rows], [], [])
    rules = parse_rules(
        '[rules]\ntitle = "t"\n\n[[rule]]\nname = "きょうだいが保育"\ndescription = "d"\n'
        'purpose = "p"\nsibling = { present_in = "hoiku" }\n'
    )
    made = build_support_list(table, rules, date(2026, 4, 1), households=households)
    token_of = seen["token_of"]
    # 湊 (in 保育) lists his twin siblings; 湊 himself has no sibling in 保育.
    assert {r.token for r in made.rows} == {token_of["C1"], token_of["C2"]}
    assert {r.household for r in made.rows} == {households[token_of["C3"]]}
    # A 児童扶養手当 payee among the household's guardians (福祉 holds no child's record).
    guardian_bodies: dict[str, list[str]] = {}
    for household, body in family["guardian_bodies"]:
        guardian_bodies.setdefault(household, []).append(body)
    payee = parse_rules(
        '[rules]\ntitle = "t"\n\n[[rule]]\nname = "手当の世帯で保育なし"\ndescription = "d"\n'
        'purpose = "p"\nall = [ { guardian_in = "fukushi" }, { absent_from = "hoiku" } ]\n'
    )
    made = build_support_list(
        table, payee, date(2026, 4, 1), households=households, guardian_bodies=guardian_bodies
    )
    assert {r.token for r in made.rows} == set()  # 結衣 and 蓮 both go to 保育
    any_payee = parse_rules(
        '[rules]\ntitle = "t"\n\n[[rule]]\nname = "手当の世帯"\ndescription = "d"\n'
        'purpose = "p"\nguardian_in = "fukushi"\n'
    )
    made = build_support_list(
        table, any_payee, date(2026, 4, 1), households=households, guardian_bodies=guardian_bodies
    )
    assert {r.token for r in made.rows} == {token_of["C4"], token_of["C5"]}


def test_bodies_cannot_read_family_results(live: LiveServer, scenario: dict) -> None:
    pid = scenario["pid"]
    for body in ("jumin", "hoiku", "boshi", "fukushi"):
        with (
            ApiClient(live.url, scenario["creds"]["bodies"][body]) as client,
            pytest.raises(ApiError) as caught,
        ):
            client.family_results(pid)
        assert caught.value.status == 403


def test_bad_family_upload_stores_nothing(live: LiveServer, scenario: dict) -> None:
    pid, tmp = scenario["pid"], scenario["tmp"]
    doc = json.loads((tmp / "jumin.family.json").read_text())
    cred = scenario["creds"]["bodies"]["hoiku"]
    with live.client(cred) as c:
        # hoiku's own encodings do not hold 住民記録's child refs
        r = c.post(f"/api/v1/projects/{pid}/family", content=json.dumps(doc))
        assert r.status_code == 422 and "not among this body's current encodings" in r.text
        broken = {**doc, "relations": [[*doc["relations"][0][:2], "uncle"]]}
        r = c.post(f"/api/v1/projects/{pid}/family", content=json.dumps(broken))
        assert r.status_code == 422 and "relations row 1: role" in r.text
        r = c.post(f"/api/v1/projects/{pid}/family", content=b"{not json")
        assert r.status_code == 422
    with live.client(scenario["creds"]["coordinator"]) as c:
        audit = c.get(f"/api/v1/projects/{pid}/audit").json()
    stored = [e for e in audit["entries"] if e["action"] == "family.stored"]
    assert len(stored) == 3  # jumin's, boshi's and fukushi's only


def test_close_deletes_family_files(live: LiveServer, scenario: dict) -> None:
    from sqlalchemy import func, select

    from server.db.models import FamilyRow, FamilyUpload
    from server.db.session import make_engine, make_sessionmaker

    pid, coord = scenario["pid"], scenario["creds"]["coordinator"]
    engine = make_engine(live.settings.resolved_database_url)
    factory = make_sessionmaker(engine)

    def stored() -> tuple[int, int]:
        with factory() as session:
            uploads = session.execute(
                select(func.count()).select_from(FamilyUpload).where(FamilyUpload.project_id == pid)
            ).scalar_one()
            rows = session.execute(
                select(func.count()).select_from(FamilyRow).where(FamilyRow.project_id == pid)
            ).scalar_one()
        return uploads, rows

    try:
        uploads, rows = stored()
        assert uploads == 3 and rows > 0
        with live.client(coord) as c:
            assert c.post(f"/api/v1/projects/{pid}/close").status_code == 200
            audit = c.get(f"/api/v1/projects/{pid}/audit").json()["entries"]
        assert stored() == (0, 0)
        closed = [e for e in audit if e["action"] == "encodings.deleted.close"]
        assert closed[-1]["detail"]["family_uploads"] == 3
    finally:
        engine.dispose()


def test_retention_deletes_family_files(make_live: Any, tmp_path: Path) -> None:
    live = make_live(retention_days=2 / 86400)  # two seconds
    project = live.new_project(bodies=("jumin", "boshi"))
    pid, creds = project["project_id"], project["credentials"]
    secret = tmp_path / "s.key"
    write_secret(secret, new_secret())
    export = tmp_path / "ninpu.csv"
    export.write_text(
        "\n".join(["妊娠届番号,氏名,氏名_フリガナ,生年月日,住所,出産予定日", *NINPU]) + "\n",
        encoding="utf-8",
    )
    (tmp_path / "preg.toml").write_text(PREGNANCY_MAP, encoding="utf-8")
    _cli(["encode", str(export), "--secret", str(secret), "--family", str(tmp_path / "preg.toml")])
    with ApiClient(live.url, creds["bodies"]["boshi"]) as client:
        assert client.upload_family(pid, tmp_path / "ninpu.family.json")["pregnancies"] == 3
    deadline = time.monotonic() + 60
    while True:
        with live.client(creds["coordinator"]) as c:
            entries = c.get(f"/api/v1/projects/{pid}/audit").json()["entries"]
        deleted = [e["detail"] for e in entries if e["action"] == "family.deleted.retention"]
        if deleted:
            break
        assert time.monotonic() < deadline, "retention did not delete the family file"
        time.sleep(0.2)
    assert sum(d["uploads"] for d in deleted) == 1
