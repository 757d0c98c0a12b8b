"""How bodies write dates, addresses and sex codes."""

from __future__ import annotations

from datetime import date

from synthetic.population import CITY, Address

_ERAS = (
    ("令和", "R", 5, date(2019, 5, 1)),
    ("平成", "H", 4, date(1989, 1, 8)),
    ("昭和", "S", 3, date(1926, 12, 25)),  # guardians' birth dates (synthetic/family)
    ("大正", "T", 2, date(1912, 7, 30)),  # a mistyped year of a guardian's birth date
    ("明治", "M", 1, date(1868, 1, 25)),
)
DATE_STYLES = (
    "iso", "slash", "slash_nopad", "compact", "wareki_kanji", "wareki_dot",
    "wareki_slash", "era_code7",
)  # fmt: skip


def _era(d: date) -> tuple[str, str, int, int]:
    for name, letter, code, start in _ERAS:
        if d >= start:
            return name, letter, code, d.year - start.year + 1
    raise ValueError(f"no era for {d}")


def format_date(d: date, style: str) -> str:
    """Write ``d`` in one of :data:`DATE_STYLES`.

    ``wareki_kanji``: 令和5年4月1日 (元年 for year 1); ``wareki_dot``: R5.4.1;
    ``wareki_slash``: H30/12/31; ``era_code7``: 5050401 (era code, YYMMDD).
    """
    if style == "iso":
        return d.isoformat()
    if style == "slash":
        return f"{d.year}/{d.month:02d}/{d.day:02d}"
    if style == "slash_nopad":
        return f"{d.year}/{d.month}/{d.day}"
    if style == "compact":
        return d.strftime("%Y%m%d")
    name, letter, code, year = _era(d)
    if style == "wareki_kanji":
        return f"{name}{'元' if year == 1 else year}年{d.month}月{d.day}日"
    if style == "wareki_dot":
        return f"{letter}{year}.{d.month}.{d.day}"
    if style == "wareki_slash":
        return f"{letter}{year:02d}/{d.month:02d}/{d.day:02d}"
    if style == "era_code7":
        return f"{code}{year:02d}{d.month:02d}{d.day:02d}"
    raise ValueError(f"unknown date style {style!r}")


_KANJI_NUM = "〇一二三四五六七八九"


def _kanji_number(n: int) -> str:
    if n < 10:
        return _KANJI_NUM[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else _KANJI_NUM[tens]) + "十" + (_KANJI_NUM[ones] if ones else "")


ADDRESS_STYLES = ("jumin", "ban_go", "hyphen", "hyphen_nocity")


def format_address(a: Address, style: str) -> str:
    """Write an address.

    ``jumin``: 架橋市桜台二丁目12番地3　架橋ハイツ201号室; ``ban_go``: 架橋市桜台2丁目12番3号;
    ``hyphen``: 架橋市桜台2-12-3 架橋ハイツ201; ``hyphen_nocity``: 桜台2-12-3 架橋ハイツ 201.
    """
    if style == "jumin":
        chome = f"{_kanji_number(a.chome)}丁目" if a.chome else ""
        main = f"{CITY}{a.town}{chome}{a.banchi}番地{a.go}"
        return f"{main}　{a.building}{a.room}号室" if a.building else main
    if style == "ban_go":
        chome = f"{a.chome}丁目" if a.chome else ""
        main = f"{CITY}{a.town}{chome}{a.banchi}番{a.go}号"
        return f"{main} {a.building}{a.room}号室" if a.building else main
    nums = f"{a.chome}-{a.banchi}-{a.go}" if a.chome else f"{a.banchi}-{a.go}"
    if style == "hyphen":
        main = f"{CITY}{a.town}{nums}"
        return f"{main} {a.building}{a.room}" if a.building else main
    if style == "hyphen_nocity":
        main = f"{a.town}{nums}"
        return f"{main} {a.building} {a.room}" if a.building else main
    raise ValueError(f"unknown address style {style!r}")


def format_sex(sex: str, style: str) -> str:
    """``kanji``: 男/女; ``code``: 1/2; ``kanji_sei``: 男性/女性."""
    male = sex == "M"
    if style == "kanji":
        return "男" if male else "女"
    if style == "code":
        return "1" if male else "2"
    if style == "kanji_sei":
        return "男性" if male else "女性"
    raise ValueError(f"unknown sex style {style!r}")
