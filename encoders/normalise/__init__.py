"""Japanese identifier normalisation for the department encoder.

One module per rule: :mod:`.text`, :mod:`.kanji`, :mod:`.kana`, :mod:`.dates`,
:mod:`.sex`, :mod:`.address`, :mod:`.names`; :mod:`.record` combines them into the
values of the linkage schema's fields, record by record (the specification), and
:mod:`.chunk` does the same column by column for a chunk of records (what the encoder
runs). See ``docs/normalisation.md``.
"""

from encoders.normalise.address import Address, normalise_address, split_address
from encoders.normalise.chunk import NormalisedColumns, normalise_columns
from encoders.normalise.dates import normalise_date
from encoders.normalise.issues import Issue, NormalisationError
from encoders.normalise.kana import loose_kana, strict_kana
from encoders.normalise.kanji import fold_kanji
from encoders.normalise.names import (
    ALTERNATE_SEPARATOR,
    normalise_kanji_name,
    normalise_roman_name,
    split_full_name,
)
from encoders.normalise.record import (
    DEFAULT_FIELDS,
    NORMALISERS,
    FieldNormaliser,
    NormalisedRecord,
    identity_for,
    normalise_record,
)
from encoders.normalise.sex import normalise_sex
from encoders.normalise.text import clean_text, normalise_text

__all__ = [
    "ALTERNATE_SEPARATOR",
    "DEFAULT_FIELDS",
    "NORMALISERS",
    "Address",
    "FieldNormaliser",
    "Issue",
    "NormalisationError",
    "NormalisedColumns",
    "NormalisedRecord",
    "clean_text",
    "fold_kanji",
    "identity_for",
    "loose_kana",
    "normalise_address",
    "normalise_columns",
    "normalise_date",
    "normalise_kanji_name",
    "normalise_record",
    "normalise_roman_name",
    "normalise_sex",
    "normalise_text",
    "split_address",
    "split_full_name",
    "strict_kana",
]
