"""The offline Windows bundle (`make bundle`, scripts/build_bundle.py).

* Every base dependency resolves to a win_amd64 (or pure-Python) wheel for CPython 3.11,
  3.12 and 3.13 — no source distribution is ever built on a department's PC.
* A built bundle's SHA256SUMS lists every file with its hash, the zip holds exactly those
  files and its checksum file matches it, the requirements pin every wheel by hash, and
  pip (asked for Windows, offline, ``--require-hashes``) accepts each requirements file.
* The batch files are CP932 with CRLF, as cmd.exe needs, and hold no double-byte
  character whose second byte cmd could take for ``|`` or ``^``.

Downloads go to the wheel cache of the build script (``~/.cache/kakehashi-bundle-wheels``,
or ``KAKEHASHI_BUNDLE_CACHE``), so only the first run fetches them (about 54 MiB).
What cannot run here: the scripts themselves on Windows (no Windows machine); the
PowerShell checksum script's logic is the one this test applies in Python.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("build_bundle", ROOT / "scripts" / "build_bundle.py")
assert _spec is not None and _spec.loader is not None
build_bundle = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build_bundle)

CACHE = Path(os.environ.get("KAKEHASHI_BUNDLE_CACHE", build_bundle.DEFAULT_CACHE))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("tags", "python", "fits"),
    [
        ("cp312-cp312-win_amd64", "cp312", True),
        ("cp311-cp311-win_amd64", "cp312", False),
        ("cp311-abi3-win_amd64", "cp313", True),
        ("py3-none-any", "cp311", True),
        ("py2.py3-none-any", "cp311", True),
        ("cp312-cp312-manylinux_2_17_x86_64", "cp312", False),
        ("cp312-cp312-win32", "cp312", False),
    ],
)
def test_wheel_tags(tags: str, python: str, fits: bool) -> None:
    assert build_bundle.wheel_fits(*tags.split("-"), python) is fits


@pytest.mark.slow
@pytest.mark.parametrize("python", build_bundle.PYTHONS)
def test_every_dependency_resolves_to_a_windows_wheel(python: str, tmp_path: Path) -> None:
    pins = build_bundle.resolve(python, tmp_path)
    names = {pin.partition("==")[0].lower() for pin in pins}
    assert {"clkhash", "cryptography", "numpy", "bitarray", "httpx", "openpyxl", "typer"} <= names
    assert not names & {"fastapi", "sqlalchemy", "alembic", "uvicorn", "psycopg", "numba"}
    wheels = build_bundle.download(pins, python, CACHE)  # raises when a wheel is missing
    assert len(wheels) == len(pins)
    tag = f"cp{python.replace('.', '')}"
    for wheel in wheels:
        assert wheel.suffix == ".whl"
        assert build_bundle.wheel_fits(*wheel.stem.split("-")[-3:], tag), wheel.name


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundle")
    archive = build_bundle.build(out, CACHE, build_bundle.PYTHONS)
    return archive


def _folder(archive: Path) -> Path:
    return archive.with_suffix("")


@pytest.mark.slow
def test_manifest_lists_every_file_with_its_hash(bundle: Path) -> None:
    folder = _folder(bundle)
    listed = {}
    for line in (folder / "SHA256SUMS").read_text("utf-8").splitlines():
        digest, _, rel = line.partition("  ")
        listed[rel] = digest
    files = {
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and p.name != "SHA256SUMS"
    }
    assert set(listed) == files
    for rel, digest in listed.items():
        assert _sha(folder / rel) == digest, rel
    # a changed file no longer matches (what tools/verify.ps1 reports on the PC)
    target = folder / "README.txt"
    original = target.read_bytes()
    target.write_bytes(original + b" ")
    try:
        assert build_bundle.manifest_lines(folder) != (
            (folder / "SHA256SUMS").read_text("utf-8").splitlines()
        )
    finally:
        target.write_bytes(original)
    assert build_bundle.manifest_lines(folder) == (
        (folder / "SHA256SUMS").read_text("utf-8").splitlines()
    )


@pytest.mark.slow
def test_zip_holds_the_folder_and_its_checksum_matches(bundle: Path) -> None:
    folder = _folder(bundle)
    digest, _, name = (
        bundle.with_name(bundle.name + ".sha256").read_text("ascii").strip().partition("  ")
    )
    assert name == bundle.name and digest == _sha(bundle)
    with zipfile.ZipFile(bundle) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    on_disk = {
        f"{folder.name}/{p.relative_to(folder).as_posix()}": p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file()
    }
    assert members == on_disk
    assert f"{folder.name}/符号化.bat" in members


@pytest.mark.slow
@pytest.mark.parametrize("python", build_bundle.PYTHONS)
def test_pip_installs_each_requirements_file_offline_with_hashes(
    bundle: Path, python: str, tmp_path: Path
) -> None:
    """What install.bat runs, asked of pip for Windows: every wheel found, every hash right."""
    folder = _folder(bundle)
    tag = f"py{python.replace('.', '')}"
    requirements = folder / "requirements" / f"{tag}.txt"
    for line in requirements.read_text().splitlines():
        name, _, digest = line.partition(" --hash=sha256:")
        assert any(_sha(w) == digest for w in (folder / "wheels").glob("*.whl")), (
            f"{name}: no wheel with that hash"
        )
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet",
         "--disable-pip-version-check", "--no-index", "--no-deps", "--require-hashes",
         "--find-links", str(folder / "wheels"), "-r", str(requirements),
         "--only-binary=:all:", "--platform", "win_amd64", "--python-version", python,
         "--implementation", "cp", "--target", str(tmp_path / "target"),
         # pip checks Requires-Python against the interpreter running it, not against
         # --python-version; the wheels' cpXY tags already pin the version.
         "--ignore-requires-python"],
        capture_output=True, text=True, check=False,
        env={**os.environ, "PIP_FIND_LINKS": "", "PIP_CONFIG_FILE": os.devnull},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def _dangerous_trail_bytes(data: bytes) -> list[str]:
    """Double-byte CP932 characters whose second byte is ``|`` or ``^``."""
    found = []
    i = 0
    while i < len(data):
        byte = data[i]
        if 0x81 <= byte <= 0x9F or 0xE0 <= byte <= 0xFC:
            if data[i + 1] in (0x7C, 0x5E):
                found.append(data[i : i + 2].decode("cp932"))
            i += 2
        else:
            i += 1
    return found


@pytest.mark.parametrize("name", build_bundle.BATCH_FILES)
def test_batch_files_are_cp932_with_crlf(name: str, tmp_path: Path) -> None:
    text = (ROOT / "win-bundle" / name).read_text("utf-8")
    target = tmp_path / name
    build_bundle.write_text(target, text, encoding="cp932")  # raises on a non-CP932 char
    data = target.read_bytes()
    assert data.decode("cp932").replace("\r\n", "\n") == text
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert data.startswith(b"@echo off\r\n")
    assert b"chcp 932" in data and b"chcp 65001" not in data
    assert _dangerous_trail_bytes(data) == []
