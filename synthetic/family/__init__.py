"""Synthetic families: guardians, households and pregnancies of the synthetic city.

    >>> from synthetic.family import generate_families
    >>> town = generate_families(2000, seed=0, error_level="normal")
    >>> paths = town.write_exports(Path("out"))  # doctest: +SKIP

Builds on :func:`synthetic.generate` (the five children's bodies, unchanged except for
住民記録's added columns) and adds the records that are about a guardian. Entirely
synthetic; no personal data of real people.

Exports and their columns
-------------------------
``jumin.csv`` (住民記録, UTF-8): the children's columns as before (``宛名番号, 氏名,
氏名_フリガナ, 生年月日, 性別, 住所, 旧氏, 通称, 氏名_外国人ローマ字``), then

* ``世帯番号`` — household number (8 digits, one per 世帯);
* ``続柄`` — the child's relation to the householder: ``子`` or ``妻の子`` (step-child);
* for ``N`` in 1, 2 (``保護者2_*`` empty for a single parent): ``保護者N_宛名番号`` (the
  guardian's own 宛名番号 in 住民記録: the same person has the same id on every child's
  row — encode one guardian CLK per distinct id), ``保護者N_氏名``, ``保護者N_氏名_フリガナ``,
  ``保護者N_生年月日``, ``保護者N_性別``, ``保護者N_住所``, ``保護者N_旧氏`` (only when the
  guardian registered a 旧氏, ~15 %), ``保護者N_続柄`` — the guardian's relation to the
  child: ``母``, ``父``, ``養父`` (step-father who adopted) or ``継父`` (step-father who
  did not). Values are written like the child's (same date, kana and address styles).

``boshi_ninshin.csv`` (母子保健 妊娠届, CP932): one row per notified pregnancy, about the
mother as she was at notification: ``管理番号`` (record id), ``氏名``, ``氏名_フリガナ``,
``生年月日`` (the mother's), ``住所``, ``旧氏`` (sometimes, when her surname changed),
``出産予定日`` (expected date of birth, ISO like the body's other dates, sometimes another
style), ``届出日``. There is no ``性別`` column: a pregnancy record is about a woman, so the
encoder should give ``sex`` the value 女 for this file.

``fukushi_fuyo.csv`` (福祉 児童扶養手当, CP932): one row per payee (single parents):
``宛名番号``, ``氏名``, ``氏名_フリガナ``, ``生年月日``, ``性別``, ``住所``, ``旧氏``, ``手当``
(always 児童扶養手当), ``対象児童数``.

Ground truth (:class:`FamilyTown`): ``families`` (:class:`Families`): guardians, each
child's guardians, each pregnancy's children and status, family types;
:meth:`FamilyTown.write_family_truth` writes it as CSV files.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, replace
from pathlib import Path

from synthetic import files
from synthetic.errors import ERROR_LEVELS
from synthetic.family.exports import (
    FUYO_SPEC,
    GUARDIAN_COLUMNS,
    JUMIN_FAMILY_COLUMNS,
    NINSHIN_SPEC,
    jumin_with_guardians,
    payee_export,
    pregnancy_export,
)
from synthetic.family.truth import (
    FAMILY_TYPES,
    Families,
    FamilyRates,
    Guardian,
    Pregnancy,
    build_families,
)
from synthetic.municipality import BodyExport, Municipality, generate, sub_rng

FAMILY_BODIES = (NINSHIN_SPEC.key, FUYO_SPEC.key)


@dataclass
class FamilyTown:
    """A synthetic town with families.

    Attributes:
        town: the children's municipality; ``town.bodies['jumin']`` carries the guardian
            columns.
        families: the family truth.
        bodies: ``boshi_ninshin`` and ``fukushi_fuyo`` exports (``person_ids``: the
            mother's / payee's guardian person id).
    """

    town: Municipality
    families: Families
    bodies: dict[str, BodyExport]

    def all_bodies(self) -> dict[str, BodyExport]:
        """The children's bodies and the family bodies, export order."""
        return {**self.town.bodies, **self.bodies}

    def write_exports(self, folder: Path) -> dict[str, Path]:
        """Write every body's file into ``folder``; return body key -> path."""
        return files.write_exports(self.all_bodies(), folder)

    def write_family_truth(self, folder: Path) -> dict[str, Path]:
        """Write ``pregnancy_truth.csv`` (``record_id,mother_id,status,children``),
        ``guardian_truth.csv`` (``child_id,guardian_id,relation``) and
        ``household_truth.csv`` (``child_id,household``) into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        out = {}
        fam = self.families
        tables = {
            "pregnancy_truth.csv": (
                ("record_id", "mother_id", "status", "children"),
                [
                    (p.record_id, p.mother_id, p.status, " ".join(p.children))
                    for p in fam.pregnancies
                ],
            ),
            "guardian_truth.csv": (
                ("child_id", "guardian_id", "relation"),
                [(c, g, rel) for c, gs in fam.child_guardians.items() for g, rel in gs],
            ),
            "household_truth.csv": (
                ("child_id", "household"),
                [(c, str(h)) for c, h in fam.household_of().items()],
            ),
        }
        for name, (header, rows) in tables.items():
            path = folder / name
            with path.open("w", encoding="utf-8", newline="") as fh:
                writer = csv.writer(fh, lineterminator="\n")
                writer.writerow(header)
                writer.writerows(rows)
            out[name] = path
        return out


def generate_families(
    n_children: int = 2000,
    *,
    seed: int = 0,
    error_level: str = "normal",
    rates: FamilyRates | None = None,
    twins: float = 0.02,
) -> FamilyTown:
    """Generate a synthetic town of ``n_children`` children with their families.

    Same arguments -> identical exports and truth. ``clean`` has no family events that
    make records differ (no surname change after a pregnancy, no re-dated expected date,
    no lost pregnancy), besides the children's ``clean`` level. ``twins``: share of
    households with twins (:func:`synthetic.generate`).
    """
    town = generate(n_children, seed=seed, error_level=error_level, twins=twins)
    err = ERROR_LEVELS[error_level]
    fam_rates = rates or FamilyRates(events=0.0 if error_level == "clean" else 1.0)
    if error_level == "clean":
        fam_rates = replace(fam_rates, moved_after=0.0)
    persons = {p.person_id: p for p in town.persons}
    jumin = town.bodies["jumin"]
    fam = build_families(
        town.persons,
        sub_rng(seed, "family:truth"),
        fam_rates,
        id_taken=set(jumin.record_ids),
    )
    town.bodies["jumin"] = jumin_with_guardians(
        jumin, persons, fam, sub_rng(seed, "family:jumin"), err
    )
    bodies = {
        NINSHIN_SPEC.key: pregnancy_export(fam, sub_rng(seed, "family:ninshin"), err),
        FUYO_SPEC.key: payee_export(fam, persons, sub_rng(seed, "family:fuyo"), err),
    }
    return FamilyTown(town, fam, bodies)


__all__ = [
    "FAMILY_BODIES",
    "FAMILY_TYPES",
    "FUYO_SPEC",
    "GUARDIAN_COLUMNS",
    "JUMIN_FAMILY_COLUMNS",
    "NINSHIN_SPEC",
    "Families",
    "FamilyRates",
    "FamilyTown",
    "Guardian",
    "Pregnancy",
    "generate_families",
]
