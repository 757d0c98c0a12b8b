"""linkage.signals: catalogue validation, value parsing, fixed-size sealed payloads."""

from __future__ import annotations

import json
from datetime import date

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.signals import (
    Catalogue,
    CatalogueError,
    SealContext,
    SignalAuthError,
    SignalSealError,
    SignalSpec,
    ciphertext_size,
    decode_payload,
    encode_payload,
    key_fingerprint,
    load_catalogue,
    normalise_fingerprint,
    open_signals,
    public_key_raw,
    seal_signals,
)

CATALOGUE = {
    "version": 3,
    "signals": [
        {"code": "kenshin_mijushin", "label": "乳幼児健診未受診", "body": "母子保健",
         "value_type": "flag", "purpose": "健診未受診の子を把握する"},
        {"code": "kubun", "label": "支援区分", "body": "母子保健", "value_type": "category",
         "categories": ["要支援", "特定妊婦", "なし"], "purpose": "支援の必要度"},
        {"code": "last_checkup", "label": "最終受診日", "body": "母子保健", "value_type": "date",
         "purpose": "最後に会えた日"},
        {"code": "birth_ym", "label": "生年月", "body": "住民記録", "value_type": "yearmonth",
         "purpose": "年齢帯"},
        {"code": "absent_days", "label": "欠席日数", "body": "学校", "value_type": "count",
         "purpose": "長期欠席の把握"},
    ],
}  # fmt: skip


def catalogue() -> Catalogue:
    return Catalogue.from_dict(CATALOGUE)


def test_catalogue_round_trip_and_for_body() -> None:
    cat = catalogue()
    assert cat.version == 3
    assert Catalogue.from_dict(cat.to_dict()) == cat
    assert [s.code for s in cat.for_body("母子保健")] == [
        "kenshin_mijushin",
        "kubun",
        "last_checkup",
    ]
    assert cat.for_body("保育") == ()
    assert cat.digest == Catalogue.from_dict({**CATALOGUE, "version": 9}).digest


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"code": "a b"}, "code must be"),
        ({"value_type": "score"}, "value_type must be one of"),
        ({"purpose": ""}, "'purpose' must be a non-empty string"),
        ({"categories": ["x"]}, "only a category signal has categories"),
        ({"weight": 3}, "unknown field"),
    ],
)
def test_catalogue_errors_name_the_signal_and_field(change: dict, message: str) -> None:
    doc = json.loads(json.dumps(CATALOGUE))
    doc["signals"][0].update(change)
    with pytest.raises(CatalogueError, match=message) as info:
        Catalogue.from_dict(doc)
    assert "signal #1" in str(info.value)


def test_catalogue_duplicate_code_and_empty_categories() -> None:
    doc = json.loads(json.dumps(CATALOGUE))
    doc["signals"].append(dict(doc["signals"][0]))
    with pytest.raises(CatalogueError, match="kenshin_mijushin: code appears more than once"):
        Catalogue.from_dict(doc)
    doc = json.loads(json.dumps(CATALOGUE))
    doc["signals"][1]["categories"] = []
    with pytest.raises(CatalogueError, match="needs a list of categories"):
        Catalogue.from_dict(doc)


def test_catalogue_file_toml(tmp_path) -> None:
    path = tmp_path / "cat.toml"
    path.write_text(
        '[[signals]]\ncode = "seiho"\nlabel = "生活保護"\nbody = "福祉"\n'
        'value_type = "flag"\npurpose = "経済的困窮の把握"\n',
        encoding="utf-8",
    )
    cat = load_catalogue(path)
    assert cat.version == 1 and cat.codes == ("seiho",)
    path.write_text("[[signals]]\ncode = ", encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"cat\.toml: not valid TOML"):
        load_catalogue(path)


@pytest.mark.parametrize(
    ("code", "raw", "expected"),
    [
        ("kenshin_mijushin", "1", True), ("kenshin_mijushin", "０", False),
        ("kenshin_mijushin", "あり", True), ("kenshin_mijushin", "なし", False),
        ("kenshin_mijushin", " 有 ", True), ("kenshin_mijushin", "TRUE", True),
        ("kubun", "要支援", "要支援"), ("last_checkup", "2023/4/1", "2023-04-01"),
        ("last_checkup", "２０２３年４月１日", "2023-04-01"),
        ("last_checkup", "20230401", "2023-04-01"),
        ("birth_ym", "2021-3", "2021-03"), ("birth_ym", "2021年3月", "2021-03"),
        ("birth_ym", "202103", "2021-03"), ("absent_days", "３０", 30),
    ],
)  # fmt: skip
def test_parse_value(code: str, raw: str, expected: object) -> None:
    spec = catalogue().spec(code)
    assert spec is not None
    assert spec.parse_value(raw) == expected


@pytest.mark.parametrize(
    ("code", "raw", "message"),
    [
        ("kenshin_mijushin", "たぶん", "not a flag"),
        ("kubun", "重度", "not one of the categories"),
        ("last_checkup", "2023-02-30", "impossible date"), ("last_checkup", "R5.4.1", "not a date"),
        ("birth_ym", "2021-13", "impossible date"), ("absent_days", "-1", "whole number"),
        ("absent_days", "1000000", "count above"), ("absent_days", "", "empty value"),
    ],
)  # fmt: skip
def test_parse_value_errors_are_clear(code: str, raw: str, message: str) -> None:
    spec = catalogue().spec(code)
    assert spec is not None
    with pytest.raises(ValueError, match=message) as info:
        spec.parse_value(raw)
    assert code in str(info.value)


def _value(spec: SignalSpec) -> st.SearchStrategy[object]:
    if spec.value_type == "flag":
        return st.booleans()
    if spec.value_type == "category":
        return st.sampled_from(spec.categories)
    if spec.value_type == "count":
        return st.integers(0, 999_999)
    dates = st.dates(date(1868, 1, 1), date(2199, 12, 31))
    if spec.value_type == "date":
        return dates.map(lambda d: d.isoformat())
    return dates.map(lambda d: d.isoformat()[:7])


@st.composite
def values_for(draw: st.DrawFn, specs: tuple[SignalSpec, ...]) -> dict[str, object]:
    chosen = draw(st.lists(st.sampled_from(specs), unique=True)) if specs else []
    return {s.code: draw(_value(s)) for s in chosen}


SPECS = catalogue().signals


@settings(max_examples=200, deadline=None)
@given(values_for(SPECS))
def test_payload_round_trip_has_fixed_size(values: dict) -> None:
    payload = encode_payload(SPECS, values)
    assert len(payload) == len(encode_payload(SPECS, {}))
    assert decode_payload(SPECS, payload) == values


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(SPECS).flatmap(lambda s: st.tuples(st.just(s), _value(s))))
def test_parse_value_accepts_its_own_canonical_text(pair: tuple[SignalSpec, object]) -> None:
    spec, value = pair
    text = {True: "1", False: "0"}.get(value, str(value)) if isinstance(value, bool) else str(value)
    assert spec.parse_value(text) == value
    assert spec.check_typed(value) == value


KEY = X25519PrivateKey.generate()
FP = key_fingerprint(public_key_raw(KEY.public_key()))
CODES = ("kenshin_mijushin", "kubun", "last_checkup")


def context(**change: object) -> SealContext:
    fields = {
        "project_id": "p1", "body": "母子保健", "catalogue": catalogue(),
        "codes": CODES, "key_fingerprint": FP,
    }  # fmt: skip
    fields.update(change)
    return SealContext(**fields)  # type: ignore[arg-type]


@settings(max_examples=50, deadline=None)
@given(
    values_for(catalogue().for_body("母子保健")),
    st.text("0123456789abcdef", min_size=32, max_size=32),
)
def test_seal_open_round_trip(values: dict, ref: str) -> None:
    ctx = context()
    blob = seal_signals(KEY.public_key(), ctx, ref, values)
    assert len(blob) == ctx.ciphertext_size == ciphertext_size(ctx.specs)
    assert open_signals(KEY, ctx, ref, blob) == values


@pytest.mark.parametrize(
    "moved",
    [
        {"ref": "f" * 32},
        {"body": "学校"},
        {"project_id": "p2"},
        {"catalogue": catalogue().with_version(4)},
        {"codes": ("kubun", "kenshin_mijushin", "last_checkup")},
    ],
    ids=["another-ref", "another-body", "another-project", "another-catalogue", "codes-reordered"],
)
def test_moved_ciphertext_fails_authentication(moved: dict) -> None:
    ref = "a" * 32
    blob = seal_signals(KEY.public_key(), context(), ref, {"kenshin_mijushin": True})
    target_ref = moved.pop("ref", ref)
    with pytest.raises(SignalAuthError, match="authentication failed"):
        open_signals(KEY, context(**moved), target_ref, blob)


def test_wrong_key_and_truncated_ciphertext() -> None:
    blob = seal_signals(KEY.public_key(), context(), "a" * 32, {})
    with pytest.raises(SignalAuthError, match="authentication failed"):
        open_signals(X25519PrivateKey.generate(), context(), "a" * 32, blob)
    with pytest.raises(SignalAuthError, match="expected"):
        open_signals(KEY, context(), "a" * 32, blob[:-1])


def test_sealing_refuses_undeclared_codes_and_wrong_key() -> None:
    with pytest.raises(SignalSealError, match="not declared"):
        seal_signals(KEY.public_key(), context(), "a" * 32, {"absent_days": 3})
    with pytest.raises(SignalSealError, match="not in catalogue"):
        context(codes=("nope",))
    other = X25519PrivateKey.generate().public_key()
    with pytest.raises(SignalSealError, match="fingerprint"):
        seal_signals(other, context(), "a" * 32, {})


def test_fingerprint_is_phone_readable() -> None:
    assert len(FP.split("-")) == 6 and all(len(g) == 4 for g in FP.split("-"))
    assert normalise_fingerprint(FP.lower().replace("-", " ")) == FP
