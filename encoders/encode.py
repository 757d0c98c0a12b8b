"""``encode_file``: a body's export in, encodings file + keys file + validation report out.

Nothing partial is left behind: the encodings and keys files are written to temporary
files and renamed into place only when the whole export has been read and the share of
rejected rows is within ``max_reject_rate``. The validation report is always written: it
stays with the department and may show values, so staff can fix their export.
"""

from __future__ import annotations

import csv
import errno
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Literal

import numpy as np

from encoders.columns import resolve_columns
from encoders.errors import OutputError
from encoders.family import FamilyJob
from encoders.keys import KeysWriter
from encoders.pipeline import EncodedChunk, RowIssue, iter_encoded_chunks
from encoders.readers import open_table
from encoders.secret import fingerprint
from encoders.shuffle import random_order
from encoders.signals import SignalsJob
from encoders.validate import FileStats, RowScreen, file_verdict
from linkage.container import BinaryWriter, Encodings, new_refs, write_encodings
from linkage.schema import LinkageSchema

ProgressCallback = Callable[[int], None]


class RejectRateExceeded(ValueError):
    """More rows were rejected than ``max_reject_rate`` allows; no encodings were written."""


class SignalValuesInvalid(RejectRateExceeded):
    """Some signal cells are not valid for the catalogue; nothing was written."""


class FamilyValuesInvalid(RejectRateExceeded):
    """Some guardian or expected-date cells are not valid; nothing was written."""


@dataclass
class EncodeReport:
    """What an encoding run did, for the console summary and ``*.report.json``."""

    input: str
    encoding: str
    output: str
    keys: str
    report_csv: str
    schema_id: str
    secret_fingerprint: str = ""
    rows_read: int = 0
    rows_encoded: int = 0
    rows_rejected: int = 0
    rows_doubtful: int = 0
    seconds: float = 0.0
    recognised_columns: list[tuple[str, str, str]] = field(default_factory=list)
    succeeded: bool = False

    @property
    def reject_rate(self) -> float:
        return self.rows_rejected / self.rows_read if self.rows_read else 0.0


def report_paths(output: Path) -> tuple[Path, Path]:
    """Where the validation report of ``output`` goes: ``<output>.report.csv`` and ``.json``."""
    return output.with_name(output.name + ".report.csv"), output.with_name(
        output.name + ".report.json"
    )


def encode_file(
    input_path: str | Path,
    *,
    output: str | Path,
    keys_output: str | Path,
    schema: LinkageSchema,
    secret: bytes,
    fmt: Literal["binary", "json"] = "binary",
    encoding: str | None = None,
    sheet: str | None = None,
    mapping_file: str | Path | None = None,
    overrides: dict[str, str] | None = None,
    workers: int = 1,
    max_reject_rate: float = 0.01,
    today: date | None = None,
    progress: ProgressCallback | None = None,
    signals: SignalsJob | None = None,
    family: FamilyJob | None = None,
) -> EncodeReport:
    """Encode one export. Raises InputError / RejectRateExceeded with nothing partial written.

    With ``signals``, the mapped signal columns are read and validated first; every encoded
    record's signals are then sealed under its ref into the signals file, which is renamed
    into place together with the encodings. Any invalid signal value is a row-level error
    in the report and fails the run (nothing written).
    """
    input_path, output, keys_output = Path(input_path), Path(output), Path(keys_output)
    report_csv, report_json = report_paths(output)
    started = time.perf_counter()
    with open_table(input_path, encoding=encoding, sheet=sheet) as table:
        plan = resolve_columns(
            table.headers,
            mapping_file=mapping_file,
            overrides=overrides,
            file_label=input_path.name,
        )
        header_of = {key: table.headers[i] for key, i in plan.index.items()}
        report = EncodeReport(
            input=str(input_path),
            encoding=table.encoding,
            output=str(output),
            keys=str(keys_output),
            report_csv=str(report_csv),
            schema_id=schema.schema_id,
            secret_fingerprint=fingerprint(secret),
            recognised_columns=list(plan.recognised),
        )
        issues: list[RowIssue] = []
        stats = FileStats()
        screen = RowScreen(
            plan.index.get("record_id"),
            table.defects,
            {i: key for key, i in plan.index.items()},
        )
        screened: list[tuple[int, str, str, str]] = []  # rows rejected before encoding

        binary: BinaryWriter | None = None
        keys: KeysWriter | None = None
        json_refs: list[str] = []
        json_clks: list[np.ndarray] = []
        placed: list[Path] = []
        try:
            binary = (
                BinaryWriter(
                    output,
                    schema_id=schema.schema_id,
                    bit_length=schema.bit_length,
                    secret_fingerprint=report.secret_fingerprint,
                )
                if fmt == "binary"
                else None
            )
            keys = KeysWriter(keys_output)
            if signals is not None:
                signal_issues = signals.prepare(input_path, encoding=encoding, sheet=sheet)
                if signal_issues:
                    issues.extend(signal_issues)
                    _write_report(report_csv, issues, header_of)
                    raise SignalValuesInvalid(
                        f"{input_path.name}: {len(signal_issues)} signal value(s) are not valid "
                        f"for the catalogue; nothing written. See {report_csv}"
                    )
            if family is not None:
                family_issues = family.prepare(
                    input_path,
                    encoding=encoding,
                    sheet=sheet,
                    child_dob=plan.index.get("date_of_birth"),
                    child_record_id=plan.index.get("record_id"),
                )
                if family_issues:
                    issues.extend(family_issues)
                    _write_report(report_csv, issues, header_of)
                    raise FamilyValuesInvalid(
                        f"{input_path.name}: {len(family_issues)} guardian or expected-date "
                        f"value(s) are not valid; nothing written. See {report_csv}"
                    )
            chunks: Iterator[EncodedChunk] = iter_encoded_chunks(
                screen.passing(table, screened),
                schema,
                secret,
                workers=workers,
                today=today,
                make_columns=plan.columns,
            )
            got_refs: list[str] = []
            got_clks: list[np.ndarray] = []
            got_rows: list[np.ndarray] = []
            for chunk in chunks:
                report.rows_read += chunk.rows_read
                issues.extend(chunk.issues)
                stats.add(chunk.stats)
                refs = new_refs(len(chunk.record_ids))
                keys.write(zip(refs, chunk.record_ids, strict=True))
                got_refs.extend(refs)
                got_clks.append(chunk.clks)
                got_rows.append(chunk.rows)
                report.rows_encoded += len(refs)
                if progress is not None:
                    progress(chunk.rows_read)
            # Everything the server receives goes out in a random order, not the
            # export's (encoders.shuffle); the keys file stays here, in export order.
            order = random_order(len(got_refs))
            nbytes = schema.bit_length // 8
            all_clks = np.vstack(got_clks) if got_clks else np.empty((0, nbytes), np.uint8)
            all_rows = np.concatenate(got_rows) if got_rows else np.empty(0, np.int64)
            del got_clks, got_rows
            for start in range(0, len(order), _WRITE_ROWS):
                part = order[start : start + _WRITE_ROWS]
                refs = [got_refs[i] for i in part.tolist()]
                if binary is not None:
                    binary.write(refs, all_clks[part])
                else:
                    json_refs.extend(refs)
                    json_clks.append(all_clks[part])
                if signals is not None:
                    signals.add(all_rows[part].tolist(), refs)
                if family is not None:
                    family.add(all_rows[part].tolist(), refs)
            del all_clks, all_rows, got_refs
            issues.extend(RowIssue(*issue) for issue in screened)
            screened_out = len({issue[0] for issue in screened})
            report.rows_read += screened_out
            stats.rows += screened_out
            report.rows_rejected = report.rows_read - report.rows_encoded
            report.rows_doubtful = len(
                {i.row for i in issues if i.severity == "warning"}
                - {i.row for i in issues if i.severity == "error"}
            )
            _write_report(report_csv, issues, header_of)
            verdict = file_verdict(
                stats, file=input_path.name, header_of=header_of, encoding=table.encoding
            )
            if verdict is not None:
                verdict.reason += f". See {report_csv}"
                raise verdict
            if report.rows_read and report.reject_rate > max_reject_rate:
                raise RejectRateExceeded(
                    f"{input_path.name}: {report.rows_rejected} of {report.rows_read} rows "
                    f"rejected ({report.reject_rate:.1%}), above --max-reject-rate "
                    f"{max_reject_rate:.1%}; no encodings written. See {report_csv}"
                )
            keys.close()
            placed.append(keys_output)
            if binary is not None:
                binary.close()
            else:
                clks = np.vstack(json_clks) if json_clks else np.empty((0, nbytes), np.uint8)
                write_encodings(
                    output,
                    Encodings(
                        json_refs, clks, schema.bit_length, schema.schema_id, fingerprint(secret)
                    ),
                    "json",
                )
            placed.append(output)
            if family is not None:
                family.close()
            if signals is not None:
                signals.close()
        except BaseException as exc:
            _discard(binary, keys)
            if signals is not None:
                signals.abort()
            if family is not None:
                family.abort()
            for path in placed:  # the keys file without its encodings is no use
                path.unlink(missing_ok=True)
            report.seconds = time.perf_counter() - started
            if isinstance(exc, OSError) and exc.errno in _NO_SPACE:
                # Nothing partial stays: the report may be cut short as well.
                report_csv.unlink(missing_ok=True)
                report_json.unlink(missing_ok=True)
                raise OutputError(
                    str(output.parent),
                    f"cannot write the output: {os.strerror(exc.errno or 0)} (disk full); "
                    "no encodings, keys file or report written; free some space or write "
                    "elsewhere with --out and --keys",
                ) from None
            _write_json(report_json, report)
            raise
    report.succeeded = True
    report.seconds = time.perf_counter() - started
    _write_json(report_json, report)
    return report


_NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_WRITE_ROWS = 65_536  # records per write of the shuffled output


def _discard(binary: BinaryWriter | None, keys: KeysWriter | None) -> None:
    """Remove the temporary outputs, also when closing them fails (disk full)."""
    for writer in (binary, keys):
        if writer is None:
            continue
        try:
            writer.abort()
        except OSError:
            # A failed close still closes the file; the second abort only unlinks.
            writer.abort()


def _write_json(path: Path, report: EncodeReport) -> None:
    """The report JSON, written whole or not at all (it is only a summary)."""
    data = json.dumps(asdict(report), ensure_ascii=False, indent=2).encode("utf-8")
    try:
        path.write_bytes(data)
    except OSError:
        path.unlink(missing_ok=True)


def _write_report(path: Path, issues: list[RowIssue], header_of: dict[str, str]) -> None:
    """Validation report as CSV with a BOM so that Excel shows the Japanese correctly."""
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["row", "column", "severity", "reason"])
        for issue in sorted(issues, key=lambda i: (i.row, i.column)):
            column = header_of.get(issue.column, issue.column)
            writer.writerow([issue.row, column, issue.severity, issue.reason])


def encode_family_file(
    input_path: str | Path,
    family: FamilyJob,
    *,
    encoding: str | None = None,
    sheet: str | None = None,
) -> Path:
    """An export whose rows are guardians (``subject = "guardian"``, e.g. 妊娠届): only the
    family file and its keys file are written, whole or not at all; row-level errors go to
    ``<family file>.report.csv`` and raise :class:`FamilyValuesInvalid`. Returns the report.
    """
    input_path = Path(input_path)
    report_csv, _ = report_paths(family.output)
    issues = family.prepare(input_path, encoding=encoding, sheet=sheet)
    _write_report(report_csv, issues, {})
    if issues:
        raise FamilyValuesInvalid(
            f"{input_path.name}: {len(issues)} guardian or expected-date value(s) are not "
            f"valid; nothing written. See {report_csv}"
        )
    family.close()
    return report_csv
