"""Pull throughput from the Bulk API emulator: 1M OpportunityHistory rows.

Run: ``python -m benchmarks.bench_salesforce_pull [rows]``. Prints MB/s and rows/s for the
transfer (HTTP + gzip + the client's ``.read()``) and for parsing (polars CSV read + typing),
to show where the time goes. Not part of the test suite.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime

import polars as pl

from connectors.salesforce import BulkClient, Credentials, SalesforceConfig, parse_results, soql
from connectors.salesforce_mapping import MappingConfig, object_fields, typed
from tests.sfemulator.org import OBJECTS, Org, sf_ids
from tests.sfemulator.server import BulkEmulator


def _history(rows: int) -> pl.DataFrame:
    i = pl.int_range(rows, dtype=pl.Int64)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    stages = pl.Series(["Qualification", "Discovery", "Proposal", "Negotiation", "Closed Won"])
    frame = pl.select(
        Id=sf_ids("008", i),
        IsDeleted=pl.lit(False),
        OpportunityId=sf_ids("006", i // 5),
        StageName=stages.gather(pl.Series(range(rows)) % 5) if rows else stages.head(0),
        Amount=(i % 997) * 1000.5,
        CloseDate=pl.lit(start.date()) + pl.duration(days=i % 700),
        Probability=pl.lit(10.0),
        ForecastCategory=pl.lit("Pipeline"),
        CreatedDate=pl.lit(start) + pl.duration(seconds=i * 37),
    ).with_columns(SystemModstamp="CreatedDate")
    return frame.select(pl.col(k).cast(t) for k, t in OBJECTS["OpportunityHistory"].items())


def main(rows: int = 1_000_000) -> None:
    org = Org(
        {name: pl.DataFrame(schema=schema) for name, schema in OBJECTS.items()},
        now=datetime.now(UTC),
    )
    org.objects["OpportunityHistory"] = _history(rows)
    emu = BulkEmulator(
        org, username="bench@example.com", password="pw", max_rows_per_result=250_000
    ).start()
    try:
        cfg = SalesforceConfig(login_url=emu.url, poll_seconds=0.05)
        client = BulkClient(Credentials(username="bench@example.com", password="pw"), cfg)
        client.login()
        fields = object_fields(MappingConfig())["OpportunityHistory"]
        started = time.perf_counter()
        bodies = client.query(
            "OpportunityHistory",
            soql("OpportunityHistory", fields, None),
            pk=False,
            progress=lambda message: None,
        )
        total = time.perf_counter() - started
        parse_started = time.perf_counter()
        frame, bad = typed(parse_results(bodies, fields), MappingConfig())
        parse = time.perf_counter() - parse_started
    finally:
        emu.stop()
    stats = client.stats["OpportunityHistory"]
    mb = stats["bytes"] / 1e6
    transfer = stats["transfer_seconds"]
    assert frame.height == rows and not bad
    print(f"{rows:,} OpportunityHistory rows, {mb:,.1f} MB of CSV in {stats['batches']} batch(es)")
    print(f"  job (server renders CSV, polling):   {total - transfer:6.2f} s")
    print(
        f"  transfer (HTTP, gzip, .read()):      {transfer:6.2f} s  "
        f"{mb / transfer:7.1f} MB/s  {rows / transfer:12,.0f} rows/s"
    )
    print(
        f"  parse (polars read_csv + typing):    {parse:6.2f} s  "
        f"{mb / parse:7.1f} MB/s  {rows / parse:12,.0f} rows/s"
    )
    print(f"  parsing is {transfer / parse:.1f}x faster than the transfer")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
