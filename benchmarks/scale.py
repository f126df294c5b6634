"""Scaled orgs for the benchmarks: the demo org, same shape, at sizes S, M and L.

Sizes are chosen by **opportunities** (the grain most signals aggregate), with the demo
generator's own ratios for the other tables (per opportunity ≈ 4.8 history rows, 5.5 leads,
13.7 lead-history rows). So against the issue's targets: M (100k opportunities) has ≈ 0.48M
history rows and 0.55M leads (targets 1M / 1M); L (1M opportunities) has ≈ 5.5M leads and
≈ 14M lead-history rows (targets 5M / 10M) but ≈ 4.8M history rows (target 10M). The runner
records the actual row counts next to every timing.

L is generated in chunks (`CHUNK_SCALE` each, seed + chunk number) and concatenated with a
chunk prefix on every opportunity, lead and campaign id, so memory stays bounded by one chunk
plus the result. Users and stages are shared; forecasts and quotas (one per team × week /
quarter, derived from each chunk's actuals) are summed across chunks, which keeps each team's
forecast ≈ actual × its planted ratio.
"""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import polars as pl

from connectors.demo import generate_demo_org
from model.schema import TABLE_ORDER, TABLES

SIZES: dict[str, float] = {"S": 1.0, "M": 17.7, "L": 177.0}  # demo scale ≈ 5,650 opps
CHUNK_SCALE = 17.7
AS_OF = date(2026, 11, 23)

_IDS = {  # id columns that get the chunk prefix, per table
    "opportunities": ("opp_id", "campaign_id"),
    "stage_history": ("opp_id",),
    "leads": ("lead_id", "converted_opp_id", "campaign_id"),
    "lead_history": ("lead_id",),
    "campaigns": ("campaign_id",),
    "campaign_members": ("campaign_id", "lead_id"),
}
_SUMMED = {"forecasts": TABLES["forecasts"].primary_key, "quotas": ("period", "team")}


def _prefixed(frame: pl.DataFrame, table: str, chunk: int) -> pl.DataFrame:
    cols = _IDS.get(table, ())
    return frame.with_columns(pl.format("K{}-{}", pl.lit(chunk), pl.col(c)).alias(c) for c in cols)


def _combine(chunks: list[dict[str, pl.DataFrame]]) -> dict[str, pl.DataFrame]:
    out = {}
    for name in TABLE_ORDER:
        if name in ("users", "stages"):
            out[name] = chunks[0][name]
            continue
        frame = pl.concat([c[name] for c in chunks])
        if name in _SUMMED:
            keys = list(_SUMMED[name])
            frame = frame.group_by(keys).agg(pl.col("amount").sum()).sort(keys, nulls_last=True)
            if "owner_id" not in keys:  # quotas: one team-level row per quarter
                frame = frame.with_columns(pl.lit(None, pl.String).alias("owner_id"))
            frame = frame.select(list(TABLES[name].columns))
        out[name] = frame
    return out


def generate(size: str | float, *, as_of: date = AS_OF, seed: int = 7) -> dict[str, pl.DataFrame]:
    """The demo org at `size` (a name in `SIZES` or a demo scale factor), chunked above
    `CHUNK_SCALE`."""
    scale = SIZES[size] if isinstance(size, str) else float(size)
    n = max(1, math.ceil(scale / CHUNK_SCALE - 1e-9))
    if n == 1:
        return generate_demo_org(as_of=as_of, seed=seed, scale=scale)
    chunks = []
    for k in range(n):
        org = generate_demo_org(as_of=as_of, seed=seed + k, scale=scale / n)
        chunks.append({name: _prefixed(f, name, k) for name, f in org.items()})
    return _combine(chunks)


def row_counts(frames: dict[str, pl.DataFrame]) -> dict[str, int]:
    return {name: frames[name].height for name in TABLE_ORDER if name in frames}


def mapping_toml(suffix: str) -> str:
    """A files-connector mapping for the canonical layout: `<table>.<suffix>`, same columns."""
    lines = []
    for name, schema in TABLES.items():
        lines += [f"[tables.{name}]", f'files = ["{name}.{suffix}"]', f"[tables.{name}.columns]"]
        lines += [f'{col} = "{col}"' for col in schema.columns]
        lines.append("")
    return "\n".join(lines)


def write_org(frames: dict[str, pl.DataFrame], folder: Path, fmt: str) -> Path:
    """Write `frames` in the canonical layout as Parquet or CSV; returns the mapping file."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        if fmt == "parquet":
            frame.write_parquet(folder / f"{name}.parquet")
        else:
            frame.write_csv(folder / f"{name}.csv")
    mapping = folder / "canonical.toml"
    mapping.write_text(mapping_toml(fmt), encoding="utf-8")
    return mapping
