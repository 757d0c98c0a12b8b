"""Support signals: the catalogue a project declares and the sealed per-record payload.

Shared by the three parties and pure (no network, no database):

* the **catalogue** — which signals may be shared in a project, each with a code, a
  Japanese label, the one body allowed to send it, its value type and its purpose
  (目的). The coordinator writes it (JSON or TOML), the server stores and versions it and
  enforces it *by code* without reading any value, bodies validate their values with it;
* the **sealed payload** — one ciphertext per record, encrypted to the coordinator's
  public key with HPKE (RFC 9180, base mode: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
  AES-256-GCM, from ``cryptography``). The HPKE ``info`` binds each ciphertext to the
  project, the body, the record's ref, the catalogue version, the key fingerprint and the
  upload's declared code set, so a ciphertext moved to another ref, body or project (or
  replayed under another catalogue or key) fails authentication.

Payload shape (before sealing), fixed size for a given declared code set::

    uint16 big-endian n | n bytes of compact JSON: [value-or-null per declared code] | zeros

so every record of an upload — with or without signals — has a ciphertext of exactly
``ciphertext_size(specs)`` bytes: ``32`` (encapsulated key) + ``payload_size(specs)`` +
``16`` (tag). The server can check that size, and learns nothing from it that the
declared code set does not already say.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, Literal, cast

from linkage.errors import LinkageError

ValueType = Literal["flag", "category", "date", "yearmonth", "count"]
SignalValue = bool | str | int

VALUE_TYPES: tuple[str, ...] = ("flag", "category", "date", "yearmonth", "count")
MAX_SIGNALS = 64
MAX_CATEGORIES = 32
COUNT_MAX = 999_999
MIN_YEAR, MAX_YEAR = 1868, 2199
SEAL_FORMAT = "kakehashi-signals/1"
ENC_BYTES = 32  # X25519 encapsulated key
TAG_BYTES = 16  # AES-GCM tag
_CODE = re.compile(r"[^\s,;\"'\\\x00-\x1f\x7f]{1,64}")

_TRUE = frozenset(
    ["1", "true", "t", "yes", "y", "あり", "有", "有り", "はい", "該当", "○", "〇", "◯", "レ", "✓"]
)
_FALSE = frozenset(
    ["0", "false", "f", "no", "n", "なし", "無", "無し", "いいえ", "非該当", "×", "-", "ー"]
)
_YM = re.compile(r"(\d{4})\s*(?:[-/.年]\s*)?(\d{1,2})\s*月?")
_YMD = re.compile(
    r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?|(\d{4})(\d{2})(\d{2})"
)


class CatalogueError(LinkageError):
    """A signal catalogue is malformed; the message says which signal and which field."""


class SignalSealError(LinkageError):
    """Values cannot be sealed (not in the catalogue, wrong type) or a payload is malformed."""


class SignalAuthError(LinkageError):
    """A ciphertext failed authentication: wrong key, or moved to another ref/body/project."""


def _clean(raw: str) -> str:
    return unicodedata.normalize("NFKC", raw).strip()


@dataclass(frozen=True)
class SignalSpec:
    """One signal a project allows.

    Attributes:
        code: short identifier used in files, headers and rules (no spaces or commas).
        label: Japanese label shown to people, e.g. ``乳幼児健診未受診``.
        body: the one body allowed to send it (a project body name).
        value_type: ``flag`` (bool), ``category`` (one of ``categories``), ``date``
            (``YYYY-MM-DD``), ``yearmonth`` (``YYYY-MM``) or ``count`` (int 0…999999).
        categories: the allowed values of a ``category`` signal (empty otherwise).
        purpose: one sentence: why this signal is shared (目的).
    """

    code: str
    label: str
    body: str
    value_type: ValueType
    categories: tuple[str, ...] = ()
    purpose: str = ""

    def parse_value(self, raw: str) -> SignalValue:
        """A cell's text -> the typed value; ValueError with a clear message otherwise.

        flag: 1/0, true/false, yes/no, あり/なし, 有/無, 該当/非該当, ○/× …;
        category: one of the categories (after NFKC); date: ``YYYY-MM-DD``, ``YYYY/M/D``,
        ``YYYYMMDD``, ``YYYY年M月D日`` (convert 和暦 before calling this);
        yearmonth: ``YYYY-MM``, ``YYYY/M``, ``YYYYMM``, ``YYYY年M月``; count: digits.
        A blank cell is not a value: it raises too (callers treat blank as "no signal").
        """
        text = _clean(raw)
        if not text:
            raise ValueError(f"{self.code}: empty value")
        if self.value_type == "flag":
            low = text.lower()
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
            raise ValueError(f"{self.code}: not a flag (use 1/0, あり/なし, 有/無): {raw!r}")
        if self.value_type == "category":
            for category in self.categories:
                if _clean(category) == text:
                    return category
            raise ValueError(
                f"{self.code}: {raw!r} is not one of the categories {list(self.categories)}"
            )
        if self.value_type == "count":
            if not text.isdigit() or not text.isascii():
                raise ValueError(f"{self.code}: not a whole number ≥ 0: {raw!r}")
            number = int(text)
            if number > COUNT_MAX:
                raise ValueError(f"{self.code}: count above {COUNT_MAX}")
            return number
        if self.value_type == "date":
            m = _YMD.fullmatch(text)
            if not m:
                raise ValueError(f"{self.code}: not a date YYYY-MM-DD: {raw!r}")
            y, mo, d = (int(g) for g in (m.groups()[:3] if m[1] else m.groups()[3:]))
            return _date_text(self.code, y, mo, d)
        m = _YM.fullmatch(text)
        if not m:
            raise ValueError(f"{self.code}: not a year-month YYYY-MM: {raw!r}")
        year, month = int(m[1]), int(m[2])
        _date_text(self.code, year, month, 1)
        return f"{year:04d}-{month:02d}"

    def check_typed(self, value: object) -> SignalValue:
        """Check an already typed value (e.g. decoded from a payload); return it."""
        if self.value_type == "flag":
            if isinstance(value, bool):
                return value
        elif self.value_type == "count":
            if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= COUNT_MAX:
                return value
        elif isinstance(value, str):
            if self.value_type == "category" and value in self.categories:
                return value
            if self.value_type in ("date", "yearmonth") and self.parse_value(value) == value:
                return value
        raise ValueError(f"{self.code}: {value!r} is not a valid {self.value_type} value")

    def max_json_bytes(self) -> int:
        """Upper bound of this signal's value as compact JSON (``null`` included)."""
        if self.value_type == "flag":
            return 5
        if self.value_type == "count":
            return len(str(COUNT_MAX))
        if self.value_type == "date":
            return 12
        if self.value_type == "yearmonth":
            return 9
        return max(4, *(len(json.dumps(c, ensure_ascii=False).encode()) for c in self.categories))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "code": self.code,
            "label": self.label,
            "body": self.body,
            "value_type": self.value_type,
        }
        if self.categories:
            out["categories"] = list(self.categories)
        out["purpose"] = self.purpose
        return out


def _date_text(code: str, year: int, month: int, day: int) -> str:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ValueError(f"{code}: year {year} out of range {MIN_YEAR}–{MAX_YEAR}")
    try:
        date(year, month, day)
    except ValueError:
        raise ValueError(f"{code}: impossible date") from None
    return f"{year:04d}-{month:02d}-{day:02d}"


_SPEC_KEYS = {"code", "label", "body", "value_type", "categories", "purpose"}


def _spec_from_dict(index: int, item: object) -> SignalSpec:
    where = f"signal #{index + 1}"
    if not isinstance(item, dict):
        raise CatalogueError(f"{where}: expected a table/object")
    code = item.get("code")
    if isinstance(code, str):
        where = f"signal #{index + 1} ({code})"
    unknown = sorted(set(item) - _SPEC_KEYS)
    if unknown:
        raise CatalogueError(f"{where}: unknown field(s) {unknown}")
    for key in ("code", "label", "body", "value_type", "purpose"):
        value = item.get(key)
        if not isinstance(value, str) or not value.strip():
            raise CatalogueError(f"{where}: field {key!r} must be a non-empty string")
    assert isinstance(code, str)
    if not _CODE.fullmatch(code):
        raise CatalogueError(
            f"{where}: code must be 1–64 characters without spaces, commas or quotes"
        )
    value_type = item["value_type"]
    if value_type not in VALUE_TYPES:
        raise CatalogueError(f"{where}: value_type must be one of {list(VALUE_TYPES)}")
    raw_categories = item.get("categories", [])
    if not isinstance(raw_categories, list) or not all(
        isinstance(c, str) and c.strip() for c in raw_categories
    ):
        raise CatalogueError(f"{where}: categories must be a list of non-empty strings")
    categories = tuple(c.strip() for c in raw_categories)
    if value_type == "category":
        if not categories:
            raise CatalogueError(f"{where}: a category signal needs a list of categories")
        if len(categories) > MAX_CATEGORIES:
            raise CatalogueError(f"{where}: at most {MAX_CATEGORIES} categories")
        if len({_clean(c) for c in categories}) != len(categories):
            raise CatalogueError(f"{where}: categories must be distinct")
        if any(len(c) > 64 for c in categories):
            raise CatalogueError(f"{where}: a category is longer than 64 characters")
    elif categories:
        raise CatalogueError(f"{where}: only a category signal has categories")
    for key, limit in (("label", 100), ("body", 200), ("purpose", 500)):
        if len(item[key]) > limit:
            raise CatalogueError(f"{where}: {key} is longer than {limit} characters")
    return SignalSpec(
        code=code,
        label=item["label"].strip(),
        body=item["body"].strip(),
        value_type=cast(ValueType, value_type),
        categories=categories,
        purpose=item["purpose"].strip(),
    )


@dataclass(frozen=True)
class Catalogue:
    """The signals a project allows, at one version (the server numbers versions 1, 2, …)."""

    version: int
    signals: tuple[SignalSpec, ...] = field(default_factory=tuple)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Catalogue:
        """Validate a catalogue document; raises CatalogueError naming signal and field.

        ``version`` may be omitted in a file the coordinator writes (it defaults to 1;
        the server assigns the real version number when the catalogue is set).
        """
        if not isinstance(data, Mapping):
            raise CatalogueError("a catalogue is an object with 'signals' (and 'version')")
        unknown = sorted(set(data) - {"version", "signals"})
        if unknown:
            raise CatalogueError(f"unknown catalogue field(s) {unknown}")
        version = data.get("version", 1)
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise CatalogueError("version must be a whole number ≥ 1")
        items = data.get("signals")
        if not isinstance(items, list):
            raise CatalogueError("'signals' must be a list of signals")
        if len(items) > MAX_SIGNALS:
            raise CatalogueError(f"at most {MAX_SIGNALS} signals per catalogue")
        specs = tuple(_spec_from_dict(i, item) for i, item in enumerate(items))
        seen: set[str] = set()
        for spec in specs:
            if spec.code in seen:
                raise CatalogueError(f"signal {spec.code}: code appears more than once")
            seen.add(spec.code)
        return cls(version=version, signals=specs)

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "signals": [s.to_dict() for s in self.signals]}

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(s.code for s in self.signals)

    @property
    def digest(self) -> str:
        """SHA-256 of the signals (not the version): equal catalogues have equal digests."""
        body = json.dumps([s.to_dict() for s in self.signals], ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(body.encode()).hexdigest()

    def spec(self, code: str) -> SignalSpec | None:
        return next((s for s in self.signals if s.code == code), None)

    def for_body(self, body: str) -> tuple[SignalSpec, ...]:
        """The signals ``body`` is allowed to send."""
        return tuple(s for s in self.signals if s.body == body)

    def with_version(self, version: int) -> Catalogue:
        return Catalogue(version=version, signals=self.signals)


def load_catalogue(path: str | Path) -> Catalogue:
    """Read a catalogue file (``.toml`` or ``.json``); errors name the file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise CatalogueError(f"{path}: catalogue file not found") from exc
    try:
        if path.suffix.lower() == ".toml":
            data: Any = tomllib.loads(raw.decode("utf-8-sig"))
        else:
            data = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise CatalogueError(
            f"{path}: not valid {'TOML' if path.suffix.lower() == '.toml' else 'JSON'}: {exc}"
        ) from exc
    try:
        return Catalogue.from_dict(data)
    except CatalogueError as exc:
        raise CatalogueError(f"{path}: {exc}") from exc


# -- keys -------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def key_fingerprint(public_key_raw: bytes) -> str:
    """Phone-readable fingerprint of a coordinator public key (raw 32 bytes), 96 bits:
    e.g. ``7F3A-91C2-0B5D-E844-12AB-CD34``."""
    if len(public_key_raw) != ENC_BYTES:
        raise SignalSealError("a coordinator public key is 32 bytes (X25519)")
    digest = hashlib.sha256(b"kakehashi-coordinator-key\x00" + public_key_raw).hexdigest().upper()
    return "-".join(digest[i : i + 4] for i in range(0, 24, 4))


def normalise_fingerprint(text: str) -> str:
    """``7f3a 91c2…`` or ``7F3A-91C2-…`` -> ``7F3A-91C2-…`` (for comparing what was read out)."""
    hexes = re.sub(r"[^0-9A-Fa-f]", "", _clean(text)).upper()
    return "-".join(hexes[i : i + 4] for i in range(0, len(hexes), 4))


def public_key_from_pem(data: bytes) -> Any:
    """An X25519 public key from a PEM file's bytes (SubjectPublicKeyInfo)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise SignalSealError("not a PEM public key file") from exc
    if not isinstance(key, X25519PublicKey):
        raise SignalSealError("the public key is not an X25519 key")
    return key


def public_key_raw(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_from_raw(raw: bytes) -> Any:
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

    if len(raw) != ENC_BYTES:
        raise SignalSealError("a coordinator public key is 32 bytes (X25519)")
    return X25519PublicKey.from_public_bytes(raw)


# -- payload ------------------------------------------------------------------------------


def payload_size(specs: Sequence[SignalSpec]) -> int:
    """Padded plaintext size for a declared code set: 2 + the largest JSON, rounded to 16."""
    return _payload_size(tuple(specs))


@lru_cache(maxsize=256)
def _payload_size(specs: tuple[SignalSpec, ...]) -> int:
    largest = 2 + sum(s.max_json_bytes() for s in specs) + max(len(specs) - 1, 0)
    return ((2 + largest + 15) // 16) * 16


def ciphertext_size(specs: Sequence[SignalSpec]) -> int:
    """Size of every record's ciphertext for this declared code set."""
    return ENC_BYTES + payload_size(specs) + TAG_BYTES


def encode_payload(specs: Sequence[SignalSpec], values: Mapping[str, SignalValue]) -> bytes:
    """Typed values -> the fixed-size padded plaintext. Codes outside ``specs`` are refused."""
    codes = [s.code for s in specs]
    extra = sorted(set(values) - set(codes))
    if extra:
        raise SignalSealError(f"signal(s) not declared for this upload: {extra}")
    items: list[SignalValue | None] = []
    for spec in specs:
        if spec.code in values:
            try:
                items.append(spec.check_typed(values[spec.code]))
            except ValueError as exc:
                raise SignalSealError(str(exc)) from None
        else:
            items.append(None)
    body = json.dumps(items, ensure_ascii=False, separators=(",", ":")).encode()
    size = payload_size(specs)
    if len(body) + 2 > size:  # pragma: no cover - max_json_bytes bounds every value
        raise SignalSealError("payload larger than its declared size")
    return len(body).to_bytes(2, "big") + body + bytes(size - 2 - len(body))


def decode_payload(specs: Sequence[SignalSpec], payload: bytes) -> dict[str, SignalValue]:
    """The inverse of :func:`encode_payload`; absent signals are left out."""
    if len(payload) != payload_size(specs):
        raise SignalSealError("payload has the wrong size for its declared signals")
    n = int.from_bytes(payload[:2], "big")
    if n > len(payload) - 2 or any(payload[2 + n :]):
        raise SignalSealError("payload padding is malformed")
    try:
        items = json.loads(payload[2 : 2 + n].decode())
    except (UnicodeDecodeError, ValueError) as exc:
        raise SignalSealError("payload is not valid JSON") from exc
    if not isinstance(items, list) or len(items) != len(specs):
        raise SignalSealError("payload does not hold one entry per declared signal")
    out: dict[str, SignalValue] = {}
    for spec, value in zip(specs, items, strict=True):
        if value is None:
            continue
        try:
            out[spec.code] = spec.check_typed(value)
        except ValueError as exc:
            raise SignalSealError(str(exc)) from None
    return out


@dataclass(frozen=True)
class SealContext:
    """What one upload's ciphertexts are bound to (everything but the record's ref).

    ``codes`` is the upload's declared code set in its declared order; every code must be
    in ``catalogue``.
    """

    project_id: str
    body: str
    catalogue: Catalogue
    codes: tuple[str, ...]
    key_fingerprint: str

    def __post_init__(self) -> None:
        if len(set(self.codes)) != len(self.codes):
            raise SignalSealError("a declared code appears more than once")
        missing = [c for c in self.codes if self.catalogue.spec(c) is None]
        if missing:
            raise SignalSealError(
                f"signal(s) not in catalogue version {self.catalogue.version}: {missing}"
            )

    @cached_property
    def specs(self) -> tuple[SignalSpec, ...]:
        return tuple(cast(SignalSpec, self.catalogue.spec(c)) for c in self.codes)

    @cached_property
    def ciphertext_size(self) -> int:
        return ciphertext_size(self.specs)

    def info(self, ref: str) -> bytes:
        """The HPKE ``info`` for one record: binds every field of the context and the ref."""
        return json.dumps(
            {
                "format": SEAL_FORMAT,
                "project": self.project_id,
                "body": self.body,
                "ref": ref,
                "catalogue_version": self.catalogue.version,
                "key": self.key_fingerprint,
                "codes": list(self.codes),
            },
            ensure_ascii=False,
            sort_keys=True,
            separators=(",", ":"),
        ).encode()


@lru_cache(maxsize=1)
def _suite() -> Any:
    from cryptography.hazmat.primitives import hpke

    return hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)


def seal_signals(
    public_key: Any, context: SealContext, ref: str, values: Mapping[str, SignalValue]
) -> bytes:
    """Encrypt one record's values to the coordinator's X25519 public key (HPKE base mode)."""
    if key_fingerprint(public_key_raw(public_key)) != context.key_fingerprint:
        raise SignalSealError("the public key does not match the context's key fingerprint")
    payload = encode_payload(context.specs, values)
    return bytes(_suite().encrypt(payload, public_key, info=context.info(ref)))


def open_signals(
    private_key: Any, context: SealContext, ref: str, ciphertext: bytes
) -> dict[str, SignalValue]:
    """Decrypt and check one record's ciphertext; SignalAuthError when it does not
    authenticate (wrong key, or bound to another ref, body, project, catalogue or key)."""
    from cryptography.exceptions import InvalidTag

    if len(ciphertext) != context.ciphertext_size:
        raise SignalAuthError(
            f"ciphertext is {len(ciphertext)} bytes, expected {context.ciphertext_size}"
        )
    try:
        payload = _suite().decrypt(ciphertext, private_key, info=context.info(ref))
    except (InvalidTag, ValueError) as exc:
        raise SignalAuthError(
            "authentication failed: wrong key, or the ciphertext was moved to another "
            "record, body or project"
        ) from exc
    return decode_payload(context.specs, bytes(payload))
