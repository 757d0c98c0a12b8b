"""Our CLKs are byte-identical to clkhash's own generate_clks on the same values."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from clkhash import clk
from clkhash import schema as clk_schema
from clkhash.serialization import serialize_bitarray

from encoders.hashing import ClkHasher
from encoders.pipeline import encode_rows
from linkage.schema import builtin_schema

SECRET = bytes.fromhex("00112233445566778899aabbccddeeff" * 2)

ROWS = [
    [
        "高橋",
        "太郎",
        "タカハシ",
        "タロウ",
        "タカハシ",
        "タロ",
        "20150401",
        "1",
        "架橋市本町1-2-3",
        "",
    ],
    ["斎藤", "花子", "サイトウ", "ハナコ", "サイト", "ハナコ", "20190501", "2", "", ""],
    ["", "", "", "", "", "", "20200229", "", "架橋市東町3-4", "NGUYEN VAN AN"],
]


def test_hasher_matches_clkhash_generate_clks_byte_for_byte() -> None:
    schema = builtin_schema("children-v1")
    theirs = clk.generate_clks(
        ROWS, clk_schema.from_json_dict(schema.clkhash_document()), SECRET, validate=True
    )
    ours = ClkHasher(schema, SECRET).hash_rows(ROWS)
    assert ours.shape == (3, 128)
    for mine, reference in zip(ours, theirs, strict=True):
        assert mine.tobytes() == reference.tobytes()
        assert base64.b64encode(mine.tobytes()).decode() == serialize_bitarray(reference)


def test_different_secret_gives_different_clks() -> None:
    schema = builtin_schema("children-v1")
    a = ClkHasher(schema, SECRET).hash_rows(ROWS[:1])
    b = ClkHasher(schema, b"\x01" * 32).hash_rows(ROWS[:1])
    assert not np.array_equal(a, b)


def test_encode_rows_with_two_workers_equals_one_worker() -> None:
    records = [
        {"record_id": str(i), "full_name": f"高橋　太郎{i % 7}", "full_kana": "タカハシ　タロウ",
         "date_of_birth": "2015-04-01", "sex": "1", "address": f"架橋市本町{i % 9}-2-3"}
        for i in range(5000)
    ]  # fmt: skip
    schema = builtin_schema("children-v1")
    one = encode_rows(records, schema, SECRET, workers=1)
    two = encode_rows(records, schema, SECRET, workers=2)
    assert one.index.tolist() == two.index.tolist() == list(range(5000))
    assert np.array_equal(one.clks, two.clks)


def test_other_hashing_schemes_fall_back_to_clkhash_byte_for_byte() -> None:
    import copy

    from linkage.schema import parse_schema

    document = copy.deepcopy(builtin_schema("children-v1").document)
    document["features"][0]["hashing"]["hash"] = {"type": "blakeHash"}
    schema = parse_schema(document)
    hasher = ClkHasher(schema, SECRET)
    assert not hasher.fast_path
    assert ClkHasher(builtin_schema("children-v1"), SECRET).fast_path
    theirs = clk.generate_clks(
        ROWS, clk_schema.from_json_dict(schema.clkhash_document()), SECRET, validate=True
    )
    ours = hasher.hash_rows(ROWS)
    assert [row.tobytes() for row in ours] == [ba.tobytes() for ba in theirs]


def test_hash_columns_matches_clkhash_with_repeated_and_new_values() -> None:
    schema = builtin_schema("children-v1")
    rows = [ROWS[i % 3] for i in range(7)] + [["", "", "", "", "", "", "", "", "", ""]]
    theirs = clk.generate_clks(
        rows, clk_schema.from_json_dict(schema.clkhash_document()), SECRET, validate=True
    )
    hasher = ClkHasher(schema, SECRET)
    columns = [list(column) for column in zip(*rows, strict=True)]
    first = hasher.hash_columns(columns)  # every value new
    again = hasher.hash_columns(columns)  # every value a cache hit
    assert [row.tobytes() for row in first] == [ba.tobytes() for ba in theirs]
    assert np.array_equal(first, again)
    assert first.flags.writeable


def test_hash_columns_checks_the_number_of_columns() -> None:
    with pytest.raises(ValueError, match="2 columns for 10 fields"):
        ClkHasher(builtin_schema("children-v1"), SECRET).hash_columns([[""], [""]])
