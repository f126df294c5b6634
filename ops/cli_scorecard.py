"""The CLI's reading commands (`python -m ops`, see ops/cli.py): the scorecard from the
current snapshot, the pre-read, the metric docs and deal risk.

python -m ops scorecard [--as-of YYYY-MM-DD] [--period P | --from DAY --to DAY]
                        [--teams A,B] [--format json|table]
                        [--engine polars|duckdb|spark|warehouse]
python -m ops preread [--as-of YYYY-MM-DD] [--period P | --from DAY --to DAY]
                      [--teams A,B] --out FILE.pdf|FILE.html
python -m ops docs [--check]
python -m ops risk [--as-of YYYY-MM-DD] [--evaluate] [--top N]

A period P is a quarter (2026-Q3), a fiscal year (2026 or FY2026), a custom range
(2026-03-01..2026-06-30, both days included; or --from/--to), ttm (the twelve months
ending on the as-of day) or all (the data's first day to the as-of day). Default: the
quarter holding the as-of day.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path

import polars as pl

from model.calendar import Period, PeriodError, custom_period
from ops.engines import on_engine
from reports.snapshot_tables import read_bundle
from scoring.definitions import registry, render_markdown
from scoring.periods import resolve_period
from scoring.scorecard import Scorecard, compare, compute

DOCS = Path(__file__).resolve().parent.parent / "docs" / "metrics.md"


def _table(card: Scorecard, changes: dict) -> str:
    lines = [
        f"Revenue alignment scorecard — {card.period.label}, as of {card.as_of}"
        + (f" — teams: {', '.join(card.teams)}" if card.teams else ""),
        f"Overall: {card.overall if card.overall is not None else 'not measured'}"
        f" ({card.coverage})",
        "",
    ]
    for p in card.pillars:
        change = changes["pillars"].get(p.id)
        delta = f" ({change:+.1f} since {changes['previous']})" if change is not None else ""
        lines.append(f"{p.name}: {p.score if p.score is not None else 'not measured'}{delta}")
        for s in p.signals:
            if not s.measured:
                lines.append(f"    {s.label}: not measured: {s.reason}")
                continue
            counts = f" ({s.numerator:,.0f} / {s.denominator:,.0f})" if s.denominator else ""
            lines.append(f"    {s.label}: {s.value:.3g}{counts} → {s.score}")
        lines += [f"  • {d.text}" for d in p.drivers]
        lines += [f"  (note: {n})" for n in p.notes]
    lines += ["", "Top drivers:", *[f"  {i}. {d.text}" for i, d in enumerate(card.drivers, 1)]]
    with pl.Config(tbl_rows=20, tbl_cols=12, tbl_width_chars=140):
        lines += ["", "Headline metrics by team:", str(card.headline)]
    return "\n".join(lines)


def _scorecard(args: argparse.Namespace) -> int:
    from model.engine import EngineError
    from ops.config import load_settings
    from ops.engines import open_configured
    from snapshots.store import Store, StoreError

    settings = load_settings()
    store = Store(settings.data_dir)
    try:
        snap, tables = _readable_bundle(store)
    except StoreError as exc:
        print(f"scorecard: {exc}", file=sys.stderr)
        return 1
    try:
        engine = open_configured(settings.engine, args.engine)
    except EngineError as exc:
        print(f"scorecard: {exc}", file=sys.stderr)
        return 2
    try:
        return _scorecard_on(args, settings, store, snap, on_engine(tables, engine), engine)
    finally:
        engine.close()


def _scorecard_on(args, settings, store, snap, tables, engine) -> int:
    as_of = args.as_of or snap.data_as_of
    try:
        period = chosen_period(args, tables, as_of=as_of, calendar=settings.scoring.calendar)
    except PeriodError as exc:
        print(f"scorecard: {exc}", file=sys.stderr)
        return 2
    teams = tuple(t.strip() for t in (args.teams or "").split(",") if t.strip())

    def card_for(snapshot) -> Scorecard:
        # An engine reading its own copy of the current snapshot's tables (the warehouse)
        # would score the current tables: the previous snapshot is scored on polars.
        tables = read_bundle(snapshot)
        if not getattr(engine, "owns_tables", False):
            tables = on_engine(tables, engine)
        return compute(tables, as_of=as_of, period=period, params=settings.scoring, teams=teams)

    card = compute(tables, as_of=as_of, period=period, params=settings.scoring, teams=teams)
    before = store.previous(snap)
    changes = compare(card, card_for(before) if before else None)
    if args.format == "json":
        out = {**card.to_dict(), "snapshot": snap.id, "changes": changes}
        print(json.dumps(out, indent=2, default=str))
    else:
        print(_table(card, changes))
    return 0


def _readable_bundle(store):
    """The newest valid snapshot and its tables; says on stderr when it is not the current
    one. A snapshot whose tables fail to read past their footers counts as damaged too."""
    damaged: list[str] = []
    while True:
        chosen = store.readable(also_damaged=damaged)
        try:
            tables = read_bundle(chosen.snapshot)
        except (OSError, pl.exceptions.PolarsError):
            damaged.append(chosen.snapshot.id)
            continue
        if chosen.notice:
            print(f"scorecard: {chosen.notice}", file=sys.stderr)
        return chosen.snapshot, tables


def period_name(args: argparse.Namespace) -> str:
    """The period the arguments ask for, as a name ("" for the default quarter)."""
    if (args.from_ is None) != (args.to is None):
        raise PeriodError("--from and --to go together (a custom range, both days included)")
    if args.from_ is not None:
        if args.period:
            raise PeriodError("give either --period or --from/--to, not both")
        return custom_period(args.from_, args.to).name
    return args.period or ""


def chosen_period(args: argparse.Namespace, tables, *, as_of: date, calendar) -> Period:
    """The period of `--period` or `--from/--to` (default: the quarter holding `as_of`)."""
    name = period_name(args)
    if not name:
        return calendar.quarter_of(as_of)
    return resolve_period(name, tables, as_of=as_of, calendar=calendar)


def _preread(args: argparse.Namespace) -> int:
    """Write the executive pre-read of the current snapshot (see reports/)."""
    from ops.config import load_settings
    from ops.decisions import journal_frames
    from reports import build as preread_build
    from snapshots.store import StoreError

    out = Path(args.out)
    if out.suffix.lower() not in (".pdf", ".html"):
        print("preread: --out must end in .pdf or .html", file=sys.stderr)
        return 2
    teams = tuple(t.strip() for t in (args.teams or "").split(",") if t.strip())
    settings = load_settings()
    try:
        period = period_name(args)
        decisions, answers = journal_frames(settings.data_dir, teams)
        pre = preread_build.build(
            settings, as_of=args.as_of, period=period, teams=teams, decisions=decisions,
            answers=answers,
        )  # fmt: skip
    except (StoreError, PeriodError) as exc:
        print(f"preread: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {preread_build.write(pre, out)}")
    return 0


def _docs(args: argparse.Namespace) -> int:
    text = render_markdown(registry())
    if args.check:
        if not DOCS.exists() or DOCS.read_text(encoding="utf-8") != text:
            print("docs/metrics.md is out of date: run python -m ops docs", file=sys.stderr)
            return 1
        return 0
    DOCS.write_text(text, encoding="utf-8")
    print(f"wrote {DOCS} ({len(registry())} definitions)")
    return 0


def _risk(args: argparse.Namespace) -> int:
    """The riskiest open deals with their reasons, or (--evaluate) how well the score
    separated lost from won deals 30 days before they closed (ROC AUC)."""
    from ops.config import load_settings
    from scoring.risk import deal_risk, evaluate_risk, risk_status
    from snapshots.store import Store, StoreError

    settings = load_settings()
    try:
        snap = Store(settings.data_dir).current()
    except StoreError as exc:
        print(f"risk: {exc}", file=sys.stderr)
        return 1
    as_of, tables = args.as_of or snap.data_as_of, read_bundle(snap)
    params, tz = settings.scoring.risk, settings.scoring.timezone
    if args.evaluate:
        print(evaluate_risk(tables, as_of=as_of, params=params, timezone=tz).text())
        return 0
    if (reason := risk_status(tables)) is not None:
        print(reason)
        return 0
    risky = deal_risk(tables, as_of=as_of, params=params, timezone=tz).head(args.top)
    print(f"Riskiest open deals as of {as_of}:")
    for row in risky.iter_rows(named=True):
        amount = "no amount" if row["amount"] is None else f"{row['amount']:,.0f}"
        where = f"{row['team']}, {row['stage']}, {amount}"
        print(f"{row['score']:>4}  {row['opp_id']}  {row['name']} ({where})")
        print("".join(f"        - {reason}\n" for reason in row["reasons"]), end="")
    return 0


def _period_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--period",
        help="2026-Q3, 2026 / FY2026, 2026-03-01..2026-06-30, ttm or all; "
        "default: the quarter holding as-of",
    )
    parser.add_argument(
        "--from", dest="from_", type=date.fromisoformat, help="first day of a custom range"
    )
    parser.add_argument("--to", type=date.fromisoformat, help="last day of a custom range")


def add_commands(sub: argparse._SubParsersAction) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Add `scorecard`, `preread`, `docs` and `risk` to the one CLI (ops/cli.py); returns
    their handlers by command name."""
    card = sub.add_parser("scorecard", help="print the scorecard of the current snapshot")
    card.add_argument("--as-of", type=date.fromisoformat, help="default: the snapshot's date")
    _period_arguments(card)
    card.add_argument("--teams", help="comma-separated team names; default: all")
    card.add_argument("--format", choices=("json", "table"), default="table")
    card.add_argument(
        "--engine",
        help="where the derivation graph's nodes are built: polars (default), duckdb, spark "
        "(local[2], or [engine] spark_url in scorecard.toml) or warehouse (inside the "
        "PostgreSQL of WAREHOUSE_URL, schema [engine] schema); default: [engine] name",
    )
    pre = sub.add_parser("preread", help="write the executive pre-read (PDF or HTML)")
    pre.add_argument("--as-of", type=date.fromisoformat, help="default: the snapshot's date")
    _period_arguments(pre)
    pre.add_argument("--teams", help="comma-separated team names; default: all")
    pre.add_argument("--out", required=True, help="the file to write: .pdf or .html")
    docs = sub.add_parser("docs", help="write docs/metrics.md from the definitions registry")
    docs.add_argument("--check", action="store_true", help="fail if docs/metrics.md is stale")
    risk = sub.add_parser("risk", help="the riskiest open deals, or --evaluate the score")
    risk.add_argument("--as-of", type=date.fromisoformat, help="default: the snapshot's date")
    risk.add_argument("--evaluate", action="store_true", help="ROC AUC on closed deals")
    risk.add_argument("--top", type=int, default=20, help="how many deals to list")
    return {"scorecard": _scorecard, "preread": _preread, "docs": _docs, "risk": _risk}
