"""The department's install: the package's base dependencies only, no extra.

Builds a fresh virtual environment with uv (from uv's cache and the configured package
index, as `make venv` does), installs this checkout without extras, and runs the
department's commands in it. Then checks that none of the server's (or the benchmarks')
packages is installed, and that none was imported while the commands ran.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Packages the department's install must not have (import names).
SERVER_SIDE = [
    "fastapi", "starlette", "uvicorn", "sqlalchemy", "alembic", "psycopg", "prometheus_client",
    "pydantic_settings", "numba", "llvmlite", "anonlink", "splink", "duckdb", "psutil",
    "matplotlib", "gimei", "yaml", "server.main", "dask", "distributed",
]  # fmt: skip

PROBE = r"""
import importlib.util, json, os, sys
from kakehashi.cli import main

def run(*args):
    try:
        main(list(args))
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0

work = sys.argv[1]
os.chdir(work)
status = {
    "version": run("--version"),
    "secret": run("secret", "new", "s.secret"),
    "check": run("encode", "export.csv", "--check"),
    "encode": run("encode", "export.csv", "--secret", "s.secret", "-j", "1"),
    "fingerprint": run("secret", "fingerprint", "s.secret"),
    "upload": run("upload", "export.kkh", "--server", "http://127.0.0.1:9",
                  "--project", "p", "--credential", "s.secret"),
    "results_help": run("results", "--help"),
    "serve": run("serve", "--port", "1"),
    "audit": run("audit", "verify"),
}
ref = open("export.keys.csv", encoding="utf-8").read().splitlines()[1].split(",")[0]
status["resolve"] = run("resolve", "export.keys.csv", ref)
names = json.loads(sys.argv[2])
print(json.dumps({
    "status": status,
    "imported": sorted(n for n in names if n in sys.modules),
    "installed": sorted(n for n in names if "." not in n and importlib.util.find_spec(n)),
}))
"""


def _uv() -> str:
    local = Path(sys.prefix) / "bin" / "uv"
    found = str(local) if local.exists() else shutil.which("uv")
    if found is None:
        pytest.skip("uv is not available (make venv installs it)")
    return found


@pytest.mark.slow
def test_encoder_only_environment_runs_the_department_commands(tmp_path: Path) -> None:
    uv = _uv()
    venv = tmp_path / "venv"
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    python = venv / "bin" / "python"
    overrides = tmp_path / "overrides.txt"
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    overrides.write_text("\n".join(pyproject["tool"]["uv"]["override-dependencies"]) + "\n")
    subprocess.run(
        [uv, "pip", "install", "--quiet", "--python", str(python),
         "--override", str(overrides), str(ROOT)],
        check=True,
        cwd=tmp_path,
    )  # fmt: skip

    work = tmp_path / "work"
    work.mkdir()
    (work / "export.csv").write_text(
        "宛名番号,氏名,氏名_フリガナ,生年月日,性別,住所\n"
        "A1,高橋　太郎,タカハシ　タロウ,2015-04-01,男,架橋市本町1-2-3\n"
        "A2,斎藤　花子,サイトウ　ハナコ,令和2年5月12日,女,架橋市東町3-4-5\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [str(python), "-c", PROBE, str(work), json.dumps(SERVER_SIDE)],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # not the checkout: the installed package must be the one imported
        env={**os.environ, "PYTHONPATH": ""},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["installed"] == [], "server-side packages in the encoder-only install"
    assert result["imported"] == []
    status = result["status"]
    assert {k: status[k] for k in ("version", "secret", "check", "encode", "fingerprint")} == {
        "version": 0, "secret": 0, "check": 0, "encode": 0, "fingerprint": 0,
    }  # fmt: skip
    assert status["resolve"] == 0
    assert status["results_help"] == 0
    assert status["upload"] == 2  # the server is unreachable: one clear line, no traceback
    assert status["serve"] == 2 and status["audit"] == 2
    from linkage.schema import default_schema

    assert f"kakehashi 0.1.0 (schema {default_schema().name} " in done.stdout
    assert "`kakehashi serve` needs the 'server' extra" in done.stderr
    assert "Traceback" not in done.stderr
    assert (work / "export.kkh").exists()
