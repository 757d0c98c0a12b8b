from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from linkage.errors import SchemaError
from linkage.schema import default_schema, load_schema, parse_schema, schema_id_of


def test_default_schema_is_clkhash_v3_and_has_an_id() -> None:
    from clkhash import schema as clk_schema

    schema = default_schema()
    assert schema.bit_length == 1024
    assert len(schema.schema_id) == 64
    assert set(schema.normalisers) == set(schema.field_names)
    clk_schema.from_json_dict(schema.clkhash_document(), validate=True)


def test_schema_id_ignores_key_order_and_whitespace(tmp_path: Path) -> None:
    schema = default_schema()
    path = tmp_path / "s.json"
    path.write_text(json.dumps(dict(reversed(list(schema.document.items()))), indent=4))
    assert load_schema(path).schema_id == schema.schema_id


def test_any_change_changes_the_id() -> None:
    document = copy.deepcopy(default_schema().document)
    document["features"][0]["hashing"]["strategy"]["bitsPerFeature"] += 1
    assert schema_id_of(document) != default_schema().schema_id


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("features"), "features"),
        (lambda d: d.__setitem__("version", 2), "version 3"),
        (lambda d: d["clkConfig"].__setitem__("l", 1000), "multiple of 64"),
        (lambda d: d["features"].append(dict(d["features"][0])), "twice"),
        (lambda d: d["kakehashi"].__setitem__("default_threshold", 1.5), r"\(0, 1\]"),
    ],
)
def test_malformed_schemas_are_refused(mutate, message: str) -> None:
    document = copy.deepcopy(default_schema().document)
    mutate(document)
    with pytest.raises(SchemaError, match=message):
        parse_schema(document)


def test_unreadable_schema_file(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text("{not json")
    with pytest.raises(SchemaError, match="not valid JSON"):
        load_schema(path)
