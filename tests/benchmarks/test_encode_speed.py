"""The encoding speed benchmark runs end to end on a small export and starts runs cold."""

from __future__ import annotations

import sys

import pytest

from benchmarks import encode_speed
from encoders.normalise import chunk, text


def test_measure_reports_rates_ratios_and_stages() -> None:
    results = encode_speed.measure(rows=300, workers=2, repeats=1, big_rows=1500)
    assert results["rows"] == 300  # the 住民基本台帳 export: one row per child
    rates = results["records_per_second"]
    assert set(rates) == {"clkhash_1proc", "kakehashi_1", "kakehashi_2"}
    assert all(rate > 0 for rate in rates.values())
    assert set(results["ratio_vs_clkhash"]) == {"kakehashi_1", "kakehashi_2"}
    stages = results["stages_seconds"]
    assert set(stages) == {"read", "columns", "normalise", "hash", "normalise_per_record"}
    assert all(seconds > 0 for seconds in stages.values())
    big = results["big"]
    assert big["rows"] == 1500 and big["peak_rss_mib"] > 0
    assert big["distinct_full_names"] > 600  # later cycles mix names: not 300 repeated
    markdown = encode_speed.to_markdown(results)
    assert "| kakehashi_2 |" in markdown
    assert "normalise_columns" in markdown
    assert "Large run: 1,500 rows" in markdown


def test_a_failed_large_run_is_an_error_not_a_number() -> None:
    with pytest.raises(RuntimeError, match="exited 3"):
        encode_speed._peak_rss([sys.executable, "-c", "import sys; sys.exit(3)"])


def test_clear_caches_empties_the_normalisation_memos() -> None:
    columns = {"address": ["架橋市本町1-2-3"], "sex": ["男"], "full_name": ["山田　太郎"]}
    chunk.normalise_columns(columns, 1)
    text.clean_text("山田")
    assert chunk.address_memo(["架橋市本町1-2-3"]) == ["本町1-2-3"]
    assert chunk.address_memo._known and text.clean_text.cache_info().currsize
    encode_speed._clear_caches()
    assert not chunk.address_memo._known
    assert not chunk.sex_memo._known
    assert text.clean_text.cache_info().currsize == 0
