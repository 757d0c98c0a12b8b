"""Text rule and kanji variant folding."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from encoders.normalise.kanji import fold_kanji, fold_table
from encoders.normalise.names import normalise_kanji_name
from encoders.normalise.text import clean_column, clean_text, normalise_text

TEXT_CASES = [
    ("ＡＢＣ１２３", "ABC123"),
    ("ｶﾀｶﾅ", "カタカナ"),
    ("山田\u3000太郎", "山田 太郎"),
    ("  山田   太郎  ", "山田 太郎"),
    ("\t山田\n", "山田"),
    ("葛\U000e0100城", "葛城"),  # IVS stripped
    ("辻\U000e0101", "辻"),
    ("神\ufe00", "神"),  # standardized variation selector
    ("〜", "~"),
    ("～", "~"),
    ("1−2", "1-2"),
    ("1－2", "1-2"),
    ("—", "―"),
    ("‖", "∥"),
    ("㈱", "(株)"),
    ("①", "1"),
    ("", ""),
]


@pytest.mark.parametrize(("raw", "expected"), TEXT_CASES)
def test_text_rule(raw: str, expected: str) -> None:
    assert normalise_text(raw) == expected


@pytest.mark.parametrize("raw", ["〓", "山〓", "●●", "■", "？", "?", "山田？", "ﾔﾏ?"])
def test_placeholders_are_unknown(raw: str) -> None:
    assert clean_text(raw) == ("", True)


def test_clean_text_reports_known_values() -> None:
    assert clean_text("山田") == ("山田", False)


FOLD_CASES = [
    ("髙", "高"),
    ("﨑", "崎"),
    ("邊", "辺"),
    ("邉", "辺"),
    ("齋", "斎"),
    ("齊", "斉"),
    ("澤", "沢"),
    ("濱", "浜"),
    ("𠮷", "吉"),
    ("藪", "薮"),
    ("曾", "曽"),
    ("鷗", "鴎"),
    ("髙橋", "高橋"),
    ("山﨑", "山崎"),
    ("渡邊", "渡辺"),
    ("渡邉", "渡辺"),
    ("齋藤", "斎藤"),
    ("𠮷田", "吉田"),
    ("德", "徳"),
    ("黑", "黒"),
    ("國", "国"),
    ("廣", "広"),
    ("眞", "真"),
]


@pytest.mark.parametrize(("raw", "expected"), FOLD_CASES)
def test_kanji_fold(raw: str, expected: str) -> None:
    assert fold_kanji(raw) == expected


@pytest.mark.parametrize("char", list("斎斉高崎辺沢浜吉薮曽鴎山田切功嶋島"))
def test_jis_level_one_targets_are_fixed_points(char: str) -> None:
    assert fold_kanji(char) == char


def test_sai_variants_stay_apart() -> None:
    assert fold_kanji("齋") != fold_kanji("齊")
    assert fold_kanji("斎") != fold_kanji("斉")


def test_kiru_is_not_folded_to_kou() -> None:
    assert fold_kanji("切") == "切"
    assert fold_table().get(ord("切")) is None
    assert all(target != "功" or chr(src) != "切" for src, target in fold_table().items())


@pytest.mark.parametrize("char", list("孩誥槁逑擱碚"))
def test_unrelated_corrections_are_excluded(char: str) -> None:
    assert fold_kanji(char) == char


def test_fold_table_is_a_fixpoint() -> None:
    table = fold_table()
    assert len(table) > 1000
    for target in table.values():
        assert fold_kanji(target) == target


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("髙橋　", "高橋"), ("渡 邉", "渡辺"), ("葛\U000e0100西", "葛西"), ("山〓", "")],
)
def test_kanji_name(raw: str, expected: str) -> None:
    assert normalise_kanji_name(raw) == expected


def test_table_header_carries_attribution() -> None:
    from importlib import resources

    head = resources.files("encoders").joinpath("data", "kanji_fold.tsv").read_text("utf-8")
    header = head[:2000]
    assert "CC BY-SA 2.1 JP" in header
    assert "MJ縮退マップ" in header
    assert "scripts/gen_kanji_fold.py" in header


# clean_column runs the text rule once over a whole column joined by NUL; it must give
# exactly clean_text's result for every value, whatever the neighbouring values are.
_TRICKY = st.sampled_from(
    ["山田", "\u3000", " ", "\t", "\n", "\x00", "\x1f", "\u3099", "\u309a", "ｶ", "ﾞ", "〓",
     "？", "⁇", "﹖", "\ufe00", "\U000e0100", "〜", "－", "A", "１", "\u0327", "\u00b8", ""]
)  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=6), st.lists(_TRICKY, max_size=5).map("".join))))
def test_clean_column_equals_clean_text_on_each_value(values: list[str]) -> None:
    texts, unknown = clean_column(values)
    assert [(t, i in unknown) for i, t in enumerate(texts)] == [clean_text(v) for v in values]


def test_clean_column_of_a_typical_column() -> None:
    texts, unknown = clean_column(["  山田\u3000太郎 ", "ｻｲﾄｳ", "〓田", "", "Ｎｇｕｙｅｎ"])
    assert texts == ["山田 太郎", "サイトウ", "", "", "Nguyen"]
    assert unknown == {2}
