"""Sex rule: the codes departments use → '1' (male) / '2' (female); unknown → ''."""

from __future__ import annotations

from encoders.normalise.issues import NormalisationError
from encoders.normalise.text import clean_text

_CODES = {
    "1": "1", "男": "1", "男性": "1", "男子": "1", "M": "1", "MALE": "1", "BOY": "1",
    "2": "2", "女": "2", "女性": "2", "女子": "2", "F": "2", "FEMALE": "2", "GIRL": "2",
    # ISO/IEC 5218 'not known' / 'not applicable', and spoken forms of unknown.
    "": "", "0": "", "9": "", "不明": "", "未設定": "", "U": "", "UNKNOWN": "", "-": "",
}  # fmt: skip

DEFAULT_COLUMN = "sex"


def normalise_sex(value: str, *, column: str = DEFAULT_COLUMN) -> str:
    """'男'/'M'/'male'/'1' → '1', '女'/'F'/'female'/'2' → '2', '0'/'9'/blank → ''.

    Raises a warning-severity NormalisationError for any other value.
    """
    text, unknown = clean_text(value)
    if unknown:
        raise NormalisationError(column, "placeholder character", "warning")
    code = _CODES.get(text.upper().replace(" ", ""))
    if code is None:
        raise NormalisationError(column, "unrecognised sex code", "warning")
    return code
