"""Name pools for the synthetic municipality.

Japanese names come from the ``gimei`` package's ``names.yml`` (MIT licence): each entry is
``[kanji, hiragana, katakana]``. The surname list is roughly in order of frequency, so
surnames are drawn with Zipf-like weights by rank; the given-name lists are alphabetical,
so each given name gets a fixed log-normal popularity weight (seeded, independent of the
generator's seed) to give a realistic long tail with a few popular names.

Foreign residents' names are small hand-written pools of common surnames and given names
per nationality, combined at random (no real person is described).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate
from pathlib import Path

import yaml


@dataclass(frozen=True)
class NameEntry:
    """One name: kanji (or the script it is written in) and its katakana reading."""

    kanji: str
    kana: str


@dataclass(frozen=True)
class WeightedPool:
    """Entries with cumulative weights for ``random.Random.choices``."""

    entries: tuple[NameEntry, ...]
    cum_weights: tuple[float, ...]

    def draw(self, rng: random.Random) -> NameEntry:
        """Draw one entry according to the weights."""
        return rng.choices(self.entries, cum_weights=self.cum_weights, k=1)[0]


def _pool(entries: list[NameEntry], weights: list[float]) -> WeightedPool:
    return WeightedPool(tuple(entries), tuple(accumulate(weights)))


@lru_cache(maxsize=1)
def japanese_pools() -> dict[str, WeightedPool]:
    """Pools ``surname``, ``male``, ``female`` built from gimei's name list."""
    import gimei

    path = Path(gimei.__file__).parent / "data" / "names.yml"
    with path.open(encoding="utf-8") as fh:
        data = yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    seen: set[str] = set()
    surnames: list[NameEntry] = []
    for kanji, _hira, kata in data["last_name"]:
        if kanji not in seen:  # the list repeats a few names
            seen.add(kanji)
            surnames.append(NameEntry(str(kanji), str(kata)))
    pools = {"surname": _pool(surnames, [1.0 / (r + 8) ** 1.05 for r in range(len(surnames))])}
    popularity = random.Random(20240401)
    for sex in ("male", "female"):
        given = [NameEntry(str(k), str(kt)) for k, _h, kt in data["first_name"][sex]]
        pools[sex] = _pool(given, [popularity.lognormvariate(0.0, 1.3) for _ in given])
    return pools


# Foreign residents: (roman, katakana, kanji-or-empty). Kanji only where the nationality
# writes names in kanji (registered with the kanji in 氏名).
_FOREIGN: dict[str, dict[str, list[tuple[str, str, str]]]] = {
    "VN": {
        "surname": [
            ("NGUYEN", "グエン", ""),
            ("TRAN", "チャン", ""),
            ("LE", "レ", ""),
            ("PHAM", "ファム", ""),
            ("HOANG", "ホアン", ""),
            ("VU", "ヴー", ""),
        ],
        "male": [
            ("VAN NAM", "ヴァン ナム", ""),
            ("MINH DUC", "ミン ドゥック", ""),
            ("QUANG HUY", "クアン フイ", ""),
            ("BAO", "バオ", ""),
        ],
        "female": [
            ("THI LAN", "ティ ラン", ""),
            ("NGOC ANH", "ゴック アイン", ""),
            ("THU HA", "トゥー ハー", ""),
            ("MAI", "マイ", ""),
        ],
    },
    "PH": {
        "surname": [
            ("SANTOS", "サントス", ""),
            ("REYES", "レイエス", ""),
            ("CRUZ", "クルス", ""),
            ("GARCIA", "ガルシア", ""),
        ],
        "male": [("JOSE", "ホセ", ""), ("MIGUEL", "ミゲル", ""), ("ANGELO", "アンジェロ", "")],
        "female": [
            ("MARIA", "マリア", ""),
            ("ANGELICA", "アンジェリカ", ""),
            ("JASMINE", "ジャスミン", ""),
        ],
    },
    "BR": {
        "surname": [
            ("SILVA", "シルバ", ""),
            ("OLIVEIRA", "オリベイラ", ""),
            ("SOUZA", "ソウザ", ""),
            ("PEREIRA", "ペレイラ", ""),
        ],
        "male": [
            ("LUCAS", "ルーカス", ""),
            ("GABRIEL", "ガブリエル", ""),
            ("MATEUS", "マテウス", ""),
        ],
        "female": [("ANA", "アナ", ""), ("JULIA", "ジュリア", ""), ("BEATRIZ", "ベアトリス", "")],
    },
    "NP": {
        "surname": [
            ("GURUNG", "グルン", ""),
            ("SHRESTHA", "シュレスタ", ""),
            ("TAMANG", "タマン", ""),
            ("RAI", "ライ", ""),
        ],
        "male": [("ANISH", "アニシュ", ""), ("BIKASH", "ビカシュ", ""), ("SUMAN", "スマン", "")],
        "female": [("SITA", "シータ", ""), ("ANJALI", "アンジャリ", ""), ("PUJA", "プジャ", "")],
    },
    "CN": {
        "surname": [
            ("WANG", "ワン", "王"),
            ("LI", "リー", "李"),
            ("ZHANG", "チャン", "張"),
            ("LIU", "リュウ", "劉"),
            ("CHEN", "チェン", "陳"),
        ],
        "male": [
            ("HAORAN", "ハオラン", "浩然"),
            ("YUXUAN", "ユーシュエン", "宇軒"),
            ("WEI", "ウェイ", "偉"),
        ],
        "female": [
            ("ZIHAN", "ズーハン", "子涵"),
            ("XINYI", "シンイー", "欣怡"),
            ("JING", "ジン", "静"),
        ],
    },
    "KR": {
        "surname": [
            ("KIM", "キム", "金"),
            ("PARK", "パク", "朴"),
            ("LEE", "イ", "李"),
            ("CHOI", "チェ", "崔"),
        ],
        "male": [
            ("MINJUN", "ミンジュン", "民俊"),
            ("JIHO", "ジホ", "智浩"),
            ("SEOJUN", "ソジュン", "瑞俊"),
        ],
        "female": [
            ("SEOYEON", "ソヨン", "瑞妍"),
            ("JIWOO", "ジウ", "智友"),
            ("HAEUN", "ハウン", "夏恩"),
        ],
    },
}
NATIONALITY_WEIGHTS: dict[str, float] = {
    "CN": 0.28,
    "VN": 0.24,
    "KR": 0.14,
    "PH": 0.12,
    "BR": 0.12,
    "NP": 0.10,
}


@dataclass(frozen=True)
class ForeignName:
    """A foreign resident's name part: roman letters, katakana, kanji ('' if none)."""

    roman: str
    kana: str
    kanji: str


def foreign_name(rng: random.Random, nationality: str, part: str) -> ForeignName:
    """Draw a ``part`` ('surname', 'male', 'female') for a ``nationality`` code."""
    roman, kana, kanji = rng.choice(_FOREIGN[nationality][part])
    return ForeignName(roman, kana, kanji)
