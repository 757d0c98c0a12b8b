"""Build the offline Windows bundle of the department's encoder (`make bundle`).

On this Linux machine, for Windows x64 and CPython 3.11, 3.12 and 3.13:

1. build the project's wheel (``uv build``);
2. resolve the package's **base** dependencies (no extras: the department's encoder) for
   each Python version on ``x86_64-pc-windows-msvc`` with uv, applying the overrides of
   ``[tool.uv]`` (clkhash's stale pins; see pyproject.toml), wheels only;
3. download exactly those wheels for ``win_amd64`` with ``pip download --only-binary=:all:
   --no-deps`` (a source distribution is never accepted: nothing is built on the PC);
4. write ``requirements/py3XX.txt`` per version with the SHA-256 of each wheel, so that
   the PC installs with ``pip --no-index --no-deps --require-hashes``;
5. add the install scripts (CP932, CRLF), the Japanese README (UTF-8 with BOM, CRLF),
   ``VERSION.txt`` (version, schema id, wheel list), ``SHA256SUMS`` of every file, then zip
   the folder and write the zip's SHA-256 beside it.

Python itself is not bundled: the official embeddable Python is not obtainable through
the package index, so the bundle requires a per-user Python 3.11-3.13 already on the PC
(python.org's installer, "Install for me only", needs no administrator rights).

Usage::

    python scripts/build_bundle.py [--out dist/bundle] [--cache DIR] [--python 3.12 ...]
    python scripts/build_bundle.py --resolve-only   # step 2 only, prints the pins
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "win-bundle"
PYTHONS = ("3.11", "3.12", "3.13")
PLATFORM = "win_amd64"
UV_PLATFORM = "x86_64-pc-windows-msvc"
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / (
    "kakehashi-bundle-wheels"
)
#: Files written in CP932 with CRLF (cmd.exe reads batch files in the console code page).
BATCH_FILES = ("install.bat", "符号化.bat", "kakehashi-cmd.bat", "uninstall.bat")
_PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)")


def _uv() -> str:
    local = Path(sys.prefix) / "bin" / "uv"
    found = str(local) if local.exists() else shutil.which("uv")
    if found is None:
        raise SystemExit("uv not found: run `make venv` first")
    return found


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))


def resolve(python: str, work: Path) -> list[str]:
    """``name==version`` of every base dependency for Windows x64 and ``python``."""
    work.mkdir(parents=True, exist_ok=True)
    overrides = work / "overrides.txt"
    overrides.write_text("\n".join(project()["tool"]["uv"]["override-dependencies"]) + "\n")
    out = work / f"pins-{python}.txt"
    subprocess.run(
        [_uv(), "pip", "compile", str(ROOT / "pyproject.toml"), "--quiet",
         "--python-platform", UV_PLATFORM, "--python-version", python,
         "--override", str(overrides), "--only-binary", ":all:",
         "--no-header", "--no-annotate", "--output-file", str(out)],
        check=True,
        cwd=work,
    )  # fmt: skip
    pins = [line.strip() for line in out.read_text().splitlines() if _PIN.match(line.strip())]
    if not pins:
        raise SystemExit(f"no dependencies resolved for Python {python}")
    return pins


def download(pins: list[str], python: str, cache: Path) -> list[Path]:
    """The wheels of ``pins`` for ``python`` on win_amd64 (kept in ``cache``)."""
    folder = cache / f"cp{python.replace('.', '')}"
    folder.mkdir(parents=True, exist_ok=True)
    requirements = folder / "pins.txt"
    requirements.write_text("\n".join(pins) + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
         "--no-deps", "--only-binary=:all:", "--platform", PLATFORM,
         "--python-version", python, "--implementation", "cp",
         "-r", str(requirements), "-d", str(folder)],
        check=True,
    )  # fmt: skip
    wheels = []
    for pin in pins:
        name, version = _PIN.match(pin).groups()  # type: ignore[union-attr]
        wheels.append(find_wheel(folder, name, version, python))
    return wheels


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def find_wheel(folder: Path, name: str, version: str, python: str) -> Path:
    """The downloaded wheel of ``name==version`` that installs on ``python``/win_amd64."""
    tag = f"cp{python.replace('.', '')}"
    for path in sorted(folder.glob("*.whl")):
        parts = path.name[: -len(".whl")].split("-")
        if _normal(parts[0]) != _normal(name) or parts[1] != version:
            continue
        pyt, abi, plat = parts[-3], parts[-2], parts[-1]
        if not wheel_fits(pyt, abi, plat, tag):
            continue
        return path
    raise SystemExit(f"no {PLATFORM} wheel of {name}=={version} for Python {python}")


def wheel_fits(pyt: str, abi: str, plat: str, tag: str) -> bool:
    """Whether a wheel's tags install on CPython ``tag`` (e.g. ``cp312``) for win_amd64."""
    platforms = set(plat.split("."))
    if not platforms & {"any", PLATFORM}:
        return False
    pythons = set(pyt.split("."))
    minor = int(tag[3:])
    if abi == "abi3":  # e.g. cp39-abi3: any CPython from 3.9 on
        return any(p.startswith("cp3") and int(p[3:]) <= minor for p in pythons)
    if abi == tag:
        return tag in pythons
    if abi == "none":
        return bool(pythons & {"py3", tag, f"py3{minor}"})
    return False


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_text(path: Path, text: str, *, encoding: str, bom: bool = False) -> None:
    """Text with CRLF line ends in ``encoding`` (raises if a character does not fit)."""
    data = text.replace("\r\n", "\n").replace("\n", "\r\n").encode(encoding, errors="strict")
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)


def build_wheel(work: Path) -> Path:
    out = work / "project"
    subprocess.run([_uv(), "build", "--wheel", "--quiet", "--out-dir", str(out), str(ROOT)],
                   check=True)  # fmt: skip
    (wheel,) = out.glob("kakehashi-*.whl")
    return wheel


def build(out: Path, cache: Path, pythons: tuple[str, ...]) -> Path:
    """Build the bundle folder ``out`` and ``out.parent/<name>.zip``; returns the zip."""
    started = time.perf_counter()
    meta = project()["project"]
    version = meta["version"]
    sys.path.insert(0, str(ROOT))
    from linkage.schema import default_schema

    schema = default_schema()
    name = f"kakehashi-{version}-windows-x64"
    bundle = out / name
    if bundle.exists():
        shutil.rmtree(bundle)
    (bundle / "wheels").mkdir(parents=True)
    (bundle / "requirements").mkdir()
    (bundle / "tools").mkdir()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        project_wheel = build_wheel(work)
        shutil.copy2(project_wheel, bundle / "wheels" / project_wheel.name)
        listing: dict[str, list[str]] = {}
        for python in pythons:
            pins = resolve(python, work)
            wheels = download(pins, python, cache)
            lines = [f"kakehashi=={version} --hash=sha256:{sha256(project_wheel)}"]
            for pin, wheel in zip(pins, wheels, strict=True):
                target = bundle / "wheels" / wheel.name
                if not target.exists():
                    shutil.copy2(wheel, target)
                lines.append(f"{pin} --hash=sha256:{sha256(wheel)}")
            tag = f"py{python.replace('.', '')}"
            (bundle / "requirements" / f"{tag}.txt").write_text("\n".join(lines) + "\n")
            listing[tag] = [project_wheel.name, *(w.name for w in wheels)]
    for template in BATCH_FILES:
        text = (TEMPLATES / template).read_text("utf-8").replace("@VERSION@", version)
        write_text(bundle / template, text, encoding="cp932")
    readme = (TEMPLATES / "README.txt").read_text("utf-8").replace("@VERSION@", version)
    write_text(bundle / "README.txt", readme, encoding="utf-8", bom=True)
    for script in (TEMPLATES / "tools").glob("*.ps1"):
        write_text(bundle / "tools" / script.name, script.read_text("utf-8"), encoding="ascii")
    version_text = "\n".join(
        [
            f"kakehashi {version}",
            f"schema {schema.name} {schema.schema_id}",
            f"platform {PLATFORM}, CPython {', '.join(pythons)}",
            "",
            *(f"{tag}: {', '.join(names)}" for tag, names in listing.items()),
        ]
    )
    write_text(bundle / "VERSION.txt", version_text + "\n", encoding="utf-8")
    write_manifest(bundle)
    archive = out / f"{name}.zip"
    make_zip(bundle, archive)
    write_text(out / f"{name}.zip.sha256", f"{sha256(archive)}  {archive.name}\n", encoding="ascii")
    size = archive.stat().st_size / 2**20
    seconds = time.perf_counter() - started
    print(f"{archive} ({size:.1f} MiB, {len(listing)} Python versions) in {seconds:.0f} s")
    print(json.dumps({"zip": str(archive), "mib": round(size, 1), "seconds": round(seconds)}))
    return archive


def manifest_lines(bundle: Path) -> list[str]:
    """``<sha256>  <relative path>`` of every file but SHA256SUMS, sorted by path."""
    files = sorted(p for p in bundle.rglob("*") if p.is_file() and p.name != "SHA256SUMS")
    return [f"{sha256(p)}  {p.relative_to(bundle).as_posix()}" for p in files]


def write_manifest(bundle: Path) -> None:
    write_text(bundle / "SHA256SUMS", "\n".join(manifest_lines(bundle)) + "\n", encoding="utf-8")


def make_zip(bundle: Path, archive: Path) -> None:
    """The bundle folder as a zip with a fixed timestamp (UTF-8 names, as Windows reads them)."""
    archive.unlink(missing_ok=True)
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(p for p in bundle.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(
                f"{bundle.name}/{path.relative_to(bundle).as_posix()}", (2020, 1, 1, 0, 0, 0)
            )
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, path.read_bytes())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist" / "bundle")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--python", action="append", choices=PYTHONS)
    parser.add_argument("--resolve-only", action="store_true")
    args = parser.parse_args(argv)
    pythons = tuple(args.python or PYTHONS)
    if args.resolve_only:
        with tempfile.TemporaryDirectory() as tmp:
            for python in pythons:
                print(f"# Python {python}, {PLATFORM}")
                print("\n".join(resolve(python, Path(tmp))))
        return
    build(args.out, args.cache, pythons)


if __name__ == "__main__":
    main()
