"""Linkage methods compared on exactly the same records.

* :func:`status_quo` — what many municipalities do today: exact match on the kanji name
  as recorded (whitespace stripped) and the birth date as recorded (Gregorian forms only).
* :class:`SplinkMethod` — plaintext probabilistic linkage (Splink, DuckDB backend) on the
  fields the department encoder's normalisation produces.
* :class:`PprlMethod` — Kakehashi end to end: ``encoders.pipeline.encode_rows`` per body,
  then ``linkage.engine.link`` on the CLKs.

Every method returns a *prediction*: ``(body, record_id) -> group token``. Records are
canonical records (``docs/architecture.md`` keys) read from the written exports by the
department reader (:func:`read_exports`), so encodings, headers and CP932 are exercised.
"""

from __future__ import annotations

import re
import time
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

Records = dict[str, list[dict[str, str]]]
"""Body key -> canonical records (each has ``record_id``)."""
Prediction = dict[tuple[str, str], Hashable]


def read_exports(paths: Mapping[str, Path]) -> Records:
    """Read each body's export with the department reader and standard column mapping."""
    from encoders.columns import resolve_columns
    from encoders.readers import open_table

    out: Records = {}
    for body, path in paths.items():
        with open_table(path) as table:
            plan = resolve_columns(table.headers, file_label=table.file)
            out[body] = [plan.record(cells) for _, cells in table]
    return out


# -- status quo -----------------------------------------------------------------------------
_WS = re.compile(r"[\s\u3000]+")
_GREGORIAN = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})$|^(\d{4})(\d{2})(\d{2})$")


def _gregorian(text: str) -> date | None:
    m = _GREGORIAN.match(text.strip())
    if m is None:
        return None
    y, mo, d = (int(g) for g in (m.groups()[:3] if m.group(1) else m.groups()[3:]))
    try:
        return date(y, mo, d)
    except ValueError:
        return None


def _kanji_name(rec: Mapping[str, str]) -> str:
    name = rec.get("full_name") or (rec.get("surname", "") + rec.get("given_name", ""))
    return _WS.sub("", name)


def status_quo(records: Records) -> Prediction:
    """Exact match on (name as recorded, whitespace stripped; Gregorian birth date).

    Records whose birth date is not written in a Gregorian form, or whose name is empty,
    stay singletons.
    """
    pred: Prediction = {}
    for body, recs in records.items():
        for rec in recs:
            key = (body, rec["record_id"])
            name, dob = _kanji_name(rec), _gregorian(rec.get("date_of_birth", ""))
            pred[key] = ("sq", name, dob) if name and dob else ("single", *key)
    return pred


# -- normalised plaintext ----------------------------------------------------------------------
def normalised_records(records: Records, *, today: date) -> dict[str, list[dict[str, Any]]]:
    """The schema field values of every record (``encoders.normalise.normalise_record``).

    Alternates (旧氏/通称, joined with ``|``) are split: ``surname`` keeps the current
    value, ``surname_alt`` the alternates. Empty values become None (null in Splink).
    """
    from encoders.normalise import ALTERNATE_SEPARATOR, normalise_record

    out: dict[str, list[dict[str, Any]]] = {}
    for body, recs in records.items():
        rows = []
        for rec in recs:
            values = normalise_record(rec, today=today).values
            row: dict[str, Any] = {"record_id": rec["record_id"]}
            for name, value in values.items():
                first, *alts = value.split(ALTERNATE_SEPARATOR) if value else [""]
                row[name] = first or None
                if name in ("surname", "given_name"):
                    row[f"{name}_alt"] = ALTERNATE_SEPARATOR.join(alts) or None
            rows.append(row)
        out[body] = rows
    return out


@dataclass
class MethodRun:
    """A fitted method: ``predict(threshold)`` and what preparing it cost."""

    name: str
    thresholds: Sequence[float]
    timings: dict[str, float] = field(default_factory=dict)

    def predict(self, threshold: float) -> Prediction:  # pragma: no cover - abstract
        raise NotImplementedError


# -- Splink ---------------------------------------------------------------------------------
class SplinkMethod(MethodRun):
    """Splink link-only model over all bodies, trained unsupervised (u by sampling, m by EM).

    Clusters with ``cluster_using_single_best_links`` (at most one record per body, like
    Kakehashi). Thresholds are match probabilities.
    """

    def __init__(
        self,
        norm: Mapping[str, list[dict[str, Any]]],
        *,
        thresholds: Sequence[float] = (0.5, 0.8, 0.9, 0.95, 0.99, 0.999),
        seed: int = 1,
    ) -> None:
        super().__init__("splink", thresholds)
        import pandas as pd
        import splink.comparison_library as cl
        from splink import DuckDBAPI, Linker, SettingsCreator, block_on

        t0 = time.perf_counter()
        self._bodies = list(norm)
        db = DuckDBAPI()
        frames = [
            db.register(pd.DataFrame(norm[b]).astype(object), dataset_display_name=b)
            for b in self._bodies
        ]
        settings = SettingsCreator(
            link_type="link_only",
            unique_id_column_name="record_id",
            comparisons=[
                cl.LevenshteinAtThresholds("surname", [1]),
                cl.LevenshteinAtThresholds("given_name", [1]),
                cl.LevenshteinAtThresholds("surname_kana_strict", [1, 2]),
                cl.LevenshteinAtThresholds("given_kana_strict", [1, 2]),
                cl.LevenshteinAtThresholds("date_of_birth", [1, 2]),
                cl.ExactMatch("sex"),
                cl.LevenshteinAtThresholds("address", [2, 5]),
                cl.ExactMatch("roman_name"),
            ],
            blocking_rules_to_generate_predictions=[
                block_on("date_of_birth"),
                block_on("given_kana_loose", "surname_kana_loose"),
                block_on("given_name", "surname"),
                block_on("given_kana_loose", "address"),
                block_on("roman_name"),
            ],
            retain_intermediate_calculation_columns=False,
        )
        self._linker = Linker(frames, settings, log_level=None)
        train = self._linker.training
        train.estimate_probability_two_random_records_match(
            [block_on("given_name", "surname", "date_of_birth")], recall=0.8
        )
        train.estimate_u_using_random_sampling(max_pairs=2e6, seed=seed)
        train.estimate_parameters_using_expectation_maximisation(
            block_on("date_of_birth"), record_sample_proportion=1.0
        )
        train.estimate_parameters_using_expectation_maximisation(
            block_on("given_kana_loose", "surname_kana_loose"), record_sample_proportion=1.0
        )
        self.timings["train_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        self._pairs = self._linker.inference.predict(threshold_match_probability=min(thresholds))
        self.timings["predict_s"] = time.perf_counter() - t0

    def predict(self, threshold: float) -> Prediction:
        """Clusters at match probability ``threshold``: (body, record_id) -> cluster id."""
        clusters = self._linker.clustering.cluster_using_single_best_links(
            self._pairs,
            duplicate_free_datasets=self._bodies,
            threshold_match_probability=threshold,
        ).as_pandas_dataframe()
        return {
            (str(b), str(r)): str(c)
            for b, r, c in zip(
                clusters["source_dataset"],
                clusters["record_id"],
                clusters["cluster_id"],
                strict=True,
            )
        }


# -- Kakehashi PPRL -------------------------------------------------------------------------
class PprlMethod(MethodRun):
    """Kakehashi end to end: encode each body's records, link the CLKs at a Dice threshold."""

    def __init__(
        self,
        records: Records,
        *,
        today: date,
        secret: bytes = b"kakehashi-benchmark-secret-32byt",
        schema: Any = None,
        thresholds: Sequence[float] = (0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95),
    ) -> None:
        super().__init__("kakehashi", thresholds)
        from encoders.pipeline import encode_rows
        from linkage.schema import default_schema

        schema = schema or default_schema()
        t0 = time.perf_counter()
        self._bodies = list(records)
        self._clks = []
        self._ids: list[list[str]] = []
        self.rejected = 0
        for body in self._bodies:
            recs = records[body]
            enc = encode_rows(recs, schema, secret, today=today)
            self._clks.append(enc.clks)
            self._ids.append([recs[int(i)]["record_id"] for i in enc.index])
            self.rejected += len(recs) - len(enc.index)
        self.timings["encode_s"] = time.perf_counter() - t0
        self.timings["link_s"] = 0.0

    def predict(self, threshold: float) -> Prediction:
        """Groups at Dice ``threshold``; rejected records are left out (singletons)."""
        from linkage.engine import link

        t0 = time.perf_counter()
        result = link(self._clks, threshold=threshold)
        self.timings["link_s"] += time.perf_counter() - t0
        pred: Prediction = {}
        for body, ids, groups in zip(self._bodies, self._ids, result.group_of, strict=True):
            for rid, g in zip(ids, groups.tolist(), strict=True):
                pred[(body, rid)] = int(g)
        return pred
