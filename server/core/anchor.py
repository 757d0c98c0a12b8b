"""External anchor for the audit chain: Ed25519-signed checkpoints of the chain head.

The hash chain (:mod:`server.core.audit`) shows any edit made without recomputing the
later hashes; someone with write access to the database can, however, delete the newest
entries and rewrite ``audit_head``, or edit an entry and recompute every later hash. A
checkpoint is a small signed JSON file that vouches for "entry ``seq`` has hash ``hash``",
signed with a key kept outside the database (and outside the data folder). Checkpoints
are written on a schedule and copied off the host; ``kakehashi audit verify --against``
then detects both attacks for every entry up to the newest checkpoint.

Checkpoint file (``audit-checkpoint-<seq>.json``)::

    {"kakehashi_audit_checkpoint": 1, "seq": 1234, "hash": "<64 hex>",
     "made_at": "<ISO time>", "key_id": "<16 hex>", "signature": "<base64>"}

The signature is Ed25519 over the canonical JSON (sorted keys, no spaces) of every field
but ``signature``. ``key_id`` is the first 16 hex digits of SHA-256 of the raw public key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from sqlalchemy.orm import Session

from server.core.files import FILE_MODE, open_private, private_dir
from server.db.models import AuditHead

FORMAT = 1
PREFIX = "audit-checkpoint-"


class AnchorError(Exception):
    """A key or checkpoint that cannot be used, with a message saying why."""


def public_path(key_file: Path) -> Path:
    return key_file.with_name(key_file.name + ".pub")


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def load_or_create_key(key_file: Path, data_dir: Path | None = None) -> Ed25519PrivateKey:
    """The signing key in ``key_file`` (PEM, PKCS#8), created with its folder (0700), the
    file (0600) and ``<key_file>.pub`` when missing.

    Raises:
        AnchorError: the key file lies inside ``data_dir`` (whoever can rewrite the
            database could then sign too), or it is not an Ed25519 private key.
    """
    if data_dir is not None and _inside(key_file, data_dir):
        raise AnchorError(
            f"{key_file}: the audit signing key must be kept outside the data folder "
            f"{data_dir} (e.g. /etc/kakehashi/audit.key), or it anchors nothing"
        )
    if key_file.exists():
        try:
            key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        except (ValueError, TypeError) as exc:
            raise AnchorError(f"{key_file}: not a PEM private key ({exc})") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise AnchorError(f"{key_file}: the audit signing key must be an Ed25519 key")
        return key
    private_dir(key_file.parent)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with open_private(key_file) as handle:
        handle.write(pem)
    public_path(key_file).write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """An Ed25519 public key from a public-key PEM, or derived from a private-key PEM."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise AnchorError(f"{path}: cannot read the key ({exc.strerror})") from exc
    try:
        if b"PRIVATE KEY" in data:
            key: Any = serialization.load_pem_private_key(data, password=None).public_key()
        else:
            key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise AnchorError(f"{path}: not a PEM key ({exc})") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise AnchorError(f"{path}: not an Ed25519 key")
    return key


def _canonical(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode("utf-8")


def make_checkpoint(session: Session, key: Ed25519PrivateKey) -> dict[str, Any]:
    """Sign the current chain head (read in ``session``)."""
    head = session.get(AuditHead, 1)
    seq, digest = (0, "0" * 64) if head is None else (head.seq, head.hash)
    payload = {
        "kakehashi_audit_checkpoint": FORMAT,
        "seq": seq,
        "hash": digest,
        "made_at": datetime.now(UTC).isoformat(),
        "key_id": key_id(key.public_key()),
    }
    signature = base64.b64encode(key.sign(_canonical(payload))).decode("ascii")
    return {**payload, "signature": signature}


def write_checkpoint(folder: Path, checkpoint: dict[str, Any]) -> Path:
    """Write ``checkpoint`` to ``folder`` (created 0700) atomically; return the file."""
    private_dir(folder)
    path = folder / f"{PREFIX}{checkpoint['seq']:012d}.json"
    tmp = folder / f".{path.name}.tmp"
    with open_private(tmp, "w") as handle:
        json.dump(checkpoint, handle, indent=1, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(tmp, FILE_MODE)
    tmp.replace(path)
    return path


def checkpoint_files(path: Path) -> list[Path]:
    """``path`` itself, or the checkpoint files in folder ``path`` in seq order."""
    if path.is_dir():
        return sorted(path.glob(f"{PREFIX}*.json"))
    if not path.exists():
        raise AnchorError(f"{path}: no such checkpoint file or folder")
    return [path]


def newest_seq(folder: Path) -> int:
    """The highest seq among the checkpoint files in ``folder`` (0 when none)."""
    if not folder.is_dir():
        return 0
    seqs = []
    for path in folder.glob(f"{PREFIX}*.json"):
        try:
            seqs.append(int(path.stem.removeprefix(PREFIX)))
        except ValueError:
            continue
    return max(seqs, default=0)


def read_checkpoint(path: Path, public: Ed25519PublicKey) -> dict[str, Any]:
    """Load a checkpoint and check its signature with ``public``.

    Raises:
        AnchorError: unreadable, malformed, or not signed by ``public``'s key.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        payload = {k: v for k, v in data.items() if k != "signature"}
        signature = base64.b64decode(data["signature"], validate=True)
        seq, digest = int(payload["seq"]), str(payload["hash"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise AnchorError(f"{path}: not a readable audit checkpoint ({exc})") from exc
    if payload.get("kakehashi_audit_checkpoint") != FORMAT:
        raise AnchorError(f"{path}: unknown checkpoint format")
    try:
        public.verify(signature, _canonical(payload))
    except InvalidSignature as exc:
        raise AnchorError(
            f"{path}: the signature does not verify with key {key_id(public)}: the checkpoint "
            "was altered or made with another key"
        ) from exc
    return {**payload, "seq": seq, "hash": digest, "file": path.name}
