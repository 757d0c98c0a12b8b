"""``encode --family`` on the synthetic town's family exports (``synthetic.family``):
住民記録 with two guardian slots (own 宛名番号, 旧氏, 続柄 母/父/養父/継父) and the
母子保健 妊娠届 (CP932, no 性別 column, 届出日), with the generator's usual errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from encoders.secret import new_secret, write_secret
from kakehashi.cli import main
from linkage.container import read_encodings
from linkage.family_format import parse_family_document
from synthetic.family import generate_families
from synthetic.family.maps import write_family_maps


def _run(args: list[str]) -> None:
    try:
        main(args)
    except SystemExit as exc:
        assert not exc.code


@pytest.fixture(scope="module")
def town(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("famtown")
    paths = generate_families(150, seed=5, error_level="normal").write_exports(folder)
    secret = folder / "s.key"
    write_secret(secret, new_secret())
    maps = write_family_maps(folder / "maps")
    for body in ("jumin", "boshi_ninshin"):
        _run(["encode", str(paths[body]), "--secret", str(secret), "--family", str(maps[body])])
    return {"folder": folder, "paths": paths}


def _rows(path: Path) -> list[dict[str, str]]:
    for encoding in ("utf-8-sig", "cp932"):
        try:
            with path.open(encoding=encoding, newline="") as handle:
                return list(csv.DictReader(handle))
        except UnicodeDecodeError:
            continue
    raise AssertionError(path)


def _keys(path: Path) -> dict[str, str]:
    with path.open(encoding="utf-8") as handle:
        return {row["ref"]: row["record_id"] for row in csv.DictReader(handle)}


def test_jumin_guardians_match_the_export(town: dict) -> None:
    folder = town["folder"]
    rows = {r["宛名番号"]: r for r in _rows(town["paths"]["jumin"])}
    child_keys = _keys(folder / "jumin.keys.csv")
    assert set(read_encodings(folder / "jumin.kkh").refs) == set(child_keys)
    doc = parse_family_document(json.loads((folder / "jumin.family.json").read_text()))
    guardian_id = _keys(folder / "jumin.family.keys.csv")
    # One guardian ref per guardian 宛名番号 among the encoded children's rows.
    expected = {
        (row[f"保護者{n}_宛名番号"], row[f"保護者{n}_続柄"])
        for cid in child_keys.values()
        for row in [rows[cid]]
        for n in (1, 2)
        if row[f"保護者{n}_氏名"]
    }
    assert {guardian_id[g] for g, _ in doc.guardians} == {gid for gid, _ in expected}
    role = {"母": "mother", "父": "father", "養父": "father", "継父": "other"}
    got = {(child_keys[c], guardian_id[g], r) for c, g, r in doc.relations}
    want = {
        (cid, rows[cid][f"保護者{n}_宛名番号"], role[rows[cid][f"保護者{n}_続柄"]])
        for cid in child_keys.values()
        for n in (1, 2)
        if rows[cid][f"保護者{n}_氏名"]
    }
    assert got == want
    assert {c for c, _ in doc.births} == set(child_keys)


def test_pregnancy_export(town: dict) -> None:
    folder = town["folder"]
    rows = _rows(town["paths"]["boshi_ninshin"])
    doc = parse_family_document(json.loads((folder / "boshi_ninshin.family.json").read_text()))
    keys = _keys(folder / "boshi_ninshin.family.keys.csv")
    assert sorted(keys[p] for p, _, _ in doc.pregnancies) == sorted(r["管理番号"] for r in rows)
    assert all(15 <= len(window) <= 80 for _, _, window in doc.pregnancies)
    assert len(doc.guardians) <= len(rows)
