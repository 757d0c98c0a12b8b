"""A corpus of malformed uploads against a real server: each gets a 422/409 problem+json that
says what is wrong, never a 500, and nothing is stored (issue 12, items 8 and 10)."""

from __future__ import annotations

import base64
import hashlib
import json
import struct

import numpy as np
import pytest
from server_testdata import FINGERPRINT, SCHEMA, binary_bytes, encodings, json_bytes, random_clks
from server_testkit import LiveServer

from linkage.container import MAGIC, new_ref

BITS = SCHEMA.bit_length
NBYTES = BITS // 8


def _binary(header_json: bytes, n: int = 2) -> bytes:
    """A binary container with this exact header text and ``n`` valid records."""
    rows = b"".join(bytes.fromhex(new_ref()) + bytes(NBYTES) for _ in range(n))
    body = MAGIC + struct.pack("<I", len(header_json)) + header_json + rows
    return body + hashlib.sha256(body).digest()


def _header(**fields: object) -> bytes:
    base: dict[str, object] = {
        "format": "kakehashi-encodings",
        "version": 1,
        "schema_id": SCHEMA.schema_id,
        "bit_length": BITS,
        "ref_bytes": 16,
        "secret_fingerprint": FINGERPRINT,
    }
    base.update(fields)
    return json.dumps(base).encode()


def _raw_header(bit_length_literal: str) -> bytes:
    """A header whose bit_length is written as literal JSON text (e.g. ``1e400``)."""
    marker = '"@@"'
    return _header(bit_length="@@").replace(marker.encode(), bit_length_literal.encode())


def _json(**fields: object) -> bytes:
    doc: dict[str, object] = {
        "schema_id": SCHEMA.schema_id,
        "bit_length": BITS,
        "secret_fingerprint": FINGERPRINT,
        "refs": [new_ref(), new_ref()],
        "clks": [base64.b64encode(bytes(NBYTES)).decode()] * 2,
    }
    doc.update(fields)
    return json.dumps(doc).encode()


def _json_raw_bit_length(literal: str) -> bytes:
    return _json(bit_length="@@").replace(b'"@@"', literal.encode())


_NESTED_60K = b"[" * 30_000 + b"]" * 30_000
_SPACED_REF = "ab cd ef 01 23 45 67 89 ab cd ab"  # 32 characters; bytes.fromhex accepts it
_CLK = base64.b64encode(bytes(NBYTES)).decode()

# (case id, body, expected status, words the problem's detail must contain)
CORPUS: list[tuple[str, bytes, int, tuple[str, ...]]] = [
    # binary header: bit_length of every wrong kind
    ("bin-bit-length-1e400", _binary(_raw_header("1e400")), 422, ("bit_length", "inf")),
    ("bin-bit-length-2^40", _binary(_header(bit_length=2**40)), 422, ("bit_length", "16384")),
    ("bin-bit-length-abc", _binary(_header(bit_length="abc")), 422, ("bit_length", "'abc'")),
    ("bin-bit-length-list", _binary(_header(bit_length=[1])), 422, ("bit_length", "a list")),
    ("bin-bit-length-bool", _binary(_header(bit_length=True)), 422, ("bit_length",)),
    ("bin-bit-length-float", _binary(_raw_header("1024.0")), 422, ("bit_length", "1024.0")),
    ("bin-bit-length-negative", _binary(_header(bit_length=-64)), 422, ("bit_length", "-64")),
    ("bin-bit-length-wrong", _binary(_header(bit_length=512)), 422, ("512", str(BITS))),
    (
        "bin-no-bit-length",
        _binary(_header(bit_length=None).replace(b'"bit_length": null, ', b"")),
        422,
        ("no bit_length",),
    ),
    ("bin-header-nested-60k", _binary(_NESTED_60K), 422, ("nested too deeply",)),
    ("bin-header-not-object", _binary(b"[1, 2]"), 422, ("JSON object",)),
    ("bin-header-not-json", _binary(b"{bit_length: 1024"), 422, ("not valid JSON",)),
    ("bin-header-huge-hlen", MAGIC + struct.pack("<I", 2**31) + b"{}", 422, ("implausibly",)),
    ("bin-ref-bytes", _binary(_header(ref_bytes=8)), 422, ("ref_bytes",)),
    ("bin-schema-not-str", _binary(_header(schema_id=[1])), 422, ("schema_id",)),
    ("bin-schema-other", _binary(_header(schema_id="ab" * 32)), 409, ("ab" * 32, SCHEMA.schema_id)),
    (
        "bin-no-fingerprint",
        _binary(_header(secret_fingerprint=None)),
        422,
        ("secret_fingerprint", "kakehashi encode"),
    ),
    (
        "bin-bad-fingerprint",
        _binary(_header(secret_fingerprint="x" * 5000)),
        422,
        ("secret_fingerprint", "7F3A-91C2-0B5D-E844"),
    ),
    ("bin-empty", _binary(_header(), n=0), 422, ("no records",)),
    # JSON: the same header faults, the shape, refs and CLKs
    ("json-bit-length-1e400", _json_raw_bit_length("1e400"), 422, ("bit_length", "inf")),
    ("json-bit-length-2^40", _json(bit_length=2**40), 422, ("bit_length", "16384")),
    ("json-bit-length-abc", _json(bit_length="abc"), 422, ("bit_length", "'abc'")),
    ("json-bit-length-list", _json(bit_length=[1]), 422, ("bit_length",)),
    (
        "json-bit-length-nested-60k",
        _json_raw_bit_length(_NESTED_60K.decode()),
        422,
        ("bit_length", "nests deeper"),
    ),
    ("json-array-100k-deep", b"[" * 100_000 + b"]" * 100_000, 422, ("JSON object",)),
    (
        "json-clks-100k-deep",
        b'{"clks": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        422,
        ("clks[0]", "nests deeper"),
    ),
    (
        "json-ref-with-spaces",
        _json(refs=[_SPACED_REF, new_ref()]),
        422,
        ("refs[0]", "hexadecimal"),
    ),
    ("json-ref-short", _json(refs=["abc", new_ref()]), 422, ("refs[0]",)),
    ("json-ref-number", _json(refs=[new_ref(), 5]), 422, ("refs[1]",)),
    ("json-refs-missing", _json(refs=None).replace(b'"refs": null, ', b""), 422, ('"refs"',)),
    ("json-refs-count", _json(refs=[new_ref()]), 422, ('as long as "clks"',)),
    ("json-refs-not-list", _json(refs="abc"), 422, ('"refs" must be a list',)),
    ("json-clk-not-base64", _json(clks=["***", _CLK]), 422, ("clks[0]", "base64")),
    ("json-clk-number", _json(clks=[_CLK, 7]), 422, ("clks[1]",)),
    (
        "json-clk-wrong-length",
        _json(clks=[_CLK, base64.b64encode(bytes(8)).decode()]),
        422,
        ("clks[1]", "64 bits"),
    ),
    ("json-clk-object", _json(clks=[{"a": 1}, _CLK]), 422, ("clks[0]", "object")),
    ("json-duplicate-key", _json()[:-1] + b', "refs": []}', 422, ("appears twice",)),
    ("json-top-level-array", b"[1, 2, 3]", 422, ("JSON object",)),
    ("json-truncated", _json()[:-40], 422, ("not valid",)),
    ("json-syntax", b'{"clks": [,]}', 422, ("not valid",)),
    ("json-no-fingerprint", _json(secret_fingerprint=None), 422, ("secret_fingerprint",)),
    (
        "json-fingerprint-lower",
        _json(secret_fingerprint=FINGERPRINT.lower()),
        422,
        ("secret_fingerprint",),
    ),
    ("json-schema-missing", _json(schema_id=None), 422, ("no schema id",)),
    ("json-empty", _json(refs=[], clks=[]), 422, ("no records",)),
    ("json-duplicate-refs", _json(refs=["a" * 32, "a" * 32]), 422, ("appear more than once",)),
    (
        "not-an-encodings-file",
        b"\xef\xbb\xbf\xe6\xb0\x8f\xe5\x90\x8d,dob\n",
        422,
        ("not an encodings file",),
    ),
]


@pytest.fixture(scope="module")
def school(live: LiveServer) -> tuple[str, str]:
    project = live.new_project()
    return project["project_id"], project["credentials"]["bodies"]["school"]


@pytest.mark.parametrize(("case", "body", "status", "words"), CORPUS, ids=[c[0] for c in CORPUS])
def test_malformed_upload_is_refused_clearly(
    live: LiveServer,
    school: tuple[str, str],
    case: str,
    body: bytes,
    status: int,
    words: tuple[str, ...],
) -> None:
    pid, cred = school
    with live.client(cred) as c:
        r = c.post(
            f"/api/v1/projects/{pid}/uploads",
            params={"mode": "append"},
            content=body,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert r.status_code == status, (case, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        detail = r.json()["detail"]
        for word in words:
            assert word in detail, (case, detail)
        assert len(detail) < 600  # never an echo of the upload
        assert c.get(f"/api/v1/projects/{pid}").json()["upload_counts"]["school"] == 0
    assert list((live.settings.uploads_dir / "tmp").iterdir()) == []


def test_well_formed_files_still_pass(live: LiveServer) -> None:
    """The corpus's baseline: the same helpers produce accepted files."""
    project = live.new_project()
    pid, cred = project["project_id"], project["credentials"]["bodies"]["school"]
    with live.client(cred) as c:
        for data in (_binary(_header()), _json(), _json()[:1] + b" " + _json()[1:]):
            r = c.post(f"/api/v1/projects/{pid}/uploads", params={"mode": "replace"}, content=data)
            assert r.status_code == 201, r.text


def test_fingerprint_mismatch_between_bodies_is_refused(live: LiveServer) -> None:
    """Two bodies that encoded with different secrets: the second is refused, naming both."""
    project = live.new_project(("school", "welfare", "health"))
    pid, creds = project["project_id"], project["credentials"]["bodies"]
    rng = np.random.default_rng(5)
    other = "0000-1111-2222-3333"
    with live.client(creds["school"]) as c:
        r = c.post(
            f"/api/v1/projects/{pid}/uploads",
            params={"mode": "append"},
            content=binary_bytes(encodings(random_clks(rng, 4))),
        )
        assert r.status_code == 201, r.text
    for fmt in (binary_bytes, json_bytes):
        with live.client(creds["welfare"]) as c:
            r = c.post(
                f"/api/v1/projects/{pid}/uploads",
                params={"mode": "append"},
                content=fmt(encodings(random_clks(rng, 4), fingerprint=other)),
            )
        assert r.status_code == 409, r.text
        detail = r.json()["detail"]
        assert other in detail and FINGERPRINT in detail and "school" in detail
    # a body that replaces its own upload is compared with the others only
    with live.client(creds["school"]) as c:
        r = c.post(
            f"/api/v1/projects/{pid}/uploads",
            params={"mode": "replace"},
            content=binary_bytes(encodings(random_clks(rng, 4), fingerprint=other)),
        )
        assert r.status_code == 201, r.text
    with live.client(creds["health"]) as c:
        r = c.post(
            f"/api/v1/projects/{pid}/uploads",
            params={"mode": "append"},
            content=json_bytes(encodings(random_clks(rng, 4))),
        )
        assert r.status_code == 409 and other in r.json()["detail"]
