"""Date rule: Gregorian dates in common forms and 和暦 (Japanese era) dates → 'YYYYMMDD'.

Accepted: 2019-05-01, 2019/5/1, 2019.5.1, 20190501, 2019年5月1日 (with an optional time
part as Excel exports write it), full-width digits, kanji numerals; 令和5年4月1日, R5.4.1,
H30/12/31, 令和元年5月1日, S64.1.7, 明治/大正 (M/T), one-kanji era abbreviations (令5.4.1),
7-digit era codes EYYMMDD (1 明治, 2 大正, 3 昭和, 4 平成, 5 令和) and their letter form
(H300401).

Era boundaries are exact: 昭和 ends 1989-01-07, 平成 runs 1989-01-08 … 2019-04-30,
令和 starts 2019-05-01. A date outside its era (平成31年5月1日), an impossible date
(2019-02-30), a year before 1868, or a date after ``today`` raises
:class:`NormalisationError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from encoders.normalise.issues import NormalisationError
from encoders.normalise.numerals import KANJI_NUMERAL_CHARS, kanji_to_int
from encoders.normalise.text import clean_text


@dataclass(frozen=True, slots=True)
class Era:
    """A Japanese era: its name, first day and last day (inclusive; None while current)."""

    name: str
    start: date
    end: date | None


# 明治 is taken to start on 1868-01-01 (明治元年 was declared retroactive to the start of
# the year); dates before the Gregorian calendar (1873) are not distinguished.
ERAS: dict[str, Era] = {
    "明治": Era("明治", date(1868, 1, 1), date(1912, 7, 29)),
    "大正": Era("大正", date(1912, 7, 30), date(1926, 12, 24)),
    "昭和": Era("昭和", date(1926, 12, 25), date(1989, 1, 7)),
    "平成": Era("平成", date(1989, 1, 8), date(2019, 4, 30)),
    "令和": Era("令和", date(2019, 5, 1), None),
}
_ERA_ALIASES = {
    "明治": "明治", "明": "明治", "M": "明治", "1": "明治",
    "大正": "大正", "大": "大正", "T": "大正", "2": "大正",
    "昭和": "昭和", "昭": "昭和", "S": "昭和", "3": "昭和",
    "平成": "平成", "平": "平成", "H": "平成", "4": "平成",
    "令和": "令和", "令": "令和", "R": "令和", "5": "令和",
}  # fmt: skip

_NUM_BODY = rf"\d{{1,4}}|[{KANJI_NUMERAL_CHARS}]+"
_NUM = f"({_NUM_BODY})"
_SEP = r"\s*[-/.年月]\s*"
_TIME = r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
_ERA_NAMES = "|".join(sorted((k for k in _ERA_ALIASES if not k.isdigit()), key=len, reverse=True))

_GREGORIAN_8 = re.compile(r"(\d{4})(\d{2})(\d{2})")
_ERA_CODE_7 = re.compile(r"([1-5])(\d{2})(\d{2})(\d{2})")
_ERA_LETTER_6 = re.compile(r"([MTSHR])(\d{2})(\d{2})(\d{2})")
_GREGORIAN = re.compile(rf"{_NUM}{_SEP}{_NUM}{_SEP}{_NUM}\s*日?{_TIME}")
_WAREKI = re.compile(rf"({_ERA_NAMES})\.?\s*(元|{_NUM_BODY}){_SEP}{_NUM}{_SEP}{_NUM}\s*日?")

DEFAULT_COLUMN = "date_of_birth"


def _number(token: str) -> int:
    return int(token) if token.isdigit() else kanji_to_int(token)


def _make_date(year: int, month: int, day: int, column: str) -> date:
    if year < 1868:
        raise NormalisationError(column, "year before 1868")
    try:
        return date(year, month, day)
    except ValueError:
        raise NormalisationError(column, "impossible date") from None


def wareki_to_date(era_name: str, era_year: int, month: int, day: int, column: str) -> date:
    """Convert an era date; raise when the date lies outside the era."""
    era = ERAS[_ERA_ALIASES[era_name]]
    if era_year < 1:
        raise NormalisationError(column, "era year below 1")
    result = _make_date(era.start.year + era_year - 1, month, day, column)
    if result < era.start:
        raise NormalisationError(column, f"date before the start of {era.name}")
    if era.end is not None and result > era.end:
        raise NormalisationError(column, f"date past the end of {era.name}")
    return result


def _parse(text: str, column: str) -> date:
    if m := _GREGORIAN_8.fullmatch(text):
        return _make_date(int(m[1]), int(m[2]), int(m[3]), column)
    if m := _ERA_CODE_7.fullmatch(text):
        return wareki_to_date(m[1], int(m[2]), int(m[3]), int(m[4]), column)
    if m := _ERA_LETTER_6.fullmatch(text):
        return wareki_to_date(m[1], int(m[2]), int(m[3]), int(m[4]), column)
    if m := _WAREKI.fullmatch(text):
        year = 1 if m[2] == "元" else _number(m[2])
        return wareki_to_date(m[1], year, _number(m[3]), _number(m[4]), column)
    if m := _GREGORIAN.fullmatch(text):
        if len(m[1]) != 4 and not (set(m[1]) <= set(KANJI_NUMERAL_CHARS)):
            raise NormalisationError(column, "year must have four digits")
        return _make_date(_number(m[1]), _number(m[2]), _number(m[3]), column)
    raise NormalisationError(column, "unrecognised date format")


def normalise_date(value: str, *, today: date | None = None, column: str = DEFAULT_COLUMN) -> str:
    """Return the date as 'YYYYMMDD' ('' for a blank value).

    Raises NormalisationError (severity error) for an unrecognised form, an impossible
    date, a date outside its era, or a date after ``today`` (default: the current date);
    a placeholder (〓, ？) gives a warning-severity NormalisationError.
    """
    text, unknown = clean_text(value)
    if unknown:
        raise NormalisationError(column, "placeholder character", "warning")
    if not text:
        return ""
    text = text.upper()
    result = _parse(text, column)
    if result > (today or date.today()):
        raise NormalisationError(column, "date in the future")
    return f"{result.year:04d}{result.month:02d}{result.day:02d}"
