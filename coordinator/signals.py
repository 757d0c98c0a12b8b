"""Fetch and decrypt the project's support signals on the coordinator's machine.

:func:`fetch_signals` downloads the latest run's rows ``(token, body, ref, ciphertext)``
with the catalogue versions and declared code sets they were sealed under, and opens each
ciphertext locally with the coordinator's private key. A ciphertext that fails
authentication (moved to another ref, body or project; sealed to another key; damaged) is
reported in :attr:`SignalTable.failures` and does not stop the others. Plaintext exists
only in the returned object; nothing decrypted is sent anywhere.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from apiclient import ApiClient
from coordinator.keys import KeyFileError, fingerprint_of, load_private_key
from linkage.errors import LinkageError
from linkage.signals import (
    Catalogue,
    SealContext,
    SignalAuthError,
    SignalSealError,
    open_signals,
)

__all__ = [
    "DecryptedSignal",
    "KeyFileError",
    "KeyMismatchError",
    "SignalTable",
    "fetch_signals",
    "load_private_key",
]


class KeyMismatchError(LinkageError):
    """The private key given is not the project's current coordinator key."""


@dataclass(frozen=True)
class DecryptedSignal:
    token: str  # the coordinator's stable token of the group
    body: str
    ref: str
    code: str
    value: bool | str | int  # typed as in SignalSpec.parse_value


@dataclass(frozen=True)
class SignalTable:
    catalogue: Catalogue
    tokens: list[tuple[str, str, str]]  # every (token, body, ref) row of the latest run
    signals: list[DecryptedSignal]
    failures: list[tuple[str, str, str]]  # (body, ref, reason) that failed authentication
    # Bodies whose stored signals were sealed to an earlier key or catalogue version and
    # must re-upload (body -> reason); their rows are not in ``signals``.
    stale: dict[str, str] = field(default_factory=dict)


def fetch_signals(client: ApiClient, project_id: str, private_key: Any) -> SignalTable:
    """Download the latest run's signal rows and decrypt them with ``private_key``.

    Raises KeyMismatchError when ``private_key`` is not the project's current coordinator
    key (e.g. an old key after rotation) and ApiError when the server refuses.
    """
    key_info = client.signal_key(project_id)
    mine = fingerprint_of(private_key.public_key())
    if mine != key_info["fingerprint"]:
        raise KeyMismatchError(
            f"this private key (fingerprint {mine}) is not the project's current coordinator "
            f"key (fingerprint {key_info['fingerprint']}, version {key_info['key_version']})"
        )
    download = client.signal_rows(project_id)
    catalogues: dict[int, Catalogue] = {}

    def catalogue(version: int) -> Catalogue:
        if version not in catalogues:
            catalogues[version] = Catalogue.from_dict(client.signal_catalogue(project_id, version))
        return catalogues[version]

    contexts: dict[str, SealContext | str] = {}
    for upload_id, info in download["uploads"].items():
        try:
            contexts[upload_id] = SealContext(
                project_id=project_id,
                body=info["body"],
                catalogue=catalogue(int(info["catalogue_version"])),
                codes=tuple(info["codes"]),
                key_fingerprint=info["key_fingerprint"],
            )
        except SignalSealError as exc:
            contexts[upload_id] = f"upload header does not match its catalogue: {exc}"
    latest = catalogue(int(download["catalogue_version"]))
    tokens: list[tuple[str, str, str]] = []
    signals: list[DecryptedSignal] = []
    failures: list[tuple[str, str, str]] = []
    for token, body, ref, upload_id, ciphertext in download["rows"]:
        tokens.append((token, body, ref))
        if upload_id is None:
            continue
        context = contexts.get(upload_id)
        if context is None or isinstance(context, str):
            failures.append((body, ref, context or "unknown signals upload"))
            continue
        if context.body != body:
            failures.append((body, ref, "ciphertext belongs to another body's upload"))
            continue
        try:
            values = open_signals(private_key, context, ref, base64.b64decode(ciphertext))
        except (SignalAuthError, SignalSealError, ValueError) as exc:
            failures.append((body, ref, str(exc)))
            continue
        for spec in context.specs:
            if spec.code in values:
                signals.append(DecryptedSignal(token, body, ref, spec.code, values[spec.code]))
    stale = {s["body"]: s["reason"] for s in download.get("stale", [])}
    return SignalTable(
        catalogue=latest, tokens=tokens, signals=signals, failures=failures, stale=stale
    )
