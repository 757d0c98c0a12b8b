"""Hardened encodings: clkhash-identical XOR-folding, salting, noise, and linkage on them."""

from __future__ import annotations

import copy

import numpy as np
from clkhash import clk
from clkhash import schema as clk_schema

from encoders.hashing import ClkHasher
from encoders.pipeline import encode_rows
from linkage.engine import link
from linkage.schema import builtin_schema, default_schema, parse_schema
from synthetic import REFERENCE_DATE, generate

SECRET = bytes.fromhex("00112233445566778899aabbccddeeff" * 2)
ROW = [
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
]
ROWS = [ROW, ["斎藤", "花子", "サイトウ", "ハナコ", "サイト", "ハナコ", "20190501", "2", "", ""]]


def v1_with(block: dict) -> object:
    doc = copy.deepcopy(builtin_schema("children-v1").document)
    doc["kakehashi"]["hardening"] = block
    return parse_schema(doc)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    bits_a, bits_b = np.unpackbits(a), np.unpackbits(b)
    return 2 * float((bits_a & bits_b).sum()) / float(bits_a.sum() + bits_b.sum())


def test_xor_fold_is_byte_identical_to_clkhash_xor_folds() -> None:
    schema = v1_with({"xor_fold": 1})
    ours = ClkHasher(schema, SECRET).hash_rows(ROWS)
    document = copy.deepcopy(schema.clkhash_document())
    document["clkConfig"]["l"] = 512  # clkhash: l is the folded length
    document["clkConfig"]["xor_folds"] = 1
    theirs = clk.generate_clks(ROWS, clk_schema.from_json_dict(document), SECRET)
    assert ours.shape == (2, 64)
    assert [row.tobytes() for row in ours] == [t.tobytes() for t in theirs]


def test_salting_makes_salted_fields_agree_only_within_the_same_salt() -> None:
    fields = ["surname", "given_name", "address"]
    schema = v1_with({"salt": {"field": "date_of_birth", "chars": 4, "fields": fields}})
    hasher = ClkHasher(schema, SECRET)
    same_year = [*ROW[:6], "20151231", *ROW[7:]]
    other_year = [*ROW[:6], "20160401", *ROW[7:]]
    a, b, c = hasher.hash_rows([ROW, same_year, other_year])
    plain = ClkHasher(builtin_schema("children-v1"), SECRET).hash_rows([ROW, other_year])
    assert dice(a, b) > dice(a, c)  # a year apart, the names no longer agree
    assert dice(a, c) < dice(plain[0], plain[1]) - 0.1
    assert not np.array_equal(
        a, ClkHasher(builtin_schema("children-v1"), SECRET).hash_rows([ROW])[0]
    )


def test_default_schema_is_hardened_and_never_repeats_an_encoding() -> None:
    schema = default_schema()
    assert schema.hardening, "the shipped default schema must declare hardening"
    hasher = ClkHasher(schema, SECRET)
    first, second = hasher.hash_rows([ROW]), hasher.hash_rows([ROW])
    assert first.shape == (1, schema.bit_length // 8)
    assert first.tobytes() != second.tobytes()  # same person, two bodies: different bytes
    assert dice(first[0], second[0]) > schema.default_threshold


def test_linkage_with_blocking_finds_the_same_pairs_on_hardened_encodings() -> None:
    town = generate(400, seed=3, error_level="normal")
    schema = default_schema()
    clks, people = [], []
    for key in ("jumin", "gakko"):
        export = town.bodies[key]
        enc = encode_rows(export.canonical_records(), schema, SECRET, today=REFERENCE_DATE)
        clks.append(enc.clks)
        people.append([export.person_ids[i] for i in enc.index.tolist()])
    blocked = link(clks, threshold=schema.default_threshold)
    full = link(clks, threshold=schema.default_threshold, blocking="exhaustive")

    def pairs(result: object) -> set[tuple[str, str]]:
        groups: dict[int, list[str]] = {}
        for body, gids in enumerate(result.group_of):  # type: ignore[attr-defined]
            for i, g in enumerate(gids.tolist()):
                groups.setdefault(g, []).append(people[body][i])
        return {(m[0], m[1]) for m in groups.values() if len(m) == 2}

    found, reference = pairs(blocked), pairs(full)
    assert len(reference) > 150
    assert len(found & reference) >= 0.99 * len(reference)
    correct = sum(a == b for a, b in found)
    assert correct >= 0.97 * len(found)


def test_hashing_leaves_the_schema_document_and_its_id_alone() -> None:
    schema = v1_with({"balance": True, "permute": True})
    before = schema.schema_id
    ClkHasher(schema, SECRET).hash_rows(ROWS)
    assert parse_schema(schema.document).schema_id == before  # clkhash used to edit it
    again = ClkHasher(parse_schema(schema.document), SECRET).hash_rows(ROWS)
    assert np.array_equal(again, ClkHasher(schema, SECRET).hash_rows(ROWS))


def test_container_header_carries_nothing_but_the_schema_and_length(tmp_path) -> None:
    import json
    import struct

    from linkage.container import MAGIC, Encodings, new_refs, to_json_bytes, write_encodings

    schema = default_schema()
    clks = ClkHasher(schema, SECRET).hash_rows(ROWS)
    fingerprint = "7F3A-91C2-0B5D-E844"  # the secret's fingerprint: one value per project
    enc = Encodings(new_refs(len(clks)), clks, schema.bit_length, schema.schema_id, fingerprint)
    path = tmp_path / "x.kkh"
    write_encodings(path, enc)
    data = path.read_bytes()
    (hlen,) = struct.unpack("<I", data[len(MAGIC) : len(MAGIC) + 4])
    header = json.loads(data[len(MAGIC) + 4 : len(MAGIC) + 4 + hlen])
    assert set(header) == {
        "format", "version", "schema_id", "bit_length", "ref_bytes", "secret_fingerprint"
    }  # fmt: skip
    record_bytes = 16 + schema.bit_length // 8
    assert len(data) == len(MAGIC) + 4 + hlen + len(clks) * record_bytes + 32
    assert set(json.loads(to_json_bytes(enc))) == {
        "clks", "refs", "schema_id", "bit_length", "secret_fingerprint"
    }  # fmt: skip
