"""Accuracy report: JSON (everything), Markdown (tables), PNG (threshold curves)."""

from __future__ import annotations

import json
import platform
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_LABELS = {"status_quo": "status quo (exact)", "splink": "Splink", "kakehashi": "Kakehashi"}


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def method_seconds(timings: dict[str, float]) -> float:
    """Seconds to prepare a method and produce one prediction (sweep totals excluded)."""
    return sum(v for k, v in timings.items() if k.endswith("_s") and not k.endswith("sweep_s"))


def summary_lines(result: dict[str, Any]) -> list[str]:
    """A few console lines: each method's best-F1 point."""
    lines = [f"== {result['dataset']}  records {result['records']}"]
    for name, m in result["methods"].items():
        b = m["best"]
        lines.append(
            f"  {_LABELS.get(name, name):20s} t={_fmt(b['threshold'], 3):>6}  "
            f"P={b['precision']:.4f} R={b['recall']:.4f} F1={b['f1']:.4f} "
            f"exact={b['exact_match_rate']:.4f} twins_merged={b['twins_merged']}"
        )
        d = m.get("at_default")
        if d is not None:
            lines.append(
                f"  {'  at schema default':20s} t={_fmt(d['threshold'], 3):>6}  "
                f"P={d['precision']:.4f} R={d['recall']:.4f} F1={d['f1']:.4f} "
                f"exact={d['exact_match_rate']:.4f} twins_merged={d['twins_merged']}"
            )
    return lines


def _default_table(results: Sequence[dict[str, Any]]) -> list[str]:
    """Kakehashi at its schema's default threshold (what a project gets out of the box)."""
    rows = [(r, m) for r in results for m in r["methods"].values() if m.get("at_default")]
    if not rows:
        return []
    out = ["", "Kakehashi at the schema's default threshold (no tuning per dataset):", ""]
    out.append("| dataset | schema | threshold | precision | recall | F1 | exact | twins merged |")
    out.append("|---|---|---|---|---|---|---|---|")
    for r, m in rows:
        d = m["at_default"]
        twins = f"{d['twins_merged']}/{d['twin_pairs']}" if d["twin_pairs"] else "–"
        out.append(
            f"| {r['dataset']} | {m.get('schema_id', '')[:12]} | {_fmt(d['threshold'], 3)} "
            f"| {_fmt(d['precision'])} | {_fmt(d['recall'])} | {_fmt(d['f1'])} "
            f"| {_fmt(d['exact_match_rate'])} | {twins} |"
        )
    return out


def markdown(results: Sequence[dict[str, Any]]) -> str:
    """Markdown tables: best-F1 point per method per dataset, then subgroup recall."""
    out = ["# Accuracy benchmark", ""]
    out.append(f"Generated {datetime.now(UTC).isoformat(timespec='seconds')} on "
               f"{platform.machine()} / Python {platform.python_version()}.")  # fmt: skip
    out.append("")
    out.append(
        "Best-F1 point of each method's threshold sweep (status quo has no threshold). "
        "Pairs are cross-body record pairs; *exact* is the share of children whose records "
        "form exactly one group. *time*: normalise/encode + train + one prediction "
        "(Splink: model training and scoring; Kakehashi: encoding and one link run)."
    )
    out.append("")
    out.append(
        "| dataset | method | threshold | precision | recall | F1 | exact | twins merged "
        "| time (s) |"
    )
    out.append("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        for name, m in r["methods"].items():
            b = m["best"]
            seconds = method_seconds(m["timings"])
            twins = f"{b['twins_merged']}/{b['twin_pairs']}" if b["twin_pairs"] else "–"
            out.append(
                f"| {r['dataset']} | {_LABELS.get(name, name)} | {_fmt(b['threshold'], 3)} "
                f"| {_fmt(b['precision'])} | {_fmt(b['recall'])} | {_fmt(b['f1'])} "
                f"| {_fmt(b['exact_match_rate'])} | {twins} | {seconds:.1f} |"
            )
    out += _default_table(results)
    sub = [r for r in results if any(m["best"]["subgroup_recall"] for m in r["methods"].values())]
    if sub:
        names = sorted(
            {k for r in sub for m in r["methods"].values() for k in m["best"]["subgroup_recall"]}
        )
        out += ["", "Pair recall within subgroups (at each method's best-F1 point):", ""]
        out.append("| dataset | method | " + " | ".join(names) + " |")
        out.append("|---|---|" + "---|" * len(names))
        for r in sub:
            for name, m in r["methods"].items():
                rec = m["best"]["subgroup_recall"]
                cells = " | ".join(_fmt(rec.get(n)) for n in names)
                out.append(f"| {r['dataset']} | {_LABELS.get(name, name)} | {cells} |")
    out += ["", "Threshold sweeps:", ""]
    for r in results:
        for name, m in r["methods"].items():
            if len(m["curve"]) < 2:
                continue
            out.append(f"**{r['dataset']} — {_LABELS.get(name, name)}**")
            out.append("")
            out.append("| threshold | precision | recall | F1 | exact |")
            out.append("|---|---|---|---|---|")
            for p in m["curve"]:
                out.append(
                    f"| {_fmt(p['threshold'], 3)} | {_fmt(p['precision'])} | {_fmt(p['recall'])} "
                    f"| {_fmt(p['f1'])} | {_fmt(p['exact_match_rate'])} |"
                )
            out.append("")
    return "\n".join(out) + "\n"


def plot(result: dict[str, Any], path: Path) -> Path:
    """Two panels: precision–recall of every method; Kakehashi's P/R/F1 against Dice threshold."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_pr, ax_t) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, m in result["methods"].items():
        xs = [p["recall"] for p in m["curve"]]
        ys = [p["precision"] for p in m["curve"]]
        ax_pr.plot(xs, ys, marker="o", label=_LABELS.get(name, name))
    ax_pr.set_xlabel("recall")
    ax_pr.set_ylabel("precision")
    ax_pr.set_title(f"{result['dataset']}: precision vs recall")
    ax_pr.grid(alpha=0.3)
    ax_pr.legend()
    for name, m in result["methods"].items():
        if len(m["curve"]) < 2:
            continue
        ts = [p["threshold"] for p in m["curve"]]
        style = "-" if name == "kakehashi" else ":"
        for metric in ("precision", "recall", "f1"):
            ax_t.plot(ts, [p[metric] for p in m["curve"]], style, marker=".",
                      label=f"{_LABELS.get(name, name)} {metric}")  # fmt: skip
    ax_t.set_xlabel("threshold (Kakehashi: Dice; Splink: match probability)")
    ax_t.set_title("threshold curve")
    ax_t.grid(alpha=0.3)
    ax_t.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(results: Sequence[dict[str, Any]], out_dir: Path) -> list[Path]:
    """Write ``accuracy.json``, ``accuracy.md`` and ``accuracy-<dataset>.png`` into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "accuracy.json", out_dir / "accuracy.md"]
    paths[0].write_text(json.dumps(list(results), indent=2, ensure_ascii=False), encoding="utf-8")
    paths[1].write_text(markdown(results), encoding="utf-8")
    for r in results:
        paths.append(plot(r, out_dir / f"accuracy-{r['dataset']}.png"))
    return paths
