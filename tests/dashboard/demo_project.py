"""A small demo project for the dashboard tests, made the way people make one.

A synthetic municipality with support signals; a real ``kakehashi serve`` process; the
operator creates the project; the coordinator makes a key pair and sets the catalogue and
its public key; each body encodes its export with its signals and uploads both — all
through the ``kakehashi`` command. No run is started: the browser test starts it.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kakehashi.demo import kakehashi, running_server
from synthetic import generate
from synthetic.signals import demo_catalogue_dict, signal_map

PASSPHRASE = "kakehashi-demo-passphrase"
PASSPHRASE_ENV = "KAKEHASHI_KEY_PASSPHRASE"
TTL_ENV = "KAKEHASHI_CREDENTIAL_TTL_DAYS"
RULES = Path(__file__).resolve().parents[2] / "docs/ja/examples/rules_mishugaku_kenshin.toml"


@dataclass(frozen=True)
class DemoProject:
    url: str
    project: str
    coordinator: Path
    key: Path
    passphrase: str
    rules: Path
    folder: Path
    bodies: tuple[str, ...]

    @property
    def credential(self) -> str:
        return self.coordinator.read_text().strip()


def _map_toml(body: str) -> str:
    lines = [f'body = "{body}"', ""]
    for code, header in signal_map(body).items():
        lines += [f"[signals.{code}]", f'column = "{header}"', ""]
    return "\n".join(lines)


def _register_twice(path: Path, n: int) -> None:
    """The school exported ``n`` children twice (a second registration under another id):
    the other bodies' records of these children have two equally good candidates there,
    so the engine flags the groups for review instead of choosing."""
    raw = path.read_bytes()
    text = raw.decode("utf-8-sig")
    lines = text.splitlines()
    extra = []
    for line in lines[1 : n + 1]:
        rid, rest = line.split(",", 1)
        extra.append(f"{rid}9,{rest}")
    bom = "\ufeff" if raw.startswith(b"\xef\xbb\xbf") else ""
    path.write_text(bom + "\n".join(lines + extra) + "\n", encoding="utf-8")


@contextlib.contextmanager
def demo_project(folder: Path, *, children: int = 150, seed: int = 7) -> Iterator[DemoProject]:
    town = generate(children, seed=seed, signals=True)
    exports = folder / "exports"
    files = town.write_exports(exports)
    _register_twice(files["gakko"], 2)
    saved = {k: os.environ.get(k) for k in (PASSPHRASE_ENV, TTL_ENV)}
    os.environ[PASSPHRASE_ENV] = PASSPHRASE
    os.environ[TTL_ENV] = "365"  # credentials expire in a year (the server reads it)
    try:
        with running_server(folder / "server") as url:
            creds = folder / "credentials"
            kakehashi(
                "project", "create", "--server", url,
                "--credential", folder / "server" / "operator.credential",
                "--name", "架橋市 こども支援 テスト", "--out", creds,
                *[arg for body in files for arg in ("--body", body)],
            )  # fmt: skip
            project = json.loads((creds / "project.json").read_text())["project_id"]
            coordinator = creds / "coordinator.credential"
            common = ("--server", url, "--project", project)
            keys = folder / "keys"
            kakehashi("keys", "new", "--out", keys)
            catalogue = folder / "catalogue.json"
            catalogue.write_text(json.dumps(demo_catalogue_dict(), ensure_ascii=False))
            kakehashi(
                "project", "catalogue", "set", catalogue, *common, "--credential", coordinator
            )
            kakehashi(
                "project", "key", "set", keys / "coordinator.pub.pem", *common,
                "--credential", coordinator,
            )  # fmt: skip
            secret = folder / "secret.txt"
            kakehashi("secret", "new", secret)
            for body, path in files.items():
                work = folder / body
                work.mkdir()
                encodings = work / f"{body}.kkh"
                extra: list[str | Path] = []
                if signal_map(body):
                    (work / "signals.toml").write_text(_map_toml(body), encoding="utf-8")
                    extra = [
                        "--signals", work / "signals.toml", "--project", project,
                        "--catalogue", catalogue, "--coordinator-key", keys / "coordinator.pub.pem",
                    ]  # fmt: skip
                kakehashi(
                    "encode", path, "--secret", secret, "--out", encodings,
                    "--keys", work / f"{body}.keys.csv", *extra,
                )  # fmt: skip
                kakehashi(  # sends the sealed signals file beside the encodings too
                    "upload", encodings, *common, "--credential", creds / f"body-{body}.credential"
                )
            yield DemoProject(
                url=url,
                project=project,
                coordinator=coordinator,
                key=keys / "coordinator.key.pem",
                passphrase=PASSPHRASE,
                rules=RULES,
                folder=folder,
                bodies=tuple(files),
            )
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
