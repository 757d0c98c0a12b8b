"""``kakehashi support``: the coordinator's support list (stage 1 screening), made locally.

Downloads the latest run's token table with the signal ciphertexts, decrypts them on this
machine with the coordinator's private key, applies the rule file and writes the list.
The server is told only that a list was made (who, when, the rule file's SHA-256, the
catalogue version and how many children were listed) — never the list. If that record
cannot be made, no list is written.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from encoders.cli import CredentialOpt, ProjectOpt, ServerOpt

out = Console(markup=False, highlight=False, soft_wrap=True)


def _fail(message: str) -> None:
    Console(stderr=True).print(Text("error: ", style="red") + Text(message), soft_wrap=True)
    sys.exit(2)


def support(
    rules: Annotated[Path, typer.Option("--rules", help="Rule file (TOML, UTF-8).")],
    key: Annotated[
        Path,
        typer.Option(
            "--key",
            help="The coordinator's private key (.key.pem); the passphrase comes from "
            "KAKEHASHI_KEY_PASSPHRASE or is asked for.",
        ),
    ],
    server: ServerOpt,
    project: ProjectOpt,
    credential: CredentialOpt,
    output: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="Support list to write: .csv (UTF-8 with BOM, for Excel) or .json. A CSV "
            "also gets NAME.counts.csv with the counts per rule.",
        ),
    ] = Path("support-list.csv"),
    on: Annotated[
        str | None,
        typer.Option(
            "--date",
            help="Reference date for age bands, YYYY-MM-DD (default: today; a "
            "reference_date in the rule file wins).",
        ),
    ] = None,
) -> None:
    """Make the support list: decrypt signals here, apply the rules, write the list.

    Every list made is recorded in the server's audit log (who, when, rule file SHA-256,
    catalogue version, number of children listed); the list itself never leaves this
    machine. Hand each body its refs: it finds its records with `kakehashi resolve`.
    """
    from apiclient import ApiClient, read_credential
    from coordinator.keys import load_private_key, read_passphrase
    from coordinator.rules import RuleError, load_rules
    from coordinator.signals import fetch_signals
    from coordinator.support import SupportListError, build_support_list

    if output.suffix.lower() not in (".csv", ".json"):
        _fail(f"--out {output}: the list is written as .csv or .json")
    try:
        today = date.fromisoformat(on) if on else date.today()
    except ValueError:
        _fail(f"--date {on!r}: write the date as YYYY-MM-DD")
        return
    try:
        rule_set = load_rules(rules)
    except RuleError as exc:
        _fail(str(exc))
        return
    private_key = load_private_key(key, read_passphrase())
    with ApiClient(server, read_credential(credential)) as client:
        table = fetch_signals(client, project, private_key)
        flagged = client.get_json(f"/projects/{project}/results/review")["tokens"]
        family = client.family_results(project)
        households = dict(family["households"])
        guardian_bodies: dict[str, list[str]] = {}
        for household, body in family.get("guardian_bodies", []):
            guardian_bodies.setdefault(household, []).append(body)
        try:
            made = build_support_list(
                table,
                rule_set,
                today,
                review=(t["token"] for t in flagged),
                households=households,
                guardian_bodies=guardian_bodies,
            )
        except (RuleError, SupportListError) as exc:
            _fail(str(exc))
            return
        recorded = client.post_json(f"/projects/{project}/support-lists", made.audit_summary())
    if output.suffix.lower() == ".json":
        made.write_json(output)
        counts_path = None
    else:
        made.write_csv(output)
        counts_path = made.write_counts_csv(output.with_name(output.stem + ".counts.csv"))
    out.print(
        f"{made.listed} of {made.tokens_screened} children listed "
        f"(rules {rule_set.path}, SHA-256 {made.rules_sha256[:12]}…, catalogue version "
        f"{made.catalogue_version}, reference date {made.reference_date.isoformat()})"
    )
    for name, count in made.counts.items():
        out.print(f"  {count:6d}  {name}")
    to_review = sum(1 for row in made.rows if row.review)
    if to_review:
        out.print(
            f"note: {to_review} listed group(s) were flagged for review by the linkage "
            "(e.g. twins): check them before asking the bodies (column 突合の確認)"
        )
    if table.failures:
        out.print(
            f"warning: {len(table.failures)} record(s) whose signals could not be decrypted "
            "were screened without them (listed in the JSON output; ask the body to upload again)"
        )
    for body, reason in sorted(table.stale.items()):
        out.print(f"warning: {body}: signals not used — {reason}")
    out.print(f"wrote {output}" + (f" and {counts_path}" if counts_path else ""))
    out.print(
        f"recorded in the server's audit log as entry {recorded['seq']} "
        "(hash, version and count only; the list stays on this machine)"
    )
    out.print(
        "next: ask each body about its refs; it finds its records with "
        "`kakehashi resolve KEYS.csv REF...`"
    )


def rules_check(
    rules: Annotated[Path, typer.Argument(help="Rule file (TOML, UTF-8).")],
    catalogue: Annotated[
        Path | None,
        typer.Option(
            "--catalogue",
            help="Catalogue file (TOML/JSON) to check the codes against "
            "(e.g. from `kakehashi project catalogue show --out`).",
        ),
    ] = None,
) -> None:
    """Check a rule file offline and print it as a committee reads it: every rule with its
    line, description, purpose and condition, the signals it uses, and the file's SHA-256
    (the value the audit log records for every list made with it)."""
    from coordinator.rules import RuleError, load_rules
    from linkage.signals import load_catalogue

    the_catalogue = load_catalogue(catalogue) if catalogue is not None else None
    try:
        rule_set = load_rules(rules, the_catalogue)
    except RuleError as exc:
        _fail(str(exc))
        return
    out.print(f"{rule_set.path}: {len(rule_set.rules)} rule(s), no errors")
    if rule_set.title:
        out.print(f"title: {rule_set.title}")
    for key in ("version", "approved_by", "approved_on", "approval_ref"):
        if key in rule_set.meta:
            out.print(f"{key}: {rule_set.meta[key]}")
    out.print(f"SHA-256: {rule_set.sha256}")
    reference = rule_set.reference_date.isoformat() if rule_set.reference_date else "リストを作る日"
    out.print(f"reference date for ages: {reference}")
    for rule in rule_set.rules:
        out.print("")
        out.print(f"[{rule.name}]  (line {rule.line})")
        out.print(f"  対象: {rule.description}")
        out.print(f"  目的: {rule.purpose}")
        out.print(f"  条件: {rule.condition.describe()}")
    codes = sorted(rule_set.codes())
    if codes:
        out.print("")
        out.print("signals used:")
        specs = {s.code: s for s in the_catalogue.signals} if the_catalogue else {}
        for code in codes:
            spec = specs.get(code)
            what = f"{spec.label} ({spec.body}, {spec.value_type})" if spec else "(no catalogue)"
            out.print(f"  {code}: {what}")
    if the_catalogue is None:
        out.print("note: codes were not checked; give --catalogue to check them")


def register(app: typer.Typer) -> None:
    app.command("support")(support)
    rules_app = typer.Typer(help="Support rule files (coordinator).", no_args_is_help=True)
    rules_app.command("check")(rules_check)
    app.add_typer(rules_app, name="rules")
