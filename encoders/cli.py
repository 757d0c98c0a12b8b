"""Department commands: ``secret new``, ``encode``, ``upload``, ``resolve``.

Registered on the ``kakehashi`` command by :func:`register`. Everything here runs on the
department's own machine; only ``upload`` talks to the server, and it sends encodings only.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.console import Console

if TYPE_CHECKING:
    from encoders.encode import EncodeReport

err = Console(stderr=True)
out = Console(markup=False, highlight=False, soft_wrap=True)

ServerOpt = Annotated[
    str, typer.Option("--server", envvar="KAKEHASHI_SERVER", help="Linkage server base URL.")
]
ProjectOpt = Annotated[
    str, typer.Option("--project", envvar="KAKEHASHI_PROJECT", help="Project id.")
]
CredentialOpt = Annotated[
    Path,
    typer.Option(
        "--credential",
        envvar="KAKEHASHI_CREDENTIAL",
        help="File holding this body's (or the coordinator's) credential.",
    ),
]


def secret_new(
    path: Annotated[Path, typer.Argument(help="Where to write the new secret file.")],
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Make a new 256-bit linkage secret and print its fingerprint.

    Share the file with the other participating bodies out of band (never with the linkage
    server) and compare the fingerprint by phone.
    """
    from encoders.secret import fingerprint, new_secret, write_secret

    secret = new_secret()
    write_secret(path, secret, overwrite=force)
    out.print(f"wrote {path} (readable by you only)")
    out.print(f"fingerprint: {fingerprint(secret)}  — compare it with every body")


def secret_fingerprint(
    path: Annotated[Path, typer.Argument(help="Secret file.")],
) -> None:
    """Print the fingerprint of a secret file."""
    from encoders.secret import fingerprint, read_secret

    out.print(fingerprint(read_secret(path)))


def _parse_overrides(pairs: list[str]) -> dict[str, str]:
    overrides: dict[str, str] = {}
    for pair in pairs:
        key, sep, header = pair.partition("=")
        if not sep or not key.strip() or not header.strip():
            raise typer.BadParameter(f"--column expects KEY=HEADER, got {pair!r}")
        overrides[key.strip()] = header.strip()
    return overrides


def encode(
    input_path: Annotated[
        Path, typer.Argument(help="The export: CSV (UTF-8, UTF-8 with BOM, CP932) or .xlsx.")
    ],
    secret: Annotated[
        Path | None, typer.Option("--secret", help="Linkage secret file (not needed for --check).")
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Encodings file to write (default: INPUT.kkh/.json)."),
    ] = None,
    keys: Annotated[
        Path | None,
        typer.Option(
            "--keys",
            help="Keys file to write (ref → record id; never upload it) (default: INPUT.keys.csv).",
        ),
    ] = None,
    schema: Annotated[
        Path | None, typer.Option("--schema", help="Linkage schema JSON (default: built-in).")
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", help="binary (compact, default) or json (clkhash).")
    ] = "binary",
    columns: Annotated[
        Path | None, typer.Option("--columns", help="TOML file mapping export headers to fields.")
    ] = None,
    column: Annotated[
        list[str] | None,
        typer.Option(
            "--column", help="KEY=HEADER mapping, e.g. date_of_birth=誕生日 (repeatable)."
        ),
    ] = None,
    encoding: Annotated[
        str | None, typer.Option("--encoding", help="Force the CSV encoding (utf-8, cp932, ...).")
    ] = None,
    sheet: Annotated[str | None, typer.Option("--sheet", help="Excel sheet name.")] = None,
    workers: Annotated[
        int, typer.Option("--workers", "-j", help="Worker processes (default: all cores).")
    ] = 0,
    max_reject_rate: Annotated[
        float,
        typer.Option("--max-reject-rate", help="Fail if more than this share of rows is rejected."),
    ] = 0.01,
    check: Annotated[
        bool,
        typer.Option("--check", help="Dry run: report recognised columns and row problems only."),
    ] = False,
    signals: Annotated[
        Path | None,
        typer.Option(
            "--signals",
            help="Signals map (TOML: body and code -> column): also write *.signals.json "
            "beside the encodings, each record's signals encrypted to the coordinator.",
        ),
    ] = None,
    catalogue: Annotated[
        Path | None,
        typer.Option(
            "--catalogue", help="The project's signal catalogue file (default: fetch it)."
        ),
    ] = None,
    coordinator_key: Annotated[
        Path | None,
        typer.Option(
            "--coordinator-key",
            help="The coordinator's public key file (.pub.pem) (default: fetch it).",
        ),
    ] = None,
    key_fingerprint: Annotated[
        str | None,
        typer.Option(
            "--key-fingerprint",
            help="The coordinator key fingerprint you confirmed by phone (required when "
            "the key is fetched from the server).",
        ),
    ] = None,
    project: Annotated[
        str | None,
        typer.Option("--project", envvar="KAKEHASHI_PROJECT", help="Project id (for --signals)."),
    ] = None,
    server: Annotated[
        str | None,
        typer.Option(
            "--server", envvar="KAKEHASHI_SERVER", help="Server (to fetch key/catalogue)."
        ),
    ] = None,
    credential: Annotated[
        Path | None,
        typer.Option(
            "--credential", envvar="KAKEHASHI_CREDENTIAL", help="This body's credential file."
        ),
    ] = None,
    family: Annotated[
        Path | None,
        typer.Option(
            "--family",
            help="Family map (TOML: guardian columns, 続柄, expected date): also write "
            "*.family.json (guardian encodings, relations, date tags) and *.family.keys.csv.",
        ),
    ] = None,
) -> None:
    """Encode a department export into CLKs: writes encodings, a keys file and a report.

    With --family, also writes OUT.family.json: the guardians' encodings (same pipeline and
    secret; names never leave this machine), which child has which guardian, and keyed tags
    of birth dates / expected dates. A map with subject = "guardian" (rows are mothers or
    payees, e.g. 妊娠届) writes only the family file.

    With --signals, also writes OUT.signals.json beside the encodings: for every encoded record one
    fixed-size ciphertext of its signals, readable by the coordinator only.
    """
    from encoders.pipeline import default_workers
    from linkage.schema import load_schema

    if fmt not in ("binary", "json"):
        raise typer.BadParameter("--format must be binary or json")
    the_schema = load_schema(schema)
    overrides = _parse_overrides(column or [])
    if check:
        family_map = None
        if family is not None:
            from encoders.family import load_family_map

            family_map = load_family_map(family)
        if family_map is None or family_map.subject == "child":
            _check(input_path, encoding, sheet, columns, overrides)
        if family_map is not None:
            _check_family(input_path, encoding, sheet, family_map, the_schema, columns, overrides)
        if signals is not None:
            _check_signals(
                input_path, encoding, sheet, signals, catalogue, project, server, credential
            )
        return
    if secret is None:
        raise typer.BadParameter("--secret is required (make one with `kakehashi secret new`)")
    from encoders.encode import encode_file
    from encoders.secret import fingerprint, read_secret

    secret_bytes = read_secret(secret)
    family_job = None
    if family is not None:
        from encoders.family import FamilyJob, load_family_map

        family_map = load_family_map(family)
        base = (output or input_path).with_suffix("")
        key_base = keys.with_name(keys.name.removesuffix(".keys.csv")) if keys else input_path
        family_job = FamilyJob(
            family_map,
            schema=the_schema,
            secret=secret_bytes,
            secret_fingerprint=fingerprint(secret_bytes),
            output=base.with_name(base.name + ".family.json"),
            keys_output=key_base.with_name(key_base.stem + ".family.keys.csv"),
        )
        if family_map.subject == "guardian":
            from encoders.encode import encode_family_file

            report_csv = encode_family_file(input_path, family_job, encoding=encoding, sheet=sheet)
            out.print(
                f"{input_path.name}: {max(family_job.guardians_written, 0)} guardian(s), "
                f"{family_job.pregnancies_written} pregnancy record(s)"
            )
            out.print(f"  family file: {family_job.output}  (upload this)")
            out.print(f"  keys file:   {family_job.keys_output}  (keep it here; never upload it)")
            out.print(f"  report:      {report_csv}")
            return
    suffix = ".kkh" if fmt == "binary" else ".json"
    output = output or input_path.with_name(input_path.stem + suffix)
    keys = keys or input_path.with_name(input_path.stem + ".keys.csv")
    fmt_lit: Literal["binary", "json"] = "binary" if fmt == "binary" else "json"
    job = None
    if signals is not None:
        job = _signals_job(
            signals,
            output.with_name(output.stem + ".signals.json"),
            catalogue=catalogue,
            coordinator_key=coordinator_key,
            key_fingerprint=key_fingerprint,
            project=project,
            server=server,
            credential=credential,
        )
    with _progress(f"encoding {input_path.name}") as advance:
        report = encode_file(
            input_path,
            output=output,
            keys_output=keys,
            schema=the_schema,
            secret=secret_bytes,
            fmt=fmt_lit,
            encoding=encoding,
            sheet=sheet,
            mapping_file=columns,
            overrides=overrides,
            workers=workers or default_workers(),
            max_reject_rate=max_reject_rate,
            progress=advance,
            signals=job,
            family=family_job,
        )
    rate = report.rows_read / report.seconds if report.seconds else 0.0
    out.print(
        f"{input_path.name}: {report.rows_read} rows read ({report.encoding}), "
        f"{report.rows_encoded} encoded, {report.rows_rejected} rejected, "
        f"{report.rows_doubtful} doubtful — {rate:,.0f} rows/s"
    )
    out.print(f"  encodings: {report.output}  (upload this)")
    out.print(f"  keys file: {report.keys}  (keep it here; never upload it)")
    if job is not None:
        out.print(
            f"  signals:   {job.output}  (upload this too; {job.with_signals} of "
            f"{job.records} records have signals; codes {', '.join(job.context.codes)})"
        )
    if family_job is not None:
        out.print(
            f"  family:    {family_job.output}  (upload this too; "
            f"{max(family_job.guardians_written, 0)} guardians, "
            f"{len(family_job.relations)} relations; keys in {family_job.keys_output})"
        )
    out.print(f"  report:    {report.report_csv}")
    out.print(
        f"  schema {the_schema.name} {the_schema.schema_id[:12]}…, "
        f"secret fingerprint {fingerprint(secret_bytes)}"
    )
    if os.environ.get("KAKEHASHI_LANG", "").lower().startswith("ja"):
        _summary_ja(report, the_schema.name, the_schema.schema_id, fingerprint(secret_bytes))


def _summary_ja(report: EncodeReport, schema_name: str, schema_id: str, secret_fp: str) -> None:
    """The summary in Japanese (``KAKEHASHI_LANG=ja``, as 符号化.bat sets it)."""
    out.print("")
    out.print("【符号化の結果】")
    out.print(
        f"  読み込み {report.rows_read} 行 / 符号化 {report.rows_encoded} 行 / "
        f"除外 {report.rows_rejected} 行 / 要確認 {report.rows_doubtful} 行"
        f"（文字コード {report.encoding}）"
    )
    out.print(f"  送信するファイル:        {report.output}")
    out.print(f"  キーファイル（課外秘）:  {report.keys}")
    out.print(f"  検証レポート:            {report.report_csv}")
    out.print(f"  スキーマ: {schema_name} {schema_id}")
    out.print(f"  共有秘密の指紋: {secret_fp}  （電話で確認した指紋と同じか確かめてください）")
    if report.rows_rejected or report.rows_doubtful:
        out.print("  除外・要確認の行と理由は検証レポートを Excel で開いて確認してください。")


def _fetch_catalogue(
    catalogue: Path | None, project: str | None, server: str | None, credential: Path | None
):
    """The catalogue from a file, or from the server with the body's credential."""
    from linkage.signals import Catalogue, load_catalogue

    if catalogue is not None:
        return load_catalogue(catalogue)
    if not project or not server or credential is None:
        raise typer.BadParameter(
            "--signals needs --catalogue FILE, or --server, --project and --credential "
            "to fetch the catalogue"
        )
    from apiclient import ApiClient, read_credential

    with ApiClient(server, read_credential(credential)) as client:
        return Catalogue.from_dict(client.signal_catalogue(project))


def _check_signals(
    input_path: Path,
    encoding: str | None,
    sheet: str | None,
    signal_map: Path,
    catalogue: Path | None,
    project: str | None,
    server: str | None,
    credential: Path | None,
) -> None:
    """``--check --signals``: validate the mapped signal cells; nothing is encrypted."""
    from collections import Counter

    from encoders.signals import load_signal_map, read_signal_values

    the_catalogue = _fetch_catalogue(catalogue, project, server, credential)
    mapped = load_signal_map(signal_map, the_catalogue)
    values, issues = read_signal_values(mapped, input_path, encoding=encoding, sheet=sheet)
    counts = Counter(code for found in values.values() for code in found)
    out.print(f"signals (catalogue version {the_catalogue.version}, body {mapped.body}):")
    for m in mapped.signals:
        out.print(
            f"  {m.column} → {m.spec.code} ({m.spec.label}, {m.spec.value_type}): "
            f"{counts[m.spec.code]} rows with a value"
        )
    out.print(f"{len(issues)} signal value(s) not valid")
    for issue in issues[:20]:
        out.print(f"  row {issue.row}, column {issue.column}: {issue.severity}: {issue.reason}")


def _check_family(
    input_path: Path,
    encoding: str | None,
    sheet: str | None,
    family_map,
    schema,
    columns: Path | None,
    overrides: dict[str, str],
) -> None:
    """``--check --family``: validate the guardian and expected-date cells (nothing written).

    The guardians are encoded with a throwaway secret, only to run the same checks.
    """
    import secrets
    import tempfile

    from encoders.columns import resolve_columns
    from encoders.family import FamilyJob
    from encoders.readers import open_table

    child_dob = child_id = None
    if family_map.subject == "child":
        with open_table(input_path, encoding=encoding, sheet=sheet) as table:
            plan = resolve_columns(
                table.headers, mapping_file=columns, overrides=overrides, file_label=input_path.name
            )
        child_dob, child_id = plan.index.get("date_of_birth"), plan.index.get("record_id")
    with tempfile.TemporaryDirectory() as tmp:
        job = FamilyJob(
            family_map,
            schema=schema,
            secret=secrets.token_bytes(32),
            secret_fingerprint="check",
            output=Path(tmp) / "check.family.json",
            keys_output=Path(tmp) / "check.family.keys.csv",
        )
        issues = job.prepare(
            input_path,
            encoding=encoding,
            sheet=sheet,
            child_dob=child_dob,
            child_record_id=child_id,
        )
    labels = ", ".join(f"{g.label} ({g.role or '続柄'})" for g in family_map.guardians)
    out.print(f"family map (subject {family_map.subject}): guardians {labels}")
    out.print(f"{len(issues)} guardian or expected-date value(s) not valid")
    for issue in sorted(issues, key=lambda i: i.row)[:20]:
        out.print(f"  row {issue.row}, column {issue.column}: {issue.severity}: {issue.reason}")
    if issues:
        raise typer.Exit(1)


def _signals_job(
    signal_map: Path,
    output: Path,
    *,
    catalogue: Path | None,
    coordinator_key: Path | None,
    key_fingerprint: str | None,
    project: str | None,
    server: str | None,
    credential: Path | None,
):
    """The sealing job for ``encode --signals``: catalogue and key from files or the server.

    The body must be sure the key is the coordinator's: a key fetched from the server is
    used only when it matches the fingerprint confirmed by phone (``--key-fingerprint``).
    """
    import base64

    from encoders.signals import SignalsJob, load_signal_map
    from linkage.signals import (
        Catalogue,
        SignalSealError,
        load_catalogue,
        normalise_fingerprint,
        public_key_from_pem,
        public_key_from_raw,
        public_key_raw,
    )
    from linkage.signals import (
        key_fingerprint as fingerprint_of,
    )

    if not project:
        raise typer.BadParameter("--signals needs --project (or KAKEHASHI_PROJECT)")
    fetch = catalogue is None or coordinator_key is None
    client = None
    if fetch:
        if not server or credential is None:
            raise typer.BadParameter(
                "--signals needs --catalogue and --coordinator-key files, or --server and "
                "--credential to fetch them"
            )
        from apiclient import ApiClient, read_credential

        client = ApiClient(server, read_credential(credential))
    try:
        if catalogue is not None:
            the_catalogue = load_catalogue(catalogue)
        else:
            assert client is not None
            the_catalogue = Catalogue.from_dict(client.signal_catalogue(project))
        if coordinator_key is not None:
            try:
                public = public_key_from_pem(coordinator_key.read_bytes())
            except SignalSealError as exc:
                raise typer.BadParameter(f"{coordinator_key}: {exc}") from exc
        else:
            assert client is not None
            info = client.signal_key(project)
            public = public_key_from_raw(base64.b64decode(info["public_key"]))
    finally:
        if client is not None:
            client.close()
    fingerprint = fingerprint_of(public_key_raw(public))
    if key_fingerprint is not None:
        if normalise_fingerprint(key_fingerprint) != fingerprint:
            raise SignalSealError(
                f"the coordinator key's fingerprint is {fingerprint}, not "
                f"{normalise_fingerprint(key_fingerprint)}: do not encrypt to it; "
                "call the coordinator"
            )
    elif coordinator_key is None:
        raise SignalSealError(
            f"the key fetched from the server has fingerprint {fingerprint}; confirm it with "
            "the coordinator by phone and give it with --key-fingerprint"
        )
    else:
        out.print(
            f"coordinator key fingerprint {fingerprint} — confirm it with the coordinator "
            "by phone (and pass --key-fingerprint next time)"
        )
    return SignalsJob(
        load_signal_map(signal_map, the_catalogue),
        project_id=project,
        catalogue=the_catalogue,
        public_key=public,
        key_fingerprint=fingerprint,
        output=output,
    )


def _check(
    input_path: Path,
    encoding: str | None,
    sheet: str | None,
    columns: Path | None,
    overrides: dict[str, str],
) -> None:
    from collections import Counter, defaultdict
    from datetime import date
    from itertools import islice

    from encoders.columns import describe, resolve_columns
    from encoders.pipeline import CHUNK_ROWS, normalise_chunk
    from encoders.readers import open_table
    from encoders.validate import FileStats, RowScreen, file_verdict

    today = date.today()
    with open_table(input_path, encoding=encoding, sheet=sheet) as table:
        plan = resolve_columns(
            table.headers, mapping_file=columns, overrides=overrides, file_label=input_path.name
        )
        out.print(f"{input_path.name}: encoding {table.encoding}")
        out.print(describe(plan))
        header_of = {key: table.headers[i] for key, i in plan.index.items()}
        rows = rejected = 0
        reasons: Counter[tuple[str, str, str]] = Counter()
        examples: list[tuple[int, str]] = []
        stats = FileStats()
        screen = RowScreen(
            plan.index.get("record_id"), table.defects, {i: k for k, i in plan.index.items()}
        )

        def note(number: int, column: str, severity: str, reason: str, summary: str) -> None:
            header = header_of.get(column, column)
            reasons[(severity, header, summary)] += 1
            if len(examples) < 20:
                examples.append((number, f"  row {number}, column {header}: {severity}: {reason}"))

        table_rows = iter(table)
        while batch := list(islice(table_rows, CHUNK_ROWS)):
            kept = []
            for number, cells in batch:
                rows += 1
                found = screen.screen(number, cells)
                for _, column, severity, reason in found:
                    summary = "record id repeated" if column == "record_id" else reason
                    note(number, column, severity, reason, summary)
                if found:
                    rejected += 1
                else:
                    kept.append((number, cells))
            if not kept:
                continue
            chunk = normalise_chunk(plan.columns([cells for _, cells in kept]), len(kept), today)
            stats.add(chunk.stats)
            found_at: defaultdict[int, list[tuple[str, str, str]]] = defaultdict(list)
            for i, column, severity, reason in chunk.issues:
                found_at[i].append((column, severity, reason))
            for i, (number, _) in enumerate(kept):
                for column, severity, reason in found_at.get(i, ()):
                    note(number, column, severity, reason, reason)
            rejected += len(chunk.rejected)
        stats.rows = rows
        verdict = file_verdict(
            stats, file=input_path.name, header_of=header_of, encoding=table.encoding
        )
    out.print(f"{rows} data rows; {rejected} would be rejected ({rejected / max(rows, 1):.1%})")
    for _, line in sorted(examples, key=lambda example: example[0]):
        out.print(line)
    if reasons:
        out.print("problems by column:")
        for (severity, header, reason), count in reasons.most_common(30):
            out.print(f"  {count:6d} × {severity} {header}: {reason}")
    if verdict is not None:
        raise verdict


class _progress:
    """A rich progress display with rows and rows/s (total unknown while streaming)."""

    def __init__(self, label: str) -> None:
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TextColumn("{task.completed:,.0f} rows"),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        )
        self._task = self._progress.add_task(label, total=None, rate="")

    def __enter__(self):
        self._progress.start()

        def advance(rows: int) -> None:
            self._progress.advance(self._task, rows)
            speed = self._progress.tasks[0].speed
            self._progress.update(self._task, rate=f"{speed:,.0f} rows/s" if speed else "")

        return advance

    def __exit__(self, *_: object) -> None:
        self._progress.stop()


def upload(
    encodings: Annotated[Path, typer.Argument(help="Encodings file made by `kakehashi encode`.")],
    server: ServerOpt,
    project: ProjectOpt,
    credential: CredentialOpt,
    mode: Annotated[
        str, typer.Option("--mode", help="replace (default) or append (incremental).")
    ] = "replace",
    signals: Annotated[
        Path | None,
        typer.Option(
            "--signals",
            help="Signals file to send after the encodings (default: ENCODINGS.signals.json "
            "beside the encodings, if there is one).",
        ),
    ] = None,
    no_signals: Annotated[
        bool, typer.Option("--no-signals", help="Send the encodings only.")
    ] = False,
) -> None:
    """Upload this body's encodings, then its signals and family files (keys files stay here).

    A ``*.family.json`` written by ``encode --family`` beside the encodings is sent last;
    give a ``*.family.json`` alone to send only it (exports whose rows are guardians).

    A ``*.signals.json`` written by ``encode --signals`` beside the encodings is sent right
    after them (the server checks its refs against these encodings). Give a
    ``*.signals.json`` alone to send only the signals (e.g. after a key rotation).
    """
    from apiclient import ApiClient, read_credential
    from linkage.container import read_encodings

    if mode not in ("replace", "append"):
        raise typer.BadParameter("--mode must be replace or append")
    if encodings.name.endswith(".keys.csv"):
        raise typer.BadParameter("that is a keys file: it never leaves the body")
    family_file: Path | None = None
    only_signals = encodings.name.endswith(".signals.json")
    if encodings.name.endswith(".family.json"):  # a family file alone (e.g. 妊娠届)
        family_file, encodings_file, signals = encodings, None, None
    elif only_signals:
        signals, encodings_file = encodings, None
    else:
        encodings_file = encodings
        beside = encodings.with_name(encodings.stem + ".signals.json")
        if signals is None and not no_signals and beside.exists():
            signals = beside
        family_beside = encodings.with_name(encodings.stem + ".family.json")
        family_file = family_beside if family_beside.exists() else None
        read_encodings(encodings)  # fail here, before anything is sent, if the file is broken
    if no_signals:
        signals = None
    with ApiClient(server, read_credential(credential)) as client:
        if encodings_file is not None:
            result = client.upload(project, encodings_file, mode=mode)
            note = " (already uploaded; nothing new stored)" if result.get("duplicate") else ""
            out.print(f"uploaded {result['count']} encodings as {result['upload_id']}{note}")
        if signals is not None:
            sent = client.upload_signals(project, signals, mode=mode)
            note = " (already uploaded; nothing new stored)" if sent.get("duplicate") else ""
            out.print(f"uploaded signals of {sent['count']} records as {sent['upload_id']}{note}")
        if family_file is not None:
            fam = client.upload_family(project, family_file)
            note = " (already uploaded; nothing new stored)" if fam.get("duplicate") else ""
            out.print(
                f"uploaded family file ({fam['guardians']} guardians, {fam['relations']} "
                f"relations, {fam['pregnancies']} pregnancies) as {fam['upload_id']}{note}"
            )


def delete_records(
    server: ServerOpt,
    project: ProjectOpt,
    credential: CredentialOpt,
    refs: Annotated[list[str] | None, typer.Argument(help="Refs of records to delete.")] = None,
    refs_file: Annotated[
        Path | None,
        typer.Option("--refs-file", help="A file of refs to delete, one a line."),
    ] = None,
) -> None:
    """Delete this body's own records from the server by ref (all or nothing).

    The next run links without them. Refs that are not among this body's current records
    are refused and nothing is deleted.
    """
    from apiclient import ApiClient, read_credential

    wanted = list(refs or [])
    if refs_file is not None:
        try:
            text = refs_file.read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise typer.BadParameter(f"{refs_file}: cannot read the refs file") from exc
        wanted.extend(line.strip() for line in text.splitlines() if line.strip())
    if not wanted:
        raise typer.BadParameter("give refs, or --refs-file")
    with ApiClient(server, read_credential(credential)) as client:
        result = client.delete_records(project, wanted)
    out.print(f"deleted {result['deleted']} record(s)")


def resolve(
    keys: Annotated[Path, typer.Argument(help="This body's keys file.")],
    refs: Annotated[list[str] | None, typer.Argument(help="Refs to look up.")] = None,
    token: Annotated[
        list[str] | None,
        typer.Option(
            "--token",
            help="Look up a token of this body's own mapping of the same run instead (needs "
            "--mapping; the coordinator's tokens differ, it asks by ref); repeatable.",
        ),
    ] = None,
    mapping: Annotated[
        Path | None,
        typer.Option(
            "--mapping", help="This body's ref → token mapping (`kakehashi results --mine`)."
        ),
    ] = None,
) -> None:
    """Find the body's own record ids for refs (or tokens) the coordinator asks about."""
    from encoders.keys import read_keys, read_mapping

    table = read_keys(keys)
    wanted = list(refs or [])
    if token:
        if mapping is None:
            raise typer.BadParameter("--token needs --mapping (the file from `results --mine`)")
        tokens = set(token)
        by_token = [ref for ref, tok in read_mapping(mapping).items() if tok in tokens]
        if not by_token:
            raise typer.BadParameter("none of these tokens is in the mapping file")
        wanted.extend(by_token)
    if not wanted:
        raise typer.BadParameter("give refs, or --token with --mapping")
    missing = 0
    for ref in wanted:
        record_id = table.get(ref)
        if record_id is None:
            missing += 1
            out.print(f"{ref}\t(not in this keys file)")
        else:
            out.print(f"{ref}\t{record_id}")
    if missing:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the department commands to the ``kakehashi`` command."""
    secret_app = typer.Typer(help="Make and check the shared linkage secret.", no_args_is_help=True)
    secret_app.command("new")(secret_new)
    secret_app.command("fingerprint")(secret_fingerprint)
    app.add_typer(secret_app, name="secret")
    app.command("encode")(encode)
    app.command("upload")(upload)
    app.command("resolve")(resolve)
    app.command("delete-records")(delete_records)
