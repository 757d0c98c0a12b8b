"""Address and name rules."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from encoders.normalise.address import (
    Address,
    normalise_address,
    normalise_address_column,
    split_address,
    strip_municipality,
)
from encoders.normalise.names import (
    normalise_roman_name,
    split_full_name,
    with_alternates,
)

KEY = "東京都千代田区霞ヶ関1-2-3"

ADDRESS_CASES = [
    ("東京都千代田区霞が関1丁目2番3号", KEY, ""),
    ("東京都千代田区霞が関1-2-3", KEY, ""),
    ("東京都千代田区霞ケ関1-2-3", KEY, ""),
    ("東京都千代田区霞ヵ関1-2-3", KEY, ""),
    ("東京都千代田区霞ヶ関１－２－３", KEY, ""),
    ("東京都千代田区霞が関1ー2ー3", KEY, ""),
    ("東京都千代田区霞が関1−2−3", KEY, ""),
    ("東京都千代田区霞が関1‐2‐3", KEY, ""),
    ("東京都千代田区霞が関一丁目二番三号", KEY, ""),
    ("東京都千代田区霞が関一丁目2-3", KEY, ""),
    ("東京都　千代田区　霞が関1-2-3", KEY, ""),
    ("〒100-0013 東京都千代田区霞が関1-2-3", KEY, ""),
    ("東京都千代田区霞が関1丁目2番3号 コーポ〇〇101号室", KEY, "コーポ〇〇101号室"),
    ("東京都千代田区霞が関1-2-3コーポ〇〇101号室", KEY, "コーポ〇〇101号室"),
    ("東京都千代田区霞が関1-2-3 マンション名 2F", KEY, "マンション名 2F"),
    ("東京都千代田区霞が関1-2-3　ハイツ２０１", KEY, "ハイツ201"),
    ("東京都三鷹市下連雀三丁目十二番五号", "東京都三鷹市下連雀3-12-5", ""),
    ("東京都三鷹市下連雀3-12-5", "東京都三鷹市下連雀3-12-5", ""),
    ("東京都千代田区一番町5-2", "東京都千代田区一番町5-2", ""),
    ("東京都港区六本木六丁目10番1号", "東京都港区六本木6-10-1", ""),
    ("東京都港区六本木6-10-1", "東京都港区六本木6-10-1", ""),
    ("○○町字山田1234番地の5", "○○町字山田1234-5", ""),
    ("○○町字山田1234-5", "○○町字山田1234-5", ""),
    ("○○町字山田1234番地", "○○町字山田1234", ""),
    ("札幌市中央区北3条西4丁目1-2 ビル5F", "札幌市中央区北3条西4-1-2", "ビル5F"),
    ("目黒区自由が丘2-3-4", "目黒区自由ヶ丘2-3-4", ""),
    ("目黒区自由ヶ丘二丁目3番4号", "目黒区自由ヶ丘2-3-4", ""),
    ("世田谷区梅ケ丘1-1-1", "世田谷区梅ヶ丘1-1-1", ""),
    ("大阪府大阪市北区梅田3丁目", "大阪府大阪市北区梅田3", ""),
    ("澤田町1-1", "沢田町1-1", ""),
    ("", "", ""),
    ("東京都〓区1-1", "", ""),
]


@pytest.mark.parametrize(("raw", "key", "building"), ADDRESS_CASES)
def test_address(raw: str, key: str, building: str) -> None:
    assert split_address(raw) == Address(key, building)


def test_kanji_numerals_only_before_lot_units() -> None:
    assert split_address("東京都三鷹市三鷹台").key == "東京都三鷹市三鷹台"
    assert split_address("九十九里町").key == "九十九里町"


NAME_SPLIT_CASES = [
    ("山田 太郎", ("山田", "太郎", True)),
    ("山田\u3000太郎", ("山田", "太郎", True)),
    ("山田　　太郎", ("山田", "太郎", True)),
    (" 山田 太郎 ", ("山田", "太郎", True)),
    ("ヤマダ　タロウ", ("ヤマダ", "タロウ", True)),
    ("山田太郎", ("山田太郎", "", False)),
    ("", ("", "", True)),
]


@pytest.mark.parametrize(("raw", "expected"), NAME_SPLIT_CASES)
def test_split_full_name(raw: str, expected: tuple[str, str, bool]) -> None:
    assert tuple(split_full_name(raw)) == expected


ROMAN_CASES = [
    ("NGUYEN VAN AN", "AN NGUYEN VAN"),
    ("Nguyen Van An", "AN NGUYEN VAN"),
    ("AN, NGUYEN VAN", "AN NGUYEN VAN"),
    ("VAN AN NGUYEN", "AN NGUYEN VAN"),
    ("ＮＧＵＹＥＮ　ＶＡＮ　ＡＮ", "AN NGUYEN VAN"),
    ("SMITH-JONES, Mary", "JONES MARY SMITH"),
    ("O'BRIEN Sean", "BRIEN O SEAN"),
    ("José García", "GARCIA JOSE"),
    ("", ""),
]


@pytest.mark.parametrize(("raw", "expected"), ROMAN_CASES)
def test_roman_name(raw: str, expected: str) -> None:
    assert normalise_roman_name(raw) == expected


def test_alternates() -> None:
    assert with_alternates("佐藤", ["鈴木", "佐藤", ""]) == "佐藤|鈴木"
    assert with_alternates("", ["鈴木"]) == "鈴木"
    assert with_alternates("", []) == ""


MUNICIPALITY_CASES = [
    ("東京都千代田区霞が関1丁目2番3号", "霞ヶ関1-2-3"),
    ("架橋市桜台二丁目12番地3　コーポ101", "桜台2-12-3"),
    ("桜台2-12-3", "桜台2-12-3"),
    ("架橋市本町4-24-15", "本町4-24-15"),
    ("本町4-24-15", "本町4-24-15"),
    ("架橋市日の出町3-28-26", "日の出町3-28-26"),
    ("日の出町3-28-26", "日の出町3-28-26"),
    ("大阪府大阪市北区梅田3丁目", "梅田3"),
    ("札幌市中央区北3条西4丁目1-2", "北3条西4-1-2"),
    ("神奈川県横浜市中区山下町1", "山下町1"),
    ("目黒区自由が丘2-3-4", "自由ヶ丘2-3-4"),
    ("東京都西多摩郡奥多摩町氷川1-1", "氷川1-1"),
    ("架橋市市場町1-2", "市場町1-2"),
    ("市場町1-2", "市場町1-2"),
    ("○○町字山田1234番地の5", "○○町字山田1234-5"),
    ("澤田町1-1", "沢田町1-1"),
    ("九十九里町", "九十九里町"),
    ("東京都三鷹市三鷹台", "三鷹台"),
    ("架橋市", "架橋市"),
    ("東京都", "東京都"),
    ("北海道", "北海道"),
    ("", ""),
]


@pytest.mark.parametrize(("raw", "key"), MUNICIPALITY_CASES)
def test_normalise_address_strips_leading_municipality(raw: str, key: str) -> None:
    assert normalise_address(raw) == key


@pytest.mark.parametrize(("raw", "key"), MUNICIPALITY_CASES)
def test_strip_municipality_is_idempotent(raw: str, key: str) -> None:
    assert strip_municipality(key) == key
    assert normalise_address(key) == key


def test_with_and_without_city_give_the_same_key() -> None:
    assert normalise_address("架橋市桜台2丁目12番3号") == normalise_address("桜台2-12-3")
    assert normalise_address("架橋市本町1-2-3") == normalise_address("本町1-2-3")


# normalise_address_column folds the joined column in one pass; each value must come out
# as normalise_address gives it alone, whatever its neighbours (a dash, a digit, a postal code
# or a kanji at the edge of the previous value must not reach across).
_ADDRESS_PIECES = st.sampled_from(
    ["〒", "123-4567", "1234567", " ", "\u3000", "\x00", "東京都", "千代田区", "架橋市", "霞",
     "が", "ケ", "関", "一", "二十三", "丁目", "番地", "番", "号", "の", "1", "２", "-", "ー",
     "－", "−", "コーポ桜", "101", "〓", "髙", "﨑", "町", "字", ""]
)  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(st.lists(st.lists(_ADDRESS_PIECES, max_size=8).map("".join), max_size=8))
def test_address_column_equals_normalise_address_on_each_value(values: list[str]) -> None:
    assert normalise_address_column(values) == [normalise_address(v) for v in values]
