"""HTTP client for the linkage server's API (body, coordinator and operator commands).

Errors from the server arrive as RFC 9457 problem+json and are raised as :class:`ApiError`
with a one-line message; network failures are raised as ApiError too.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

API = "/api/v1"
_CHUNK = 1 << 20


class ApiError(RuntimeError):
    """The server refused a request or could not be reached."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def read_credential(path: str | Path) -> str:
    """Read a credential file (one line)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError as exc:
        raise ApiError(f"{path}: credential file not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ApiError(f"{path}: cannot read the credential file") from exc
    if not text or len(text.split()) != 1:
        raise ApiError(f"{path}: a credential file holds one credential on one line")
    return text


def _problem(response: httpx.Response) -> ApiError:
    try:
        body = response.json()
        detail = body.get("detail") or body.get("title") or response.reason_phrase
        if not isinstance(detail, str):
            detail = str(detail)
    except ValueError:
        detail = response.reason_phrase
    return ApiError(
        f"server refused the request ({response.status_code}): {detail}", response.status_code
    )


class ApiClient:
    """A client bound to one server and one credential."""

    def __init__(self, base_url: str, credential: str, *, timeout: float = 120.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {credential}"},
            timeout=timeout,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, API + path, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiError(f"cannot reach the server at {self.base_url}: {exc}") from exc
        if response.status_code >= 400:
            raise _problem(response)
        return response

    def get_json(self, path: str) -> Any:
        return self._request("GET", path).json()

    def post_json(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self._request("POST", path, json=body or {}).json()

    # -- operator -----------------------------------------------------------------
    def create_project(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.post_json("/projects", body)

    # -- body ----------------------------------------------------------------------
    def upload(self, project_id: str, path: str | Path, *, mode: str = "replace") -> dict[str, Any]:
        """Stream an encodings file to the server, with its SHA-256 for an end-to-end check."""
        path = Path(path)
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while block := handle.read(_CHUNK):
                digest.update(block)

        def body() -> Iterator[bytes]:
            with path.open("rb") as handle:
                while block := handle.read(_CHUNK):
                    yield block

        content_type = (
            "application/json" if path.suffix.lower() == ".json" else ("application/octet-stream")
        )
        return self._request(
            "POST",
            f"/projects/{project_id}/uploads",
            params={"mode": mode},
            content=body(),
            headers={
                "Content-Type": content_type,
                "Content-Length": str(path.stat().st_size),
                "X-Content-SHA256": digest.hexdigest(),
            },
        ).json()

    def delete_records(self, project_id: str, refs: list[str]) -> dict[str, Any]:
        """Delete the calling body's own records by ref (all of them, or none)."""
        return self.post_json(f"/projects/{project_id}/uploads/deletions", {"refs": refs})

    # -- support signals (catalogue, coordinator key, sealed signals) -------------------
    def signal_catalogue(self, project_id: str, version: int | None = None) -> dict[str, Any]:
        """The project's signal catalogue (latest, or one ``version``)."""
        params = {"version": str(version)} if version is not None else None
        return self._request(
            "GET", f"/projects/{project_id}/signals/catalogue", params=params
        ).json()

    def set_signal_catalogue(self, project_id: str, catalogue: dict[str, Any]) -> dict[str, Any]:
        """Coordinator: set the catalogue; the server assigns the next version number."""
        return self._request(
            "PUT", f"/projects/{project_id}/signals/catalogue", json=catalogue
        ).json()

    def signal_key(self, project_id: str) -> dict[str, Any]:
        """The coordinator's current public key: key_version, public_key (base64), fingerprint."""
        return self.get_json(f"/projects/{project_id}/signals/key")

    def set_signal_key(self, project_id: str, public_key_b64: str) -> dict[str, Any]:
        """Coordinator: set (or rotate to) a public key given as base64 of its 32 raw bytes."""
        return self._request(
            "PUT", f"/projects/{project_id}/signals/key", json={"public_key": public_key_b64}
        ).json()

    def upload_signals(
        self, project_id: str, path: str | Path, *, mode: str = "replace"
    ) -> dict[str, Any]:
        """Body: send a signals file (``*.signals.json`` written by ``encode --signals``)."""
        data = Path(path).read_bytes()
        return self._request(
            "POST",
            f"/projects/{project_id}/signals",
            params={"mode": mode},
            content=data,
            headers={
                "Content-Type": "application/json",
                "X-Content-SHA256": hashlib.sha256(data).hexdigest(),
            },
        ).json()

    def upload_family(self, project_id: str, path: str | Path) -> dict[str, Any]:
        """Body: send a family file (``*.family.json`` written by ``encode --family``);
        it replaces the body's earlier one."""
        data = Path(path).read_bytes()
        return self._request(
            "POST",
            f"/projects/{project_id}/family",
            content=data,
            headers={"Content-Type": "application/json"},
        ).json()

    def family_results(self, project_id: str) -> dict[str, Any]:
        """Coordinator: the latest run's household token per child token, pregnancy
        tokens with their linked child tokens, and per household token the bodies whose
        guardian records (payees, 妊娠届) belong to a guardian of it (tokens only)."""
        return self.get_json(f"/projects/{project_id}/results/family")

    def signal_status(self, project_id: str) -> dict[str, Any]:
        """Coordinator: per body, what signals are stored and who must re-upload."""
        return self.get_json(f"/projects/{project_id}/signals/status")

    def signal_rows(self, project_id: str) -> dict[str, Any]:
        """Coordinator: the latest run's (token, body, ref, upload, ciphertext) rows."""
        return self.get_json(f"/projects/{project_id}/signals/rows")

    # -- coordinator ---------------------------------------------------------------
    def start_run(self, project_id: str) -> dict[str, Any]:
        return self.post_json(f"/projects/{project_id}/runs")

    def run_status(self, project_id: str, run_id: str) -> dict[str, Any]:
        return self.get_json(f"/projects/{project_id}/runs/{run_id}")

    def wait_run(
        self, project_id: str, run_id: str, *, timeout: float = 3600.0, poll: float = 0.5
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            status = self.run_status(project_id, run_id)
            if status.get("status") in {"done", "failed", "cancelled"}:
                return status
            if time.monotonic() > deadline:
                raise ApiError(f"run {run_id} did not finish within {timeout:.0f} s")
            time.sleep(poll)

    # -- cross-municipality linkage (crosslinks) -----------------------------------------
    def propose_crosslink(
        self, name: str, projects: list[str], *, threshold: float | None = None
    ) -> dict[str, Any]:
        """Operator, or a member's coordinator: propose a cross-link between projects."""
        body: dict[str, Any] = {"name": name, "projects": projects}
        if threshold is not None:
            body["threshold"] = threshold
        return self.post_json("/crosslinks", body)

    def crosslinks(self) -> list[dict[str, Any]]:
        """The cross-links the caller takes part in (the operator: all)."""
        return self.get_json("/crosslinks")

    def crosslink(self, crosslink_id: str) -> dict[str, Any]:
        return self.get_json(f"/crosslinks/{crosslink_id}")

    def approve_crosslink(self, crosslink_id: str) -> dict[str, Any]:
        """Coordinator: approve the cross-link for this project."""
        return self.post_json(f"/crosslinks/{crosslink_id}/approve")

    def withdraw_crosslink(self, crosslink_id: str) -> dict[str, Any]:
        """Coordinator: withdraw (ends the cross-link; its encodings and results go)."""
        return self.post_json(f"/crosslinks/{crosslink_id}/withdraw")

    def upload_crosslink(self, crosslink_id: str, path: str | Path) -> dict[str, Any]:
        """Body: send encodings made with the joint secret (replaces its earlier ones)."""
        data = Path(path).read_bytes()
        content_type = (
            "application/json"
            if Path(path).suffix.lower() == ".json"
            else "application/octet-stream"
        )
        return self._request(
            "POST",
            f"/crosslinks/{crosslink_id}/uploads",
            content=data,
            headers={
                "Content-Type": content_type,
                "X-Content-SHA256": hashlib.sha256(data).hexdigest(),
            },
        ).json()

    def start_crosslink_run(self, crosslink_id: str) -> dict[str, Any]:
        return self.post_json(f"/crosslinks/{crosslink_id}/runs")

    def wait_crosslink_run(
        self, crosslink_id: str, run_id: str, *, timeout: float = 3600.0, poll: float = 0.5
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            status = self.get_json(f"/crosslinks/{crosslink_id}/runs/{run_id}")
            if status.get("status") in {"done", "failed", "cancelled"}:
                return status
            if time.monotonic() > deadline:
                raise ApiError(f"cross run {run_id} did not finish within {timeout:.0f} s")
            time.sleep(poll)

    def crosslink_results(self, crosslink_id: str) -> dict[str, Any]:
        """Coordinator: this project's records that link to another member project."""
        return self.get_json(f"/crosslinks/{crosslink_id}/results")

    def download(self, path: str, destination: str | Path, *, params: dict[str, str]) -> int:
        """Stream a result download to ``destination`` (atomically); return bytes written."""
        return self.download_with_headers(path, destination, params=params)[0]

    def download_with_headers(
        self, path: str, destination: str | Path, *, params: dict[str, str]
    ) -> tuple[int, dict[str, str]]:
        """Like :meth:`download`; also return the response headers (lower-case names), e.g.
        ``x-kakehashi-stale`` on result downloads."""
        destination = Path(destination)
        tmp = destination.with_name(f".{destination.name}.part")
        written = 0
        try:
            with self._http.stream("GET", API + path, params=params) as response:
                if response.status_code >= 400:
                    response.read()
                    raise _problem(response)
                headers = {k.lower(): v for k, v in response.headers.items()}
                with tmp.open("wb") as handle:
                    for block in response.iter_bytes():
                        handle.write(block)
                        written += len(block)
            tmp.replace(destination)
        except httpx.HTTPError as exc:
            tmp.unlink(missing_ok=True)
            raise ApiError(f"cannot reach the server at {self.base_url}: {exc}") from exc
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return written, headers
