"""What the server receives carries no record order and nothing beyond refs + CLKs (issue 11).

The encoder writes encodings (binary and JSON), signals and family files in a random order
drawn from OS randomness (``encoders.shuffle``); the keys file, which stays with the
department, keeps the export's order. Runs the real encoder on real files.
"""

from __future__ import annotations

import csv
import json
import struct
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from encoders.encode import encode_file
from encoders.keys import read_keys
from encoders.pipeline import encode_rows
from encoders.secret import new_secret, write_secret
from encoders.shuffle import random_order, shuffled
from kakehashi.cli import main
from linkage.container import MAGIC, read_encodings
from linkage.family_format import parse_family_document
from linkage.schema import builtin_schema, default_schema

SECRET = bytes(range(32))
HEADER = ["宛名番号", "氏名", "氏名_フリガナ", "生年月日", "性別", "住所"]
SURNAMES = [("佐藤", "サトウ"), ("鈴木", "スズキ"), ("高橋", "タカハシ"), ("田中", "タナカ")]
GIVEN = [("太郎", "タロウ"), ("花子", "ハナコ"), ("健", "ケン"), ("愛", "アイ"), ("陽翔", "ハルト")]
N = 120


def _rows(n: int = N) -> list[list[str]]:
    rows = []
    for i in range(n):
        (sur, sur_k), (giv, giv_k) = SURNAMES[i % 4], GIVEN[(i // 4) % 5]
        rows.append([f"A{i:04d}", f"{sur}　{giv}", f"{sur_k}　{giv_k}",
                     f"20{10 + i % 9:02d}-{1 + i % 12:02d}-{1 + i % 28:02d}", "男女"[i % 2],
                     f"架橋市本町{1 + i % 7}-{1 + i % 11}-{1 + i % 5}"])  # fmt: skip
    return rows


def _export(tmp: Path, rows: list[list[str]]) -> Path:
    path = tmp / "export.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([HEADER, *rows])
    return path


def _encode(tmp: Path, source: Path, name: str, fmt: str = "binary", schema=None):
    out, keys = tmp / f"{name}.kkh", tmp / f"{name}.keys.csv"
    encode_file(source, output=out, keys_output=keys, fmt=fmt,  # type: ignore[arg-type]
                schema=schema or builtin_schema("children-v1"), secret=SECRET)  # fmt: skip
    return read_encodings(out), read_keys(keys), out, keys


def test_two_runs_give_unrelated_orders_and_each_ref_keeps_its_record(tmp_path: Path) -> None:
    rows = _rows()
    source = _export(tmp_path, rows)
    schema = builtin_schema("children-v1")  # deterministic: each record's CLK is known
    expected = encode_rows(
        [dict(zip(["record_id", "full_name", "full_kana", "date_of_birth", "sex", "address"],
                  r, strict=True)) for r in rows],
        schema, SECRET,
    )  # fmt: skip
    clk_of = {
        rows[int(i)][0]: c.tobytes() for i, c in zip(expected.index, expected.clks, strict=True)
    }
    assert len(clk_of) == N
    export_order = [r[0] for r in rows]
    orders = []
    for run, fmt in enumerate(["binary", "binary", "json"]):
        enc, keys, _, keys_path = _encode(tmp_path, source, f"run{run}", fmt)
        order = [keys[ref] for ref in enc.refs]
        assert sorted(order) == sorted(export_order)  # every record, once
        for ref, clk in zip(enc.refs, enc.clks, strict=True):
            assert clk.tobytes() == clk_of[keys[ref]]  # the ref → CLK mapping is intact
        # the keys file stays with the department, in the export's order
        with keys_path.open(encoding="utf-8") as handle:
            assert [r[1] for r in csv.reader(handle)][1:] == export_order
        orders.append(order)
    # 120! orders: equal orders (to each other or to the export) would mean no shuffle
    assert orders[0] != export_order and orders[1] != export_order and orders[2] != export_order
    assert orders[0] != orders[1] != orders[2]
    # nor merely a rotation or reversal of the export: positions are spread out
    moved = [abs(orders[0].index(r) - i) for i, r in enumerate(export_order)]
    assert np.mean(moved) > N / 6


def test_the_binary_file_holds_only_its_header_and_fixed_size_records(tmp_path: Path) -> None:
    enc, _, out, _ = _encode(tmp_path, _export(tmp_path, _rows(40)), "x", schema=default_schema())
    data = out.read_bytes()
    assert data[: len(MAGIC)] == MAGIC
    (hlen,) = struct.unpack("<I", data[len(MAGIC) : len(MAGIC) + 4])
    header = json.loads(data[len(MAGIC) + 4 : len(MAGIC) + 4 + hlen])
    # no timestamp, file name, row count, field lengths or per-field metadata
    assert set(header) == {
        "format", "version", "schema_id", "bit_length", "ref_bytes", "secret_fingerprint",
    }  # fmt: skip
    record = 16 + enc.bit_length // 8
    assert len(data) == len(MAGIC) + 4 + hlen + 40 * record + 32
    # the JSON format: the same fields, refs and CLKs only
    _encode(tmp_path, _export(tmp_path, _rows(40)), "j", fmt="json", schema=default_schema())
    doc = json.loads((tmp_path / "j.kkh").read_text(encoding="utf-8"))
    assert set(doc) == {"schema_id", "bit_length", "secret_fingerprint", "refs", "clks"}
    assert len({len(c) for c in doc["clks"]}) == 1


def test_family_file_guardians_and_births_are_not_in_export_order(tmp_path: Path) -> None:
    secret = new_secret()
    write_secret(tmp_path / "secret.key", secret)
    lines = ["宛名番号,氏名,氏名_フリガナ,生年月日,性別,住所,母_氏名,母_生年月日"]
    for i in range(60):
        (sur, sur_k), (giv, giv_k) = SURNAMES[i % 4], GIVEN[(i // 4) % 5]
        child = f"C{i:03d},{sur}　{giv},{sur_k}　{giv_k},2020-{1 + i % 12:02d}-{1 + i % 28:02d}"
        mother = f"{sur}　母{i},19{60 + i % 30}-01-{1 + i % 28:02d}"
        lines.append(f"{child},{1 + i % 2},架橋市本町{i}-1,{mother}")
    export = tmp_path / "jumin.csv"
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")
    fmap = tmp_path / "family.toml"
    fmap.write_text(
        '[guardians.mother]\nfull_name = "母_氏名"\ndate_of_birth = "母_生年月日"\n'
        'address = "住所"\n',
        encoding="utf-8",
    )
    try:
        main(
            ["encode", str(export), "--secret", str(tmp_path / "secret.key"), "--family", str(fmap)]
        )
    except SystemExit as exc:
        assert not exc.code
    doc = parse_family_document(
        json.loads((tmp_path / "jumin.family.json").read_text(encoding="utf-8"))
    )
    fam_keys = read_keys(tmp_path / "jumin.family.keys.csv")  # export order, stays here
    child_keys = read_keys(tmp_path / "jumin.keys.csv")
    guardian_ids = [fam_keys[ref] for ref, _ in doc.guardians]
    assert sorted(guardian_ids) == sorted(fam_keys.values())
    assert guardian_ids != list(fam_keys.values())
    birth_ids = [child_keys[ref] for ref, _ in doc.births]
    assert sorted(birth_ids) == sorted(child_keys.values())
    assert birth_ids != list(child_keys.values())
    # and the children's encodings themselves
    children = read_encodings(tmp_path / "jumin.kkh")
    assert [child_keys[r] for r in children.refs] != list(child_keys.values())


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=3000))
def test_random_order_is_a_permutation(n: int) -> None:
    order = random_order(n)
    assert order.dtype == np.int64 and order.shape == (n,)
    assert np.array_equal(np.sort(order), np.arange(n))


def test_shuffled_keeps_every_item_and_draws_fresh_orders() -> None:
    items = list(range(200))
    a, b = shuffled(items), shuffled(items)
    assert sorted(a) == items and sorted(b) == items
    assert a != b and a != items  # each of these has probability 1/200!
