"""Date rule (Gregorian and 和暦) and sex codes."""

from __future__ import annotations

from datetime import date

import pytest

from encoders.normalise.dates import normalise_date
from encoders.normalise.issues import NormalisationError
from encoders.normalise.sex import normalise_sex

TODAY = date(2025, 6, 1)

DATE_CASES = [
    ("2019-05-01", "20190501"),
    ("2019/5/1", "20190501"),
    ("2019/05/01", "20190501"),
    ("2019.5.1", "20190501"),
    ("20190501", "20190501"),
    ("2019年5月1日", "20190501"),
    ("2019年05月01日", "20190501"),
    ("２０１９年５月１日", "20190501"),
    ("２０１９－０５－０１", "20190501"),
    ("2019-05-01 00:00:00", "20190501"),
    ("2019-05-01T00:00:00", "20190501"),
    (" 2019/5/1 ", "20190501"),
    ("二〇一九年五月一日", "20190501"),
    ("令和5年4月1日", "20230401"),
    ("令和５年４月１日", "20230401"),
    ("令和 5年 4月 1日", "20230401"),
    ("R5.4.1", "20230401"),
    ("r5.4.1", "20230401"),
    ("Ｒ５．４．１", "20230401"),
    ("R05.04.01", "20230401"),
    ("令5.4.1", "20230401"),
    ("令和五年四月一日", "20230401"),
    ("H30/12/31", "20181231"),
    ("H.30.12.31", "20181231"),
    ("H30-12-31", "20181231"),
    ("平成30年12月31日", "20181231"),
    ("令和元年5月1日", "20190501"),
    ("R1.5.1", "20190501"),
    ("平成元年1月8日", "19890108"),
    ("H1.1.8", "19890108"),
    ("平成31年4月30日", "20190430"),
    ("S64.1.7", "19890107"),
    ("昭和64年1月7日", "19890107"),
    ("昭和元年12月25日", "19261225"),
    ("大正15年12月24日", "19261224"),
    ("大正元年7月30日", "19120730"),
    ("T1.7.30", "19120730"),
    ("明治45年7月29日", "19120729"),
    ("M45.7.29", "19120729"),
    ("5050401", "20230401"),
    ("R050401", "20230401"),
    ("H301231", "20181231"),
    ("5010501", "20190501"),
    ("4301231", "20181231"),
    ("4010108", "19890108"),
    ("3640107", "19890107"),
    ("2150101", "19260101"),
    ("1450101", "19120101"),
    ("2020-02-29", "20200229"),
    ("", ""),
    ("   ", ""),
]


@pytest.mark.parametrize(("raw", "expected"), DATE_CASES)
def test_dates(raw: str, expected: str) -> None:
    assert normalise_date(raw, today=TODAY) == expected


BAD_DATES = [
    ("平成31年5月1日", "past the end of 平成"),
    ("H31.5.1", "past the end of 平成"),
    ("4310501", "past the end of 平成"),
    ("昭和64年1月8日", "past the end of 昭和"),
    ("S64.1.8", "past the end of 昭和"),
    ("大正15年12月25日", "past the end of 大正"),
    ("明治45年7月30日", "past the end of 明治"),
    ("令和元年4月30日", "before the start of 令和"),
    ("平成元年1月7日", "before the start of 平成"),
    ("令和0年5月1日", "era year below 1"),
    ("2019-02-29", "impossible date"),
    ("2019-13-01", "impossible date"),
    ("2019-04-31", "impossible date"),
    ("20190230", "impossible date"),
    ("R5.2.30", "impossible date"),
    ("1800-01-01", "year before 1868"),
    ("2025-06-02", "future"),
    ("R8.1.1", "future"),
    ("19-5-1", "four digits"),
    ("abc", "unrecognised"),
    ("2019年5月", "unrecognised"),
    ("6050401", "unrecognised"),
    ("H310501", "past the end of 平成"),
]


@pytest.mark.parametrize(("raw", "reason"), BAD_DATES)
def test_bad_dates_raise(raw: str, reason: str) -> None:
    with pytest.raises(NormalisationError) as info:
        normalise_date(raw, today=TODAY)
    assert info.value.column == "date_of_birth"
    assert reason in info.value.reason
    assert info.value.severity == "error"
    assert raw not in str(info.value)  # no personal data in the message


def test_today_is_the_boundary() -> None:
    assert normalise_date("2025-06-01", today=TODAY) == "20250601"


def test_placeholder_date_is_a_warning() -> None:
    with pytest.raises(NormalisationError) as info:
        normalise_date("〓", today=TODAY)
    assert info.value.severity == "warning"


def test_column_is_reported() -> None:
    with pytest.raises(NormalisationError) as info:
        normalise_date("x", today=TODAY, column="生年月日")
    assert info.value.column == "生年月日"


SEX_CASES = [
    ("1", "1"),
    ("2", "2"),
    ("１", "1"),
    ("男", "1"),
    ("女", "2"),
    ("男性", "1"),
    ("女性", "2"),
    ("M", "1"),
    ("m", "1"),
    ("F", "2"),
    ("ｆ", "2"),
    ("male", "1"),
    ("Female", "2"),
    ("FEMALE", "2"),
    ("0", ""),
    ("9", ""),
    ("", ""),
    ("  ", ""),
    ("不明", ""),
]


@pytest.mark.parametrize(("raw", "expected"), SEX_CASES)
def test_sex(raw: str, expected: str) -> None:
    assert normalise_sex(raw) == expected


@pytest.mark.parametrize("raw", ["X", "3", "両"])
def test_unrecognised_sex_is_a_warning(raw: str) -> None:
    with pytest.raises(NormalisationError) as info:
        normalise_sex(raw)
    assert info.value.severity == "warning"
