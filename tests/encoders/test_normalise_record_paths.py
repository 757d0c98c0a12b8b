"""The columnar path (normalise_columns) agrees with the field-by-field specification.

``normalise_fields`` runs the field functions of ``NORMALISERS`` one record at a time;
``normalise_columns`` (what the encoder runs) works on whole columns of a chunk, with
fast paths that depend on the other records of the chunk, so whole chunks of generated
records are compared, record by record.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from encoders.columns import resolve_columns
from encoders.normalise.chunk import FIELDS, INPUT_KEYS, normalise_columns
from encoders.normalise.record import DEFAULT_FIELDS, NORMALISERS, normalise_fields
from encoders.readers import open_table

TODAY = date(2026, 4, 1)
PIECES = ["高橋", "髙橋", "太郎", "タロウ", "たろう", "ｻｲﾄｳ", "ｶﾞ", "\u3099", "　", " ", "\t",
          "\n", "\x00", "〓", "●", "？", "⁇", "", "R5.4.1", "平成31年5月1日", "2015-04-01",
          "2099-01-01", "昭和64年1月8日", "男", "2", "9", "X", "架橋市本町一丁目2番3号",
          "〒123-4567", "霞ケ関1ー2", "コーポ桜101", "NGUYEN", "van", "AN", "\ufe00"]  # fmt: skip

records = st.dictionaries(
    st.sampled_from(INPUT_KEYS), st.lists(st.sampled_from(PIECES), max_size=4).map("".join)
)


def _assert_chunk_agrees(chunk: Sequence[dict[str, str]]) -> None:
    columns = {key: [r.get(key) or "" for r in chunk] for key in INPUT_KEYS}
    result = normalise_columns(columns, len(chunk), today=TODAY)
    issues = defaultdict(list)
    for i, issue in result.issues:
        issues[i].append(issue)
    for i, record in enumerate(chunk):
        values, expected_issues = normalise_fields(record, TODAY)
        assert {name: result.values[name][i] for name in FIELDS} == values, record
        assert len(issues[i]) == len(set(issues[i])), "an issue reported twice"
        assert set(issues[i]) == set(expected_issues), record


def test_the_columnar_path_computes_every_field_function() -> None:
    assert tuple(NORMALISERS) == FIELDS == DEFAULT_FIELDS


@settings(max_examples=300, deadline=None)
@given(records)
def test_paths_agree_on_one_record(record: dict[str, str]) -> None:
    _assert_chunk_agrees([record])


@settings(max_examples=300, deadline=None)
@given(st.lists(records, min_size=2, max_size=12))
def test_paths_agree_on_chunks_of_generated_records(chunk: list[dict[str, str]]) -> None:
    _assert_chunk_agrees(chunk)


def test_paths_agree_on_a_dirty_synthetic_municipality(tmp_path: Path) -> None:
    from synthetic import generate

    exports = generate(300, seed=3, error_level="dirty").write_exports(tmp_path)
    checked = 0
    for path in exports.values():
        with open_table(path) as table:
            plan = resolve_columns(table.headers)
            chunk = [plan.record(cells) for _, cells in table]
        _assert_chunk_agrees(chunk)
        checked += len(chunk)
    assert checked > 500
