"""Support signals through a live server (SQLite and PostgreSQL): catalogue, key, uploads.

Bodies encode real exports with ``encode_file(..., signals=SignalsJob)``, upload encodings
and signals, the coordinator runs the linkage and decrypts with ``fetch_signals``. The
server's database is then tampered with the way a curious operator could (moving a
ciphertext to another ref or project): the coordinator sees authentication failures.
"""

from __future__ import annotations

import base64
import csv
import json
import secrets
import time
from pathlib import Path
from typing import Any

import pytest
from server_testkit import LiveServer
from sqlalchemy import create_engine, text

from apiclient import ApiClient, ApiError
from coordinator.keys import fingerprint_of, new_private_key
from coordinator.signals import KeyMismatchError, fetch_signals
from encoders.encode import encode_file
from encoders.keys import read_keys
from encoders.signals import SignalsJob, load_signal_map
from linkage.schema import default_schema
from linkage.signals import Catalogue, ciphertext_size, public_key_raw

BODIES = ("母子保健", "学校")
CATALOGUE = {
    "signals": [
        {"code": "kenshin_mijushin", "label": "乳幼児健診未受診", "body": "母子保健",
         "value_type": "flag", "purpose": "健診で会えていない子を把握する"},
        {"code": "last_checkup", "label": "最終受診日", "body": "母子保健", "value_type": "date",
         "purpose": "最後に会えた日"},
        {"code": "absent_days", "label": "欠席日数", "body": "学校", "value_type": "count",
         "purpose": "長期欠席の把握"},
    ]
}  # fmt: skip
HEADER = ["宛名番号", "氏名", "氏名_フリガナ", "生年月日", "性別", "住所"]
PEOPLE = [
    ("架空 太郎", "カクウ タロウ", "2015-04-01", "男", "東京都架空市みどり町1-2-3"),
    ("見本 花子", "ミホン ハナコ", "2016-05-01", "女", "東京都架空市あおば町2-5"),
    ("試験 一郎", "シケン イチロウ", "2017-12-31", "男", "東京都架空市さくら町3-4"),
    ("仮名 次郎", "カメイ ジロウ", "2018-06-15", "男", "東京都架空市ひかり町4-1"),
]
HEALTH = {  # record id -> (健診, 最終受診日)
    "H1": ("未受診", "令和5年4月1日"),
    "H2": ("受診済", "2023/10/2"),
    "H3": ("", ""),
    "H4": ("未受診", "R4.1.20"),
}
SCHOOL = {"S1": "31", "S2": "0", "S3": "", "S4": "５"}
MAP_HEALTH = """body = "母子保健"
[signals.kenshin_mijushin]
column = "健診"
values = { "未受診" = true, "受診済" = false }
[signals.last_checkup]
column = "最終受診日"
"""
MAP_SCHOOL = """body = "学校"
[signals.absent_days]
column = "欠席日数"
"""


def _export(path: Path, prefix: str, extra_header: list[str], extra: dict[str, Any]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER + extra_header)
        for i, person in enumerate(PEOPLE, 1):
            cells = extra[f"{prefix}{i}"]
            writer.writerow(
                [f"{prefix}{i}", *person, *(cells if isinstance(cells, tuple) else (cells,))]
            )
    return path


class Project:
    """A project with a catalogue and key, both bodies encoded and uploaded, one run done."""

    def __init__(self, live: LiveServer, tmp: Path, *, run: bool = True) -> None:
        self.live, self.tmp = live, tmp
        tmp.mkdir(parents=True, exist_ok=True)
        created = live.new_project(bodies=BODIES)
        self.pid = created["project_id"]
        self.coordinator = created["credentials"]["coordinator"]
        self.bodies = created["credentials"]["bodies"]
        self.key = new_private_key()
        with self.client() as c:
            c.set_signal_catalogue(self.pid, CATALOGUE)
            c.set_signal_key(self.pid, self.public_b64(self.key))
            self.catalogue = Catalogue.from_dict(c.signal_catalogue(self.pid))
        self.secret = secrets.token_bytes(32)
        self.exports = {
            "母子保健": _export(tmp / "kenko.csv", "H", ["健診", "最終受診日"], HEALTH),
            "学校": _export(tmp / "gakko.csv", "S", ["欠席日数"], SCHOOL),
        }
        self.maps = {"母子保健": MAP_HEALTH, "学校": MAP_SCHOOL}
        encoded = {body: self.encode(body) for body in BODIES}  # encode first, upload at once
        for body in BODIES:
            self.upload(body, *encoded[body])
        if run:
            with self.client() as c:
                started = c.start_run(self.pid)
                assert c.wait_run(self.pid, started["run_id"], timeout=120)["status"] == "done"

    @staticmethod
    def public_b64(key: Any) -> str:
        return base64.b64encode(public_key_raw(key.public_key())).decode()

    def client(self, body: str | None = None) -> ApiClient:
        return ApiClient(self.live.url, self.bodies[body] if body else self.coordinator)

    def encode(self, body: str, key: Any | None = None) -> tuple[Path, Path, Path]:
        key = key or self.key
        folder = self.tmp / f"{body}-{secrets.token_hex(3)}"
        folder.mkdir()
        map_path = folder / "map.toml"
        map_path.write_text(self.maps[body], encoding="utf-8")
        job = SignalsJob(
            load_signal_map(map_path, self.catalogue),
            project_id=self.pid,
            catalogue=self.catalogue,
            public_key=key.public_key(),
            key_fingerprint=fingerprint_of(key.public_key()),
            output=folder / "enc.signals.json",
        )
        encode_file(
            self.exports[body],
            output=folder / "enc.kkh",
            keys_output=folder / "keys.csv",
            schema=default_schema(),
            secret=self.secret,
            signals=job,
        )
        return folder / "enc.kkh", folder / "keys.csv", folder / "enc.signals.json"

    def encode_and_upload(self, body: str) -> None:
        self.upload(body, *self.encode(body))

    def upload(self, body: str, enc: Path, keys: Path, sealed: Path) -> None:
        setattr(self, f"keys_{'health' if body == '母子保健' else 'school'}", read_keys(keys))
        with self.client(body) as c:
            c.upload(self.pid, enc)
            assert c.upload_signals(self.pid, sealed)["count"] == len(PEOPLE)

    def record_ids(self) -> dict[tuple[str, str], str]:
        return {
            **{("母子保健", ref): rid for ref, rid in self.keys_health.items()},  # type: ignore[attr-defined]
            **{("学校", ref): rid for ref, rid in self.keys_school.items()},  # type: ignore[attr-defined]
        }


def db_engine(live: LiveServer) -> Any:
    return create_engine(live.settings.resolved_database_url)


def test_signals_arrive_decrypted_only_for_the_coordinator(
    live: LiveServer, tmp_path: Path
) -> None:
    project = Project(live, tmp_path)
    with project.client() as c:
        table = fetch_signals(c, project.pid, project.key)
    assert not table.failures
    assert len(table.tokens) == 2 * len(PEOPLE)
    ids = project.record_ids()
    got = {(ids[(s.body, s.ref)], s.code): s.value for s in table.signals}
    assert got == {
        ("H1", "kenshin_mijushin"): True, ("H1", "last_checkup"): "2023-04-01",
        ("H2", "kenshin_mijushin"): False, ("H2", "last_checkup"): "2023-10-02",
        ("H4", "kenshin_mijushin"): True, ("H4", "last_checkup"): "2022-01-20",
        ("S1", "absent_days"): 31, ("S2", "absent_days"): 0, ("S4", "absent_days"): 5,
    }  # fmt: skip
    tokens = {(b, r): t for t, b, r in table.tokens}
    assert all(tokens[(s.body, s.ref)] == s.token for s in table.signals)
    assert table.catalogue.codes == ("kenshin_mijushin", "last_checkup", "absent_days")
    # every record carries one ciphertext of the same size, with or without signals
    size = ciphertext_size(project.catalogue.for_body("母子保健"))
    with db_engine(live).connect() as conn:
        sizes = conn.execute(
            text("select body, ciphertext from signal_rows where project_id = :p"),
            {"p": project.pid},
        ).all()
    assert len(sizes) == 2 * len(PEOPLE)
    assert {len(bytes(blob)) for body, blob in sizes if body == "母子保健"} == {size}
    # a body can read the catalogue and the key, but not the rows or the status
    with project.client("学校") as c:
        assert c.signal_key(project.pid)["fingerprint"] == fingerprint_of(project.key.public_key())
        assert c.signal_catalogue(project.pid)["version"] == 1
        for call in (c.signal_rows, c.signal_status):
            with pytest.raises(ApiError) as info:
                call(project.pid)
            assert info.value.status == 403


def test_moved_ciphertexts_fail_authentication_and_are_reported(
    live: LiveServer, tmp_path: Path
) -> None:
    first = Project(live, tmp_path / "a")
    second = Project(live, tmp_path / "b")
    engine = db_engine(live)
    with engine.begin() as conn:
        rows = conn.execute(
            text("select id, ref, ciphertext from signal_rows where project_id = :p and body = :b"),
            {"p": first.pid, "b": "母子保健"},
        ).all()
        (id1, ref1, ct1), (id2, ref2, ct2) = rows[0], rows[1]
        # the operator swaps two records' ciphertexts (moving each to another ref) ...
        conn.execute(
            text("update signal_rows set ciphertext = :c where id = :i"), {"c": ct2, "i": id1}
        )
        conn.execute(
            text("update signal_rows set ciphertext = :c where id = :i"), {"c": ct1, "i": id2}
        )
        # ... and copies one into the other project (same body, same code set and size)
        target = conn.execute(
            text("select id, ref from signal_rows where project_id = :p and body = :b"),
            {"p": second.pid, "b": "母子保健"},
        ).first()
        conn.execute(
            text("update signal_rows set ciphertext = :c where id = :i"), {"c": ct1, "i": target[0]}
        )
    with first.client() as c:
        table = fetch_signals(c, first.pid, first.key)
    failed = {(body, ref) for body, ref, _ in table.failures}
    assert failed == {("母子保健", ref1), ("母子保健", ref2)}
    assert all("authentication failed" in reason for *_, reason in table.failures)
    assert not any(s.ref in (ref1, ref2) for s in table.signals)
    per_record = {"H1": 2, "H2": 2, "H3": 0, "H4": 2}
    health = first.keys_health  # type: ignore[attr-defined]
    assert len(table.signals) == 9 - per_record[health[ref1]] - per_record[health[ref2]]
    with second.client() as c:
        other = fetch_signals(c, second.pid, second.key)
    assert [(b, r) for b, r, _ in other.failures] == [("母子保健", target[1])]


def _forged(project: Project, body: str, codes: list[str], refs: list[str], size: int) -> Path:
    doc = {
        "format": "kakehashi-signals/1",
        "project_id": project.pid,
        "body": body,
        "catalogue_version": 1,
        "key_fingerprint": fingerprint_of(project.key.public_key()),
        "codes": codes,
        "rows": [[r, base64.b64encode(secrets.token_bytes(size)).decode()] for r in refs],
    }
    path = project.tmp / f"forged-{secrets.token_hex(3)}.signals.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


def _stored(live: LiveServer, pid: str, body: str) -> list[str]:
    with db_engine(live).connect() as conn:
        return [
            r[0]
            for r in conn.execute(
                text("select upload_id from signal_rows where project_id = :p and body = :b"),
                {"p": pid, "b": body},
            )
        ]


def test_undeclared_or_foreign_signal_is_refused_by_code_and_nothing_is_stored(
    live: LiveServer, tmp_path: Path
) -> None:
    project = Project(live, tmp_path)
    before = _stored(live, project.pid, "学校")
    refs = list(project.keys_school)  # type: ignore[attr-defined]
    spec = project.catalogue.for_body("学校")
    cases = [
        (
            ["absent_days", "seikatsu_hogo"],
            422,
            "'seikatsu_hogo' is not in the project's catalogue",
        ),
        (["kenshin_mijushin"], 403, "'kenshin_mijushin' may be sent by 母子保健 only"),
    ]
    for codes, status, message in cases:
        path = _forged(project, "学校", codes, refs, ciphertext_size(spec))
        with project.client("学校") as c, pytest.raises(ApiError) as info:
            c.upload_signals(project.pid, path)
        assert info.value.status == status
        assert message in str(info.value)
        assert _stored(live, project.pid, "学校") == before
    # wrong size, unknown refs and an incomplete replace are refused too
    for refs_, size, message in [
        (refs, ciphertext_size(spec) + 16, "every record's ciphertext"),
        ([*refs[:-1], "0" * 32], ciphertext_size(spec), "not among this body's current encodings"),
        (refs[:-1], ciphertext_size(spec), "every record carries one ciphertext"),
    ]:
        path = _forged(project, "学校", ["absent_days"], refs_, size)
        with project.client("学校") as c, pytest.raises(ApiError) as info:
            c.upload_signals(project.pid, path)
        assert info.value.status == 422 and message in str(info.value)
        assert _stored(live, project.pid, "学校") == before


def test_rotation_refuses_old_key_ciphertexts_and_shows_who_must_reupload(
    live: LiveServer, tmp_path: Path
) -> None:
    project = Project(live, tmp_path)
    _, _, old_sealed = project.encode("学校")
    new_key = new_private_key()
    with project.client() as c:
        rotated = c.set_signal_key(project.pid, Project.public_b64(new_key))
        assert rotated["key_version"] == 2 and rotated["changed"]
        with pytest.raises(ApiError, match="earlier coordinator key") as info:
            c.set_signal_key(project.pid, Project.public_b64(project.key))
        assert info.value.status == 409
        status = c.signal_status(project.pid)
        assert {b["body"]: b["must_upload"] for b in status["bodies"]} == dict.fromkeys(
            BODIES, True
        )
        assert "sealed to coordinator key version 1; current is 2" in status["bodies"][0]["reason"]
        with pytest.raises(KeyMismatchError, match="not the project's current coordinator key"):
            fetch_signals(c, project.pid, project.key)
        table = fetch_signals(c, project.pid, new_key)
        assert table.signals == [] and set(table.stale) == set(BODIES)
    with (
        project.client("学校") as c,
        pytest.raises(ApiError, match=r"Coordinator key changed|not the current") as info,
    ):
        c.upload_signals(project.pid, old_sealed)
    assert info.value.status == 409
    # the body encodes again with the new key (same encodings are re-uploaded: new refs)
    project.key = new_key
    project.encode_and_upload("学校")
    with project.client() as c:
        run = c.start_run(project.pid)
        assert c.wait_run(project.pid, run["run_id"], timeout=120)["status"] == "done"
        table = fetch_signals(c, project.pid, new_key)
        status = c.signal_status(project.pid)
    assert {s.code for s in table.signals} == {"absent_days"}
    assert not table.failures and set(table.stale) == {"母子保健"}
    assert {b["body"]: b["must_upload"] for b in status["bodies"]} == {
        "母子保健": True,
        "学校": False,
    }


def test_catalogue_versions_are_audited_and_bodies_checked(
    live: LiveServer, tmp_path: Path
) -> None:
    created = live.new_project(bodies=BODIES)
    pid, coord = created["project_id"], created["credentials"]["coordinator"]
    with ApiClient(live.url, coord) as c:
        with pytest.raises(ApiError) as info:
            c.signal_catalogue(pid)
        assert info.value.status == 404
        first = c.set_signal_catalogue(pid, CATALOGUE)
        again = c.set_signal_catalogue(pid, CATALOGUE)
        assert (first["version"], first["changed"]) == (1, True)
        assert (again["version"], again["changed"]) == (1, False)
        changed = json.loads(json.dumps(CATALOGUE))
        changed["signals"][2]["purpose"] = "不登校の早期把握"
        assert c.set_signal_catalogue(pid, changed)["version"] == 2
        assert c.signal_catalogue(pid, 1)["signals"][2]["purpose"] == "長期欠席の把握"
        bad = json.loads(json.dumps(CATALOGUE))
        bad["signals"][0]["body"] = "病院"
        with pytest.raises(ApiError, match="'病院' is not a body of this project") as info:
            c.set_signal_catalogue(pid, bad)
        assert info.value.status == 422
        with pytest.raises(ApiError, match="unknown field") as info:
            c.set_signal_catalogue(pid, {"signals": [{**CATALOGUE["signals"][0], "score": 1}]})
        assert info.value.status == 422
    with ApiClient(live.url, created["credentials"]["bodies"]["学校"]) as c:
        with pytest.raises(ApiError) as info:
            c.set_signal_catalogue(pid, CATALOGUE)
        assert info.value.status == 403
    with ApiClient(live.url, coord) as c:
        entries = c.get_json(f"/projects/{pid}/audit")["entries"]
    sets = [e["detail"] for e in entries if e["action"] == "signals.catalogue.set"]
    assert [(d["version"], d["previous"]) for d in sets] == [(1, None), (2, 1)]


def test_closing_the_project_deletes_its_ciphertexts(live: LiveServer, tmp_path: Path) -> None:
    project = Project(live, tmp_path, run=False)
    assert len(_stored(live, project.pid, "母子保健")) == len(PEOPLE)
    with project.client() as c:
        c.post_json(f"/projects/{project.pid}/close")
        entries = c.get_json(f"/projects/{project.pid}/audit")["entries"]
    assert _stored(live, project.pid, "母子保健") == _stored(live, project.pid, "学校") == []
    closed = [e["detail"] for e in entries if e["action"] == "encodings.deleted.close"]
    assert closed[-1]["signal_rows"] == 2 * len(PEOPLE)


def test_retention_deletes_old_ciphertexts(make_live: Any, tmp_path: Path) -> None:
    live = make_live(retention_days=2 / 86400)  # two seconds
    project = Project(live, tmp_path, run=False)
    deadline = time.monotonic() + 60
    while _stored(live, project.pid, "母子保健") or _stored(live, project.pid, "学校"):
        assert time.monotonic() < deadline, "retention did not delete the signals"
        time.sleep(0.2)
    with project.client() as c:
        entries = c.get_json(f"/projects/{project.pid}/audit")["entries"]
        status = c.signal_status(project.pid)
    deleted = [e["detail"] for e in entries if e["action"] == "signals.deleted.retention"]
    assert sum(d["uploads"] for d in deleted) == 2
    assert all(b["uploads"] == [] and b["must_upload"] for b in status["bodies"])


def test_new_encodings_without_signals_make_the_old_signals_stale(
    live: LiveServer, tmp_path: Path
) -> None:
    project = Project(live, tmp_path, run=False)
    enc, _, _ = project.encode("学校")
    with project.client("学校") as c:
        c.upload(project.pid, enc)  # the encodings only: new refs, old signals no longer fit
    with project.client() as c:
        status = {b["body"]: b for b in c.signal_status(project.pid)["bodies"]}
    assert not status["母子保健"]["must_upload"]
    assert status["学校"]["must_upload"]
    assert "encodings were replaced after these signals" in status["学校"]["reason"]
