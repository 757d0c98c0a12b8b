"""Linkage schemas: a clkhash v3 schema plus Kakehashi's normalisation names per field.

A schema file is JSON. Its clkhash part (``version``, ``clkConfig``, ``features``) is what
clkhash reads; the ``kakehashi`` section names, for each feature identifier, the
normaliser the department encoder applies before hashing, and the default Dice threshold.
The schema is public (the linkage secret is not part of it) and is identified by the
SHA-256 of its canonical JSON form, which every encodings file declares.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from linkage.errors import SchemaError
from linkage.hardening import ORDER, output_bits

DEFAULT_SCHEMA_NAME = "children-v2"

_CLKHASH_KEYS = ("version", "clkConfig", "features")


def canonical_json(document: dict[str, Any]) -> bytes:
    """Serialise ``document`` deterministically (sorted keys, no spaces, UTF-8)."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def schema_id_of(document: dict[str, Any]) -> str:
    """Return the schema id: hex SHA-256 of the canonical JSON form of ``document``."""
    return hashlib.sha256(canonical_json(document)).hexdigest()


@dataclass(frozen=True)
class LinkageSchema:
    """A parsed linkage schema.

    Attributes:
        document: the whole JSON document as loaded.
        schema_id: hex SHA-256 of the canonical document.
    """

    document: dict[str, Any]
    schema_id: str

    @property
    def name(self) -> str:
        return str(self.document.get("kakehashi", {}).get("name", "custom"))

    @property
    def clk_bit_length(self) -> int:
        """Bits of the CLK as hashed (``clkConfig.l``), before any hardening."""
        return int(self.document["clkConfig"]["l"])

    @property
    def bit_length(self) -> int:
        """Bits of an encoding as uploaded: the CLK after the hardening steps."""
        return output_bits(self.clk_bit_length, self.hardening)

    @property
    def hardening(self) -> dict[str, Any]:
        """The ``kakehashi.hardening`` block (validated; empty when there is none)."""
        return dict(self.document.get("kakehashi", {}).get("hardening", {}))

    @property
    def field_names(self) -> list[str]:
        """Feature identifiers in schema order (the column order clkhash expects)."""
        return [str(f["identifier"]) for f in self.document["features"]]

    @property
    def normalisers(self) -> dict[str, str]:
        """Feature identifier -> normaliser name (identity when not given)."""
        fields = self.document.get("kakehashi", {}).get("fields", {})
        return {
            name: str(fields.get(name, {}).get("normaliser", "identity"))
            for name in self.field_names
        }

    @property
    def default_threshold(self) -> float:
        return float(self.document.get("kakehashi", {}).get("default_threshold", 0.8))

    def clkhash_document(self) -> dict[str, Any]:
        """The clkhash v3 part of the schema only, as a deep copy.

        A copy, because clkhash's ``from_json_dict`` edits the dict it is given; on the
        schema's own document that changed its id for every later ``parse_schema``.
        """
        return copy.deepcopy({k: self.document[k] for k in _CLKHASH_KEYS})

    def to_json(self) -> str:
        return json.dumps(self.document, ensure_ascii=False, indent=2)


def parse_schema(document: Any, *, source: str = "schema") -> LinkageSchema:
    """Validate the shape of a schema document and return it with its id.

    Raises:
        SchemaError: when required parts are missing or malformed; the message names them.
    """
    if not isinstance(document, dict):
        raise SchemaError(f"{source}: a linkage schema must be a JSON object")
    missing = [k for k in _CLKHASH_KEYS if k not in document]
    if missing:
        raise SchemaError(f"{source}: missing clkhash schema key(s): {', '.join(missing)}")
    if document.get("version") != 3:
        raise SchemaError(f"{source}: only clkhash linkage schema version 3 is supported")
    try:
        bits = int(document["clkConfig"]["l"])
    except (KeyError, TypeError, ValueError) as exc:
        raise SchemaError(f"{source}: clkConfig.l (bit length) is missing or not a number") from exc
    if bits <= 0 or bits % 64:
        raise SchemaError(f"{source}: bit length {bits} must be a positive multiple of 64")
    features = document["features"]
    if not isinstance(features, list) or not features:
        raise SchemaError(f"{source}: features must be a non-empty list")
    seen: set[str] = set()
    for index, feature in enumerate(features):
        if not isinstance(feature, dict) or "identifier" not in feature:
            raise SchemaError(f"{source}: feature #{index} has no identifier")
        ident = str(feature["identifier"])
        if ident in seen:
            raise SchemaError(f"{source}: feature identifier {ident!r} appears twice")
        seen.add(ident)
    threshold = document.get("kakehashi", {}).get("default_threshold", 0.8)
    if not isinstance(threshold, int | float) or not 0 < threshold <= 1:
        raise SchemaError(f"{source}: kakehashi.default_threshold must be in (0, 1]")
    _check_hardening(document.get("kakehashi", {}).get("hardening"), seen, bits, source)
    return LinkageSchema(document=document, schema_id=schema_id_of(document))


def _check_hardening(block: Any, fields: set[str], bits: int, source: str) -> None:
    """Validate a ``kakehashi.hardening`` block (see ``linkage.hardening``); None is none."""
    if block is None:
        return
    where = f"{source}: kakehashi.hardening"
    if not isinstance(block, dict):
        raise SchemaError(f"{where} must be a JSON object")
    unknown = sorted(set(block) - set(ORDER))
    if unknown:
        raise SchemaError(
            f"{where}: unknown step(s) {', '.join(unknown)}; known: {', '.join(ORDER)}"
        )
    if "salt" in block:
        salt = block["salt"]
        if not isinstance(salt, dict):
            raise SchemaError(f"{where}.salt must be an object with field, chars, fields")
        if salt.get("field") not in fields:
            raise SchemaError(f"{where}.salt.field {salt.get('field')!r} is not a feature")
        chars = salt.get("chars")
        if isinstance(chars, bool) or not isinstance(chars, int) or chars < 1:
            raise SchemaError(f"{where}.salt.chars must be a positive integer")
        salted = salt.get("fields")
        if not isinstance(salted, list) or not salted:
            raise SchemaError(f"{where}.salt.fields must be a non-empty list of features")
        bad = [f for f in salted if f not in fields or f == salt.get("field")]
        if bad:
            raise SchemaError(
                f"{where}.salt.fields: {bad!r} are not features or are the salt field itself"
            )
    for flag in ("balance", "permute", "rule90"):
        if flag in block and not isinstance(block[flag], bool):
            raise SchemaError(f"{where}.{flag} must be true or false")
    if "xor_fold" in block:
        folds = block["xor_fold"]
        if isinstance(folds, bool) or not isinstance(folds, int) or folds < 0:
            raise SchemaError(f"{where}.xor_fold must be a non-negative integer")
        if (bits >> folds) % 64 or bits % (1 << folds):
            raise SchemaError(
                f"{where}.xor_fold: {bits} bits folded {folds} times is not a multiple of 64"
            )
    if "diffuse" in block:
        taps = block["diffuse"].get("taps") if isinstance(block["diffuse"], dict) else None
        if isinstance(taps, bool) or not isinstance(taps, int) or not 2 <= taps <= 64:
            raise SchemaError(f"{where}.diffuse.taps must be an integer from 2 to 64")
    if "noise" in block:
        nbits = block["noise"].get("bits") if isinstance(block["noise"], dict) else None
        if isinstance(nbits, bool) or not isinstance(nbits, int) or not 1 <= nbits <= 64:
            raise SchemaError(f"{where}.noise.bits must be an integer from 1 to 64")
    if "blip" in block:
        eps = block["blip"].get("epsilon") if isinstance(block["blip"], dict) else None
        if isinstance(eps, bool) or not isinstance(eps, int | float) or not 0 < eps <= 50:
            raise SchemaError(f"{where}.blip.epsilon must be a number in (0, 50]")


BUILTIN_SCHEMAS = ("children-v1", "children-v2")
"""Schemas shipped in ``linkage/schemas/``; older ones stay loadable for old projects."""


def builtin_schema(name: str) -> LinkageSchema:
    """A shipped schema by name (e.g. ``children-v1``, unhardened, for existing projects)."""
    if name not in BUILTIN_SCHEMAS:
        raise SchemaError(f"no built-in schema {name!r}; shipped: {', '.join(BUILTIN_SCHEMAS)}")
    text = resources.files("linkage.schemas").joinpath(f"{name}.json").read_text(encoding="utf-8")
    return parse_schema(json.loads(text), source=f"built-in schema {name}")


def load_schema(path: str | Path | None = None) -> LinkageSchema:
    """Load a schema file, or the shipped default (children's records) when ``path`` is None."""
    if path is None:
        return builtin_schema(DEFAULT_SCHEMA_NAME)
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise SchemaError(f"{source}: cannot read schema file ({exc.strerror})") from exc
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SchemaError(f"{source}: not valid JSON (line {exc.lineno}: {exc.msg})") from exc
    return parse_schema(document, source=source)


def default_schema() -> LinkageSchema:
    """The shipped schema for children's records."""
    return load_schema(None)
