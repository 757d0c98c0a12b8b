"""``encode_file``: a body's export in, encodings file + keys file + validation report out.

Nothing partial is left behind: the encodings and keys files are written to temporary
files and renamed into place only when the whole export has been read and the share of
rejected rows is within ``max_reject_rate``. The validation report is always written: it
stays with the department and may show values, so staff can fix their export.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Literal

import numpy as np

from encoders.columns import resolve_columns
from encoders.keys import KeysWriter
from encoders.pipeline import EncodedChunk, RowIssue, iter_encoded_chunks
from encoders.readers import open_table
from encoders.secret import fingerprint
from linkage.container import BinaryWriter, Encodings, new_refs, write_encodings
from linkage.schema import LinkageSchema

ProgressCallback = Callable[[int], None]


class RejectRateExceeded(ValueError):
    """More rows were rejected than ``max_reject_rate`` allows; no encodings were written."""


@dataclass
class EncodeReport:
    """What an encoding run did, for the console summary and ``*.report.json``."""

    input: str
    encoding: str
    output: str
    keys: str
    report_csv: str
    schema_id: str
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
) -> EncodeReport:
    """Encode one export. Raises InputError / RejectRateExceeded with nothing partial written."""
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
            recognised_columns=list(plan.recognised),
        )
        issues: list[RowIssue] = []
        seen_ids: dict[str, int] = {}
        binary = (
            BinaryWriter(
                output,
                schema_id=schema.schema_id,
                bit_length=schema.bit_length,
                secret_fingerprint=fingerprint(secret),
            )
            if fmt == "binary"
            else None
        )
        json_refs: list[str] = []
        json_clks: list[np.ndarray] = []
        keys = KeysWriter(keys_output)
        try:
            chunks: Iterator[EncodedChunk] = iter_encoded_chunks(
                iter(table),
                schema,
                secret,
                workers=workers,
                today=today,
                make_columns=plan.columns,
            )
            for chunk in chunks:
                report.rows_read += chunk.rows_read
                issues.extend(chunk.issues)
                refs = new_refs(len(chunk.record_ids))
                for number, record_id in zip(chunk.rows.tolist(), chunk.record_ids, strict=True):
                    if record_id in seen_ids:
                        issues.append(
                            RowIssue(
                                number,
                                "record_id",
                                "warning",
                                f"record id also on row {seen_ids[record_id]}",
                            )
                        )
                    else:
                        seen_ids[record_id] = number
                if binary is not None:
                    binary.write(refs, chunk.clks)
                else:
                    json_refs.extend(refs)
                    json_clks.append(chunk.clks)
                keys.write(zip(refs, chunk.record_ids, strict=True))
                report.rows_encoded += len(refs)
                if progress is not None:
                    progress(chunk.rows_read)
            report.rows_rejected = report.rows_read - report.rows_encoded
            report.rows_doubtful = len(
                {i.row for i in issues if i.severity == "warning"}
                - {i.row for i in issues if i.severity == "error"}
            )
            _write_report(report_csv, issues, header_of)
            if report.rows_read and report.reject_rate > max_reject_rate:
                raise RejectRateExceeded(
                    f"{input_path.name}: {report.rows_rejected} of {report.rows_read} rows "
                    f"rejected ({report.reject_rate:.1%}), above --max-reject-rate "
                    f"{max_reject_rate:.1%}; no encodings written. See {report_csv}"
                )
            if binary is not None:
                binary.close()
            else:
                nbytes = schema.bit_length // 8
                clks = np.vstack(json_clks) if json_clks else np.empty((0, nbytes), np.uint8)
                write_encodings(
                    output,
                    Encodings(
                        json_refs, clks, schema.bit_length, schema.schema_id, fingerprint(secret)
                    ),
                    "json",
                )
            keys.close()
        except BaseException:
            if binary is not None:
                binary.abort()
            keys.abort()
            report.seconds = time.perf_counter() - started
            report_json.write_text(json.dumps(asdict(report), ensure_ascii=False, indent=2))
            raise
    report.succeeded = True
    report.seconds = time.perf_counter() - started
    report_json.write_text(json.dumps(asdict(report), ensure_ascii=False, indent=2))
    return report


def _write_report(path: Path, issues: list[RowIssue], header_of: dict[str, str]) -> None:
    """Validation report as CSV with a BOM so that Excel shows the Japanese correctly."""
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["row", "column", "severity", "reason"])
        for issue in sorted(issues, key=lambda i: (i.row, i.column)):
            column = header_of.get(issue.column, issue.column)
            writer.writerow([issue.row, column, issue.severity, issue.reason])
