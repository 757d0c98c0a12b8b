"""Kana rule: strict and loose keys."""

from __future__ import annotations

import pytest

from encoders.normalise.kana import loose_kana, strict_kana

STRICT_CASES = [
    ("やまだ", "ヤマダ"),
    ("ヤマダ", "ヤマダ"),
    ("ﾔﾏﾀﾞ", "ヤマダ"),
    ("ﾀﾞｲｽｹ", "ダイスケ"),
    ("ﾊﾟﾝ", "パン"),
    ("やまだ　たろう", "ヤマダタロウ"),
    ("ヤマダ・タロウ", "ヤマダタロウ"),
    ("ﾔﾏﾀﾞ ﾀﾛｳ", "ヤマダタロウ"),
    ("キョウコ", "キヨウコ"),
    ("きょうこ", "キヨウコ"),
    ("ハットリ", "ハツトリ"),
    ("ファン", "フアン"),
    ("シャーロット", "シヤアロツト"),
    ("ヴァイオリン", "バイオリン"),
    ("ヴィ", "ビ"),
    ("ヴ", "ブ"),
    ("ヴェ", "ベ"),
    ("ヴォ", "ボ"),
    ("ヴュ", "ビユ"),
    ("ゔぁ", "バ"),
    ("ヂ", "ジ"),
    ("ヅ", "ズ"),
    ("カヅコ", "カズコ"),
    ("ヲノ", "オノ"),
    ("ユーコ", "ユウコ"),
    ("ユ－コ", "ユウコ"),
    ("ﾕｰｺ", "ユウコ"),
    ("サトー", "サトオ"),
    ("ケー", "ケエ"),
    ("ミー", "ミイ"),
    ("ルーシー", "ルウシイ"),
    ("いすゞ", "イスズ"),
    ("ササキ", "ササキ"),
    ("", ""),
    ("〓", ""),
]


@pytest.mark.parametrize(("raw", "expected"), STRICT_CASES)
def test_strict_key(raw: str, expected: str) -> None:
    assert strict_kana(raw) == expected


LOOSE_CASES = [
    ("オオノ", "オノ"),
    ("オノ", "オノ"),
    ("オウノ", "オノ"),
    ("オーノ", "オノ"),
    ("サイトウ", "サイト"),
    ("サイトー", "サイト"),
    ("ユウコ", "ユコ"),
    ("ユウウ", "ユ"),
    ("ケイコ", "ケコ"),
    ("エイジ", "エジ"),
    ("カアサン", "カサン"),
    ("ニイミ", "ニミ"),
    ("キョウコ", "キヨコ"),
    ("ショウタ", "シヨタ"),
]


@pytest.mark.parametrize(("raw", "expected"), LOOSE_CASES)
def test_loose_key(raw: str, expected: str) -> None:
    assert loose_kana(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("ガッコウ", "カツコ"), ("ダイスケ", "タイスケ"), ("パパ", "ハハ"), ("ジュン", "シユン")],
)
def test_loose_key_seion(raw: str, expected: str) -> None:
    assert loose_kana(raw, seion=True) == expected
    assert loose_kana(raw) != expected


def test_strict_keeps_long_vowel_distinction() -> None:
    assert strict_kana("オオノ") != strict_kana("オノ")
    assert loose_kana("オオノ") == loose_kana("オノ")


def test_kanji_is_never_turned_into_kana() -> None:
    assert strict_kana("山田") == "山田"
