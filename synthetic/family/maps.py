"""The family maps (``encode --family``) for the synthetic town's family exports.

One place for the TOML maps that the benchmarks (``benchmarks/family_product.py``) and the
tests encode the exports of :func:`synthetic.family.generate_families` with:

* ``jumin``: 住民記録's two guardian slots ``保護者1_*`` / ``保護者2_*`` (own 宛名番号,
  旧氏, 続柄 mapped 母 → mother, 父 and 養父 → father, 継父 → other);
* ``boshi_ninshin``: the 妊娠届, ``subject = "guardian"`` (the mother) with its pregnancy
  columns (出産予定日, 届出日);
* ``fukushi_fuyo``: 児童扶養手当 payees, ``subject = "guardian"`` with role ``other``.

Only text: this module does not import the encoder (the synthetic data stays independent of
the product's parties); the caller writes the maps and runs ``kakehashi encode``.
"""

from __future__ import annotations

from pathlib import Path

from synthetic.family.exports import FUYO_SPEC, NINSHIN_SPEC

ROLE_VALUES = '{ "母" = "mother", "父" = "father", "養父" = "father", "継父" = "other" }'
"""How 住民記録's ``保護者N_続柄`` values map to the family map's roles."""


def guardian_slot(n: int) -> str:
    """The ``[guardians.gN]`` table for 住民記録's ``保護者N_*`` columns."""
    p = f"保護者{n}_"
    return (
        f'[guardians.g{n}]\nrecord_id = "{p}宛名番号"\nfull_name = "{p}氏名"\n'
        f'full_kana = "{p}氏名_フリガナ"\ndate_of_birth = "{p}生年月日"\nsex = "{p}性別"\n'
        f'address = "{p}住所"\nformer_surname = "{p}旧氏"\nrelationship = "{p}続柄"\n'
        f"relationship_values = {ROLE_VALUES}\n"
    )


JUMIN_MAP = guardian_slot(1) + "\n" + guardian_slot(2)
NINSHIN_MAP = """\
subject = "guardian"
record_id = "管理番号"
[guardians.mother]
full_name = "氏名"
full_kana = "氏名_フリガナ"
date_of_birth = "生年月日"
address = "住所"
former_surname = "旧氏"
[pregnancy]
guardian = "mother"
expected_date = "出産予定日"
notified_date = "届出日"
"""
PAYEE_MAP = """\
subject = "guardian"
record_id = "宛名番号"
[guardians.payee]
role = "other"
full_name = "氏名"
full_kana = "氏名_フリガナ"
date_of_birth = "生年月日"
sex = "性別"
address = "住所"
former_surname = "旧氏"
"""
FAMILY_MAPS: dict[str, str] = {
    "jumin": JUMIN_MAP,
    NINSHIN_SPEC.key: NINSHIN_MAP,
    FUYO_SPEC.key: PAYEE_MAP,
}
"""Body key (as in :meth:`FamilyTown.write_exports`) -> its family map's TOML text."""


def write_family_maps(folder: Path) -> dict[str, Path]:
    """Write each body's family map as ``<body>.family.toml`` into ``folder``; return body
    key -> path. Bodies not listed here (保育, 学校, ...) are encoded without ``--family``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for body, text in FAMILY_MAPS.items():
        path = folder / f"{body}.family.toml"
        path.write_text(text, encoding="utf-8")
        out[body] = path
    return out
