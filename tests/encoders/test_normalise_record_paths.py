"""The one-pass default path of normalise_record agrees with the field-by-field path."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from encoders.columns import resolve_columns
from encoders.normalise.record import DEFAULT_FIELDS, _default_record, _slow_record
from encoders.readers import open_table

TODAY = date(2026, 4, 1)
KEYS = ["full_name", "surname", "given_name", "full_kana", "surname_kana", "given_kana",
        "date_of_birth", "sex", "address", "former_surname", "alias", "roman_name"]  # fmt: skip
PIECES = ["高橋", "髙橋", "太郎", "タロウ", "たろう", "ｻｲﾄｳ", "　", " ", "〓", "●", "？", "",
          "R5.4.1", "平成31年5月1日", "2015-04-01", "男", "2", "9", "架橋市本町一丁目2番3号",
          "コーポ桜101", "NGUYEN", "van", "AN"]  # fmt: skip


def _same(record: dict[str, str]) -> None:
    fast_values, fast_issues = _default_record(record, TODAY)
    slow_values, slow_issues = _slow_record(record, TODAY, DEFAULT_FIELDS)
    assert fast_values == slow_values
    assert set(fast_issues) == set(slow_issues)


@settings(max_examples=400, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(KEYS),
        st.lists(st.sampled_from(PIECES), max_size=4).map("".join),
    )
)
def test_paths_agree_on_generated_records(record: dict[str, str]) -> None:
    _same(record)


def test_paths_agree_on_a_dirty_synthetic_municipality(tmp_path: Path) -> None:
    from benchmarks.synthetic import generate

    exports = generate(300, seed=3, error_level="dirty").write_exports(tmp_path)
    checked = 0
    for path in exports.values():
        with open_table(path) as table:
            plan = resolve_columns(table.headers)
            for _, cells in table:
                _same(plan.record(cells))
                checked += 1
    assert checked > 500
