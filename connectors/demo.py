"""The embedded demo org: a seeded, realistic B2B CRM in the canonical tables.

One seed is one company with one history. The org goes live `quarters` quarters before the
end of 2026-Q4 (`go_live`; 2025-01-01 at the default 8) and its history runs on from there.
`generate_demo_org(as_of=..., seed=...)` returns that history as a CRM snapshot taken at the
end of `as_of` (UTC) would show it (`cut_at`): records and history rows from later are
dropped, each deal carries its stage, amount, close date and category of that instant, each
lead its steps reached by then, its status and owner of then; forecasts submitted and
campaigns started by then; quotas of the quarters begun by then. So the snapshot of an
earlier day is the later snapshot cut at that day, and "what changed" between two snapshots
is what happened in between. Only planned dates may lie after `as_of`: the expected close
date of an open deal and the end date of a running campaign. Same
`(seed, quarters, scale, as_of)` → identical frames.

The simulation runs quarter by quarter from the go-live through the quarter that contains
`as_of`; each quarter draws from its own generators (seeded by stream, seed and quarter) and
simulates the whole future of what starts in it, so a quarter's events do not depend on how
far the simulation runs.

How the org is simulated (vectorised: one array of draws per step, history rows are built by
exploding per-record arrays):

* Leads arrive at ~44 × `scale` a day from seven sources. Marketing channels ("Webinar",
  "Paid Search", "Paid Social", "Content Syndication", "Events") and "Partner Referral" leads
  may become MQLs; they wait in the "QUEUE-LEADS" queue until an SDR touches them
  (`first_touch_at`); the SDR accepts (status "Working", `sal_at`) or rejects them
  (Disqualified / Recycled). Some MQLs are never touched (leakage). Accepted leads become
  "Qualified" (`sql_at`) or are disqualified / recycled to marketing; most SQLs are
  "Converted" into an opportunity created at `converted_at`. "Outbound" leads are created by
  an SDR and start "Working" without an MQL.
* Opportunities come from converted leads (start in Qualification), from AEs directly
  (`lead_source` "Outbound" or null, `sourced_by` "sales" or "unknown"), from partners
  (`sourced_by` "partner"), and ~350 × `scale` deals imported on day one (CRM go-live; open,
  already in Discovery..Contracting, `sourced_by` "unknown"). A deal's segment is set from its
  team and opening amount. Each deal walks the stages with log-normal durations, may skip
  Proposal (7 %) or fall back once from Negotiation to Proposal (8 %), is lost at each stage
  with a fixed probability or won after Contracting, changes its amount (re-scope, discount),
  and pushes its close date. Closing sets the close date to the closing day. Open deals whose
  pending pushes have not yet happened show a close date in the past (stale pipeline).

PLANTED PATTERNS (what the scorecard must find):

1. **EMEA stalls in Negotiation.** A Negotiation spell lasts log-normal(median 40 days,
   σ 0.6) for EMEA deals vs median 20 days for every other team (the spell a deal is lost in
   lasts 2× longer, for every team and stage). Measured on completed spells (next spell's
   entry − entry), EMEA's median ≈ 2× the other teams' (≈ 40 vs 21 days at seed 7); other
   stages are not slower in EMEA.
2. **Paid Social leads wait and leak.** MQL → first touch: median 80 h for "Paid Social"
   (σ 0.7, so ~96 % of touched ones breach a 24 h SLA) vs 3–6 h for other channels; 18 % of
   Paid Social MQLs are never touched (7 % elsewhere). Touched Paid Social MQLs are accepted
   42 % of the time (78 % elsewhere), so MQL→SAL ≈ 0.34 vs ≈ 0.73 (Events ≈ 0.5 over the
   whole history: pattern 5's badge scans); SAL→SQL is 0.22 vs 0.45.
3. **Forecast bias.** Each sales team's manager submits commit / best_case / pipeline every
   Monday of every quarter at 15:00 UTC (weeks 1..13, up to `as_of`). Commit = actual × ratio
   × (1 + noise), where actual = closed-won amount of the team's deals with close_date in the
   quarter (team = owner's team). "APAC" sandbags: ratio 0.75 all quarter (noise ±3 %).
   "NA Mid-Market" over-forecasts: ratio 1.30 in weeks 1–10, 1.15 in week 11, 1.00 in weeks
   12–13 (noise ±3 %), and its deals push their close date ~3× as often (Poisson mean 1.6
   pushes per deal vs 0.5). "NA Enterprise" and "EMEA": ratio 1.00 (noise ±6 %).
   For the in-progress quarter the actual is the history's full-quarter outcome (deals won
   after `as_of` included), so every snapshot shows the same submissions. best_case ≈
   1.15–1.25 × commit, pipeline ≈ 1.9–2.3 × commit. Quotas: one per team and quarter
   (owner_id null) = actual × U(0.95, 1.25).
4. **Marketing vs sales attribution disagree.** Marketing counts an opportunity when its
   originating lead (`leads.converted_opp_id`) has a `campaign_members` row responded at or
   before `converted_at`; sales counts `sourced_by == "marketing"`. The gap comes from:
   (a) 20 % of marketing-channel leads are untracked (no campaign, no membership; e.g. a form
   without a campaign code) yet their opps are labelled "marketing"; (b) 10 % of opps from
   marketing-channel leads are relabelled "sales" by the AE; (c) 30 % of "Outbound" leads
   respond to a Webinar or Events campaign before converting, and their opps stay "sales";
   (d) 8 % of converted leads join another campaign after conversion (does not count).
   Net: ≈ 20 % of sales' marketing-sourced opps have no campaign touch, and ≈ 20 % of
   marketing's campaign-influenced opps are labelled something other than "marketing".
5. **Goal conflict: marketing hits its MQL number with badge scans.** Every Q2 is trade-show
   season: from day 14 to day 59 of the quarter, ~16 × `scale` extra "Events" leads a day are
   imported as MQLs on arrival (≈ 720 per Q2), and the SDRs accept only 30 % of those they
   touch (their SAL→SQL is the usual Events 0.45). So each Q2 has ≈ 1/3 more MQLs than the
   Q1 before it while MQL→SAL falls by ≈ 0.1 (seed 7: 2,131 → 2,972 MQLs and 0.75 → 0.62 in
   2025; 2,194 → 3,003 and 0.75 → 0.63 in 2026); SALs rise but SAL→SQL does not fall, so
   only marketing's side conflicts. No other quarter has more MQLs with worse conversion
   beyond noise, and any four complete quarters (the scorecard's view) hold one Q2.
6. **Deals that will be lost slip first.** A deal that will be lost pushes its close date 3×
   as often as one that will be won (Poisson mean × 3, the team's rate otherwise; at most 4
   pushes), and its planned close date falls at half its life at the latest, so it sits past
   its close date before it dies (a won deal's plan is its real close ± 10 days). With the
   spell a deal is lost in lasting 2× longer (pattern 1), this is what the deal risk score
   (`scoring.risk`) must find: scored 30 days before close, lost deals rank above won ones
   with ROC AUC ≈ 0.73 (seed 7, as of 2026-11-24; `python -m ops risk --evaluate`).
7. **Reps submit too, and one stops.** In "EMEA" and "NA Enterprise" three AEs also submit
   their own commit / best_case / pipeline each Monday at 14:00 UTC, an hour before their
   manager: 40 %, 30 % and 20 % of the manager's call (± 5 %), so the manager's call carries
   an adjustment of ≈ +10 % on top of the reps' numbers (the call's manager-adjustment
   layer). The third AE of each team stops after week 4 of every quarter, so from week 6 on
   that rep's latest submission is stale. The manager's submission stays the team's call
   (`scoring.forecast.submission_levels`), so pattern 3 is unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl

from model.schema import TABLES, conform

SALES_TEAMS = ("NA Enterprise", "NA Mid-Market", "EMEA", "APAC")
MARKETING_CHANNELS = ("Webinar", "Paid Search", "Paid Social", "Content Syndication", "Events")
LEAD_SOURCES = (*MARKETING_CHANNELS, "Outbound", "Partner Referral")
QUEUE_ID = "QUEUE-LEADS"
STAGE_NAMES = (
    "Qualification",
    "Discovery",
    "Proposal",
    "Negotiation",
    "Contracting",
    "Closed Won",
    "Closed Lost",
)
STAGE_CATEGORY = ("pipeline", "pipeline", "best_case", "commit", "commit", "closed", "omitted")

DEMO_STAGES = pl.DataFrame(
    {
        "stage": STAGE_NAMES,
        "position": range(1, 8),
        "owner_function": ("sdr", "sales", "sales", "sales", "other", "sales", "sales"),
        "is_closed": (False,) * 5 + (True, True),
        "is_won": (False,) * 5 + (True, False),
    },
    schema=TABLES["stages"].polars_schema,
)

# --- org chart ---------------------------------------------------------------------------

# team, function, members besides the team lead, whether the lead reports to the VP
_TEAMS = (
    ("NA Enterprise", "sales", 6, True),
    ("NA Mid-Market", "sales", 6, True),
    ("EMEA", "sales", 6, True),
    ("APAC", "sales", 6, True),
    ("SDR", "sdr", 8, True),
    ("Marketing", "marketing", 3, False),
    ("Customer Success", "customer_success", 2, False),
    ("Deal Desk", "other", 1, False),
)
_FIRST = ("Alex", "Sam", "Jordan", "Taylor", "Morgan", "Casey", "Riley", "Jamie", "Avery", "Quinn")
_LAST = ("Lee", "Garcia", "Novak", "Okafor", "Tanaka", "Silva", "Müller", "Dubois", "Khan")


def _roster() -> list[tuple[str, str, str, str | None]]:
    """(user_id, team, function, manager_id) for the VP, then each team's lead and members."""
    rows: list[tuple[str, str, str, str | None]] = [("U001", "Sales Leadership", "sales", None)]
    for team, function, members, to_vp in _TEAMS:
        lead_id = f"U{len(rows) + 1:03d}"
        rows.append((lead_id, team, function, "U001" if to_vp else None))
        for _ in range(members):
            rows.append((f"U{len(rows) + 1:03d}", team, function, lead_id))
    return rows


_ROSTER = _roster()
_MANAGERS = {team: r[0] for team in SALES_TEAMS for r in _ROSTER if r[1] == team and r[3] == "U001"}
_AES = [r for r in _ROSTER if r[1] in SALES_TEAMS and r[3] != "U001"]
_AE_IDS = tuple(r[0] for r in _AES)
_AE_TEAM = np.array([SALES_TEAMS.index(r[1]) for r in _AES])
_SDR_IDS = tuple(r[0] for r in _ROSTER if r[1] == "SDR" and r[3] != "U001")
_MKT_IDS = tuple(r[0] for r in _ROSTER if r[1] == "Marketing")


def _users() -> pl.DataFrame:
    ids, teams, functions, managers = zip(*_ROSTER, strict=True)
    n = len(ids)
    names = [f"{_FIRST[i % len(_FIRST)]} {_LAST[(i * 4) % len(_LAST)]}" for i in range(n)]
    users = pl.DataFrame(
        {
            "user_id": ids,
            "name": names,
            "team": teams,
            "function": functions,
            "manager_id": managers,
            "is_queue": [False] * n,
        }
    )
    queue = pl.DataFrame(
        {"user_id": [QUEUE_ID], "name": ["Lead Queue"], "team": ["SDR"], "function": ["sdr"]}
    ).with_columns(manager_id=pl.lit(None, pl.String), is_queue=pl.lit(True))
    return pl.concat([users, queue])


# --- calendar ----------------------------------------------------------------------------


# The org goes live `quarters` quarters before the end of this quarter (2026-Q4), whatever the
# as-of date: at the default 8 quarters, on 2025-01-01. Its history runs on from there.
_REFERENCE_QUARTER = 2026 * 4 + 3


def go_live(quarters: int = 8) -> date:
    """The first day of the demo org's history: `quarters` quarters up to 2026-Q4 inclusive."""
    k = _REFERENCE_QUARTER - quarters + 1
    return date(k // 4, (k % 4) * 3 + 1, 1)


@dataclass(frozen=True)
class _Window:
    """The simulation clock: float days since `origin` (the go-live, the first quarter's first
    day), over the quarters from the go-live through the one that contains the as-of date."""

    origin: date
    starts: np.ndarray  # day offset of each quarter's start, plus the end of the last quarter
    names: tuple[str, ...]

    def quarter_of(self, days: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.starts, days, side="right") - 1

    def start_date(self, q: int) -> date:
        return self.origin + timedelta(days=int(self.starts[q]))


def _window(origin: date, as_of: date) -> _Window:
    first = origin.year * 4 + (origin.month - 1) // 3
    current = as_of.year * 4 + (as_of.month - 1) // 3
    firsts = [date(k // 4, (k % 4) * 3 + 1, 1) for k in range(first, current + 2)]
    return _Window(
        origin=origin,
        starts=np.array([(d - origin).days for d in firsts], dtype=float),
        names=tuple(f"{d.year}-Q{(d.month - 1) // 3 + 1}" for d in firsts[:-1]),
    )


# Every quarter draws from its own generators, one per table family, seeded by (stream, seed,
# quarter): what happens in a quarter does not depend on how many quarters are simulated after
# it, so every as-of date sees the same history.
_LEADS, _OPPS, _CAMPAIGNS, _FORECASTS, _QUOTAS, _OWNER_FORECASTS = range(6)


def _rng(seed: int, q: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([stream, seed, q])


_US_PER_DAY = 86_400_000_000


def _ts(days: pl.Expr, origin: date) -> pl.Expr:
    """UTC timestamp of a float day offset (null stays null)."""
    origin_us = int(datetime(origin.year, origin.month, origin.day, tzinfo=UTC).timestamp())
    us = (days.fill_nan(None) * _US_PER_DAY).round().cast(pl.Int64) + origin_us * 1_000_000
    return pl.from_epoch(us, time_unit="us").dt.replace_time_zone("UTC")


def _day(days: pl.Expr, origin: date) -> pl.Expr:
    """Calendar date of an integer day offset."""
    epoch_day = (origin - date(1970, 1, 1)).days
    return pl.from_epoch(days.cast(pl.Int64) + epoch_day, time_unit="d")


def _lognormal(
    rng: np.random.Generator, median: np.ndarray | float, sigma: float, size: int | tuple[int, int]
) -> np.ndarray:
    return np.asarray(median) * np.exp(rng.normal(0.0, sigma, size))


def _lookup(values: tuple[str, ...], index: pl.Expr) -> pl.Expr:
    """`values[index]` as an expression (null index → null)."""
    return pl.lit(pl.Series(values)).gather(index)


# --- campaigns ---------------------------------------------------------------------------

_CAMPAIGN_OFFSETS = np.array([0, 25, 50])  # campaign k of a quarter starts on day 25k ...
_CAMPAIGN_DAYS = 45  # ... and runs 45 days (the last one to quarter end)
_CAMPAIGN_COST = np.array([8_000, 30_000, 25_000, 20_000, 40_000])


def _campaign_index(
    rng: np.random.Generator, channel: np.ndarray, at: np.ndarray, win: _Window
) -> np.ndarray:
    """A campaign of `channel` running at time `at` (index into the campaign grid)."""
    q = win.quarter_of(at)
    d = at - win.starts[q]
    k_min = (d >= 45).astype(int) + (d >= 70)
    k_max = (d >= 25).astype(int) + (d >= 50)
    k = k_min + (rng.random(len(at)) * (k_max - k_min + 1)).astype(int)
    return (q * len(MARKETING_CHANNELS) + channel) * len(_CAMPAIGN_OFFSETS) + k


def _campaign_id(index: pl.Expr) -> pl.Expr:
    return pl.when(index >= 0).then(pl.format("C{}", (index + 1).cast(pl.String).str.zfill(4)))


def _campaigns(seed: int, win: _Window, scale: float) -> pl.DataFrame:
    """Each quarter's campaign grid: every channel runs `len(_CAMPAIGN_OFFSETS)` campaigns."""
    nq, nc, nk = len(win.names), len(MARKETING_CHANNELS), len(_CAMPAIGN_OFFSETS)
    q, c, k = (a.ravel() for a in np.meshgrid(range(nq), range(nc), range(nk), indexing="ij"))
    start = win.starts[q] + _CAMPAIGN_OFFSETS[k]
    end = np.where(k == nk - 1, win.starts[q + 1] - 1, start + _CAMPAIGN_DAYS - 1)
    noise = np.concatenate([_rng(seed, i, _CAMPAIGNS).normal(0.0, 0.3, nc * nk) for i in range(nq)])
    cost = np.round(_CAMPAIGN_COST[c] * scale * np.exp(noise), -2)
    names = np.array(win.names)[q]
    channels = np.array(MARKETING_CHANNELS)[c]
    return pl.DataFrame(
        {"index": np.arange(len(q)), "start": start, "end": end, "cost": cost}
    ).with_columns(
        campaign_id=_campaign_id(pl.col("index")),
        name=pl.format("{} {} {}", pl.Series(names), pl.Series(channels), pl.lit(k + 1)),
        channel=pl.Series(channels),
        start_date=_day(pl.col("start"), win.origin),
        end_date=_day(pl.col("end"), win.origin),
    )


# --- leads -------------------------------------------------------------------------------

_LEADS_PER_DAY = 44.0
_SOURCE_MIX = (0.17, 0.21, 0.19, 0.15, 0.10, 0.14, 0.04)
_OUTBOUND, _PARTNER = 5, 6
# Per source, in LEAD_SOURCES order. Paid Social is the planted laggard (pattern 2).
_P_MQL = np.array([0.45, 0.50, 0.50, 0.35, 0.55, 0.0, 0.90])
_P_TOUCH = np.array([0.93, 0.93, 0.82, 0.93, 0.93, 1.0, 0.97])
_TOUCH_HOURS = np.array([4.0, 3.0, 80.0, 6.0, 5.0, 1.0, 2.0])
_TOUCH_SIGMA = np.array([0.9, 0.9, 0.7, 0.9, 0.9, 0.9, 0.9])
_P_ACCEPT = np.array([0.78, 0.78, 0.42, 0.78, 0.78, 1.0, 0.85])
_P_SQL = np.array([0.45, 0.45, 0.22, 0.45, 0.45, 0.28, 0.60])
_P_CONVERT = 0.88


# Pattern 5: each Q2 is trade-show season; marketing imports the badge scans as "Events"
# MQLs on arrival, and the SDRs accept few of them.
_EVENTS = 4
_SCANS_PER_DAY = 16.0
_SCAN_DAYS = (14.0, 59.0)  # days into the quarter
_P_ACCEPT_SCAN = 0.30


def _lead_arrivals(rng: np.random.Generator, win: _Window, q: int, scale: float) -> dict:
    """The leads created in quarter `q`, with their whole future (`_history` numbers them)."""
    lo, hi = win.starts[q], win.starts[q + 1]
    n = int(rng.poisson(_LEADS_PER_DAY * scale * (hi - lo)))
    scans_per_quarter = _SCANS_PER_DAY * scale * (_SCAN_DAYS[1] - _SCAN_DAYS[0])
    n_scan = int(rng.poisson(scans_per_quarter)) if win.start_date(q).month == 4 else 0
    arrivals = np.concatenate([rng.uniform(lo, hi, n), lo + rng.uniform(*_SCAN_DAYS, n_scan)])
    order = np.argsort(arrivals, kind="stable")
    created = arrivals[order]
    scan = (np.arange(n + n_scan) >= n)[order]
    n += n_scan
    source = np.where(scan, _EVENTS, rng.choice(len(LEAD_SOURCES), size=n, p=_SOURCE_MIX))
    instant = scan | (rng.random(n) < 0.4)  # demo requests and badge scans are MQLs on arrival
    mql_delay = np.where(instant, rng.uniform(0, 0.02, n), rng.exponential(8.0, n))
    is_mql = scan | (rng.random(n) < _P_MQL[source])
    mql = np.where(is_mql, created + mql_delay, np.nan)
    delay = _TOUCH_HOURS[source] * np.exp(rng.normal(0.0, 1.0, n) * _TOUCH_SIGMA[source]) / 24
    outbound = source == _OUTBOUND
    touched = (rng.random(n) < _P_TOUCH[source]) & (outbound | ~np.isnan(mql))
    touch = np.where(outbound, created, np.where(touched, mql + delay, np.nan))
    p_accept = np.where(scan, _P_ACCEPT_SCAN, _P_ACCEPT[source])
    accepted = touched & (rng.random(n) < p_accept)
    sal_delay = np.where(outbound, rng.uniform(0.01, 0.5, n), rng.uniform(0.0, 0.1, n))
    return {
        "created": created,
        "source": source,
        "mql": mql,
        "touch": touch,
        "sal": np.where(accepted, touch + sal_delay, np.nan),
        "rejected": touched & ~accepted,
        "sdr": rng.integers(len(_SDR_IDS), size=n),
        "marketer": rng.integers(len(_MKT_IDS), size=n),
    }


def _lead_outcomes(rng: np.random.Generator, sim: dict) -> dict:
    """SQL, conversion and disposition (Disqualified / Recycled) times."""
    n, sal, touch = len(sim["created"]), sim["sal"], sim["touch"]
    is_sql = ~np.isnan(sal) & (rng.random(n) < _P_SQL[sim["source"]])
    sql = np.where(is_sql, sal + _lognormal(rng, 6.0, 0.7, n), np.nan)
    converted = is_sql & (rng.random(n) < _P_CONVERT)
    conv = np.where(converted, sql + _lognormal(rng, 2.0, 0.6, n), np.nan)
    # a disposition ends every path that is not converted: after rejection, working or SQL
    ends = np.select(
        [sim["rejected"], ~np.isnan(sal) & ~is_sql, is_sql & ~converted],
        [
            touch + rng.uniform(0.0, 1.0, n),
            sal + _lognormal(rng, 14.0, 0.5, n),
            sql + _lognormal(rng, 10.0, 0.5, n),
        ],
        np.nan,
    )
    recycle = (rng.random(n) < 0.45) & ~(is_sql & ~converted)
    return {
        "sql": sql,
        "conv": conv,
        "dq": np.where(recycle, np.nan, ends),
        "rec": np.where(recycle, ends, np.nan),
    }


def _simulate_leads(rng: np.random.Generator, win: _Window, q: int, scale: float) -> dict:
    sim = _lead_arrivals(rng, win, q, scale)
    sim |= _lead_outcomes(rng, sim)
    is_mkt = sim["source"] < len(MARKETING_CHANNELS)
    tracked = is_mkt & (rng.random(len(is_mkt)) < 0.8)  # pattern 4 (a): 20 % untracked
    channel = np.minimum(sim["source"], len(MARKETING_CHANNELS) - 1)
    campaign = _campaign_index(rng, channel, sim["created"], win)
    sim["campaign"] = np.where(tracked, campaign, -1)
    return sim


def _lead_id(index: pl.Expr) -> pl.Expr:
    return pl.format("L{}", (index + 1).cast(pl.String).str.zfill(7))


def _lead_frame(sim: dict) -> pl.DataFrame:
    """The simulated leads with status and current owner (times still in float days)."""
    cols = ("lead", "created", "source", "mql", "touch", "sal", "sql", "conv", "dq", "rec")
    frame = pl.DataFrame({c: pl.Series(sim[c], nan_to_null=True) for c in cols})
    sdr = _lookup(_SDR_IDS, pl.lit(pl.Series(sim["sdr"])))
    marketer = _lookup(_MKT_IDS, pl.lit(pl.Series(sim["marketer"])))
    outbound = pl.col("source") == _OUTBOUND
    status = (
        pl.when(pl.col("conv").is_not_null())
        .then(pl.lit("Converted"))
        .when(pl.col("dq").is_not_null())
        .then(pl.lit("Disqualified"))
        .when(pl.col("rec").is_not_null())
        .then(pl.lit("Recycled"))
        .when(pl.col("sql").is_not_null())
        .then(pl.lit("Qualified"))
        .when(pl.col("sal").is_not_null())
        .then(pl.lit("Working"))
        .when(pl.col("mql").is_not_null())
        .then(pl.lit("MQL"))
        .otherwise(pl.lit("New"))
    )
    return frame.with_columns(
        status=status, sdr_id=sdr, marketer_id=marketer, campaign=pl.Series(sim["campaign"])
    ).with_columns(
        owner_id=pl.when(pl.col("status") == "Recycled")
        .then("marketer_id")
        .when(pl.col("status").is_in(["New", "MQL"]) & ~outbound)
        .then(pl.lit(QUEUE_ID))
        .otherwise("sdr_id"),
        lead_id=_lead_id(pl.col("lead")),
    )


def _leads(frame: pl.DataFrame, opp_of_lead: pl.DataFrame, win: _Window) -> pl.DataFrame:
    o = win.origin
    return frame.join(opp_of_lead, on="lead", how="left").select(
        "lead_id",
        created_at=_ts(pl.col("created"), o),
        owner_id="owner_id",
        source=_lookup(LEAD_SOURCES, pl.col("source")),
        campaign_id=_campaign_id(pl.col("campaign")),
        status="status",
        mql_at=_ts(pl.col("mql"), o),
        sal_at=_ts(pl.col("sal"), o),
        sql_at=_ts(pl.col("sql"), o),
        converted_at=_ts(pl.col("conv"), o),
        converted_opp_id="opp_id",
        disqualified_at=_ts(pl.col("dq"), o),
        first_touch_at=_ts(pl.col("touch"), o),
    )


def _lead_history(frame: pl.DataFrame, win: _Window) -> pl.DataFrame:
    """One row per status change; MQLs wait in the queue, the accepting SDR owns the rest."""
    new_owner = pl.when(pl.col("source") == _OUTBOUND).then("sdr_id").otherwise(pl.lit(QUEUE_ID))
    steps = (
        ("New", "created", new_owner),
        ("MQL", "mql", pl.lit(QUEUE_ID)),
        ("Working", "sal", pl.col("sdr_id")),
        ("Qualified", "sql", pl.col("sdr_id")),
        ("Converted", "conv", pl.col("sdr_id")),
        ("Disqualified", "dq", pl.col("sdr_id")),
        ("Recycled", "rec", pl.col("marketer_id")),
    )
    parts = [
        frame.filter(pl.col(col).is_not_null()).select(
            "lead_id", status=pl.lit(status), at=pl.col(col), owner_id=owner
        )
        for status, col, owner in steps
    ]
    return pl.concat(parts).select(
        "lead_id", "status", entered_at=_ts(pl.col("at"), win.origin), owner_id="owner_id"
    )


def _campaign_responses(rng: np.random.Generator, sim: dict, win: _Window) -> pl.DataFrame:
    """Each tracked lead's source campaign, plus later responses (pattern 4 c and d)."""
    n, created, conv = len(sim["lead"]), sim["created"], sim["conv"]
    # (c) Outbound leads that respond to a Webinar or Events campaign before converting
    responds = (sim["source"] == _OUTBOUND) & (rng.random(n) < 0.3)
    span = np.where(np.isnan(conv), 20.0, conv - created)
    out_at = created + rng.uniform(0.1, 0.9, n) * span
    out_channel = np.where(rng.random(n) < 0.5, 0, 4)
    # (d) converted leads that respond to some campaign after converting
    later = ~np.isnan(conv) & (rng.random(n) < 0.08)
    later_at = conv + rng.uniform(3.0, 90.0, n)
    later_channel = rng.integers(len(MARKETING_CHANNELS), size=n)
    at = np.concatenate([out_at[responds], later_at[later]])
    channel = np.concatenate([out_channel[responds], later_channel[later]])
    # a response after the last simulated quarter is after any as-of date; its campaign is moot
    responses = _campaign_index(rng, channel, np.minimum(at, win.starts[-1] - 1e-6), win)
    tracked = sim["campaign"] >= 0
    return pl.DataFrame(
        {
            "index": np.concatenate([sim["campaign"][tracked], responses]),
            "lead": np.concatenate([sim["lead"][m] for m in (tracked, responds, later)]),
            "at": np.concatenate([created[tracked], at]),
        }
    )


def _campaign_members(responses: pl.DataFrame, win: _Window) -> pl.DataFrame:
    """A lead's first response to each campaign."""
    return (
        responses.sort("lead", "at", "index")
        .unique(subset=["index", "lead"], keep="first", maintain_order=True)
        .select(
            campaign_id=_campaign_id(pl.col("index")),
            lead_id=_lead_id(pl.col("lead")),
            responded_at=_ts(pl.col("at"), win.origin),
        )
    )


# --- opportunities -----------------------------------------------------------------------

_DIRECT_PER_DAY = 1.2  # AE-created deals
_PARTNER_PER_DAY = 0.3  # partner-registered deals
_IMPORTED = 350  # open deals migrated on day one
_SOURCED_BY = ("marketing", "sales", "partner", "unknown")
_MID_MARKET, _EMEA = 1, 2
# A deal's path is a subset of these spell slots, in order; slots 4-5 are the fall-back from
# Negotiation to Proposal and the return to Negotiation.
_SLOT_STAGE = np.array([0, 1, 2, 3, 2, 3, 4])
_SLOT_LEVEL = np.array([0, 1, 2, 3, 3, 3, 4])
_SLOT_MEDIAN_DAYS = np.array([8.0, 20.0, 25.0, 20.0, 10.0, 12.0, 10.0])
_LOST_SPELL_FACTOR = 2.0  # deals die slowly: the spell a deal is lost in lasts longer
_P_LOSE = np.array([0.35, 0.30, 0.28, 0.22, 0.06])  # per stage level, Qualification..Contracting
_AMOUNT_MEDIAN = np.array([70_000.0, 18_000.0, 40_000.0, 32_000.0])  # per sales team
_PUSHES_PER_DEAL = np.array([0.5, 1.6, 0.5, 0.5])  # per sales team (pattern 3: slippage)
_MAX_PUSHES = 4
_LOST_PUSH_FACTOR = 3.0  # pattern 6: deals that will be lost slip more often
_LOST_CLOSE_SHARE = 0.5  # pattern 6: … and sit past the close date planned for them


_ACCOUNTS = 4_000  # × scale: accounts deals are opened for, across all quarters


def _from_leads(rng: np.random.Generator, sim: dict) -> dict:
    """Opportunities created when a lead converts (whenever it does); they start in
    Qualification."""
    conv = ~np.isnan(sim["conv"])
    source = sim["source"][conv]
    relabelled = rng.random(len(source)) < 0.10  # pattern 4 (b)
    mkt = source < len(MARKETING_CHANNELS)
    return {
        "created": sim["conv"][conv],
        "lead": sim["lead"][conv],
        "source": source,
        "campaign": sim["campaign"][conv],
        "sourced_by": np.select([mkt & ~relabelled, mkt | (source == _OUTBOUND)], [0, 1], 2),
        "start": np.zeros(len(source), int),
        "imported": np.zeros(len(source), bool),
    }


def _direct(rng: np.random.Generator, win: _Window, q: int, scale: float) -> dict:
    """Opportunities without a lead created in quarter `q`: AE-created, partner-registered,
    and (in the go-live quarter) the open deals imported on day one."""
    lo, hi = win.starts[q], win.starts[q + 1]
    n_ae = int(rng.poisson(_DIRECT_PER_DAY * scale * (hi - lo)))
    n_partner = int(rng.poisson(_PARTNER_PER_DAY * scale * (hi - lo)))
    n_import = int(rng.poisson(_IMPORTED * scale)) if q == 0 else 0
    outbound = rng.random(n_ae) < 0.55
    ae_sourced = np.where(outbound | (rng.random(n_ae) < 0.7), 1, 3)
    created = np.concatenate(
        [rng.uniform(lo, hi, n_ae + n_partner), rng.uniform(0.3, 0.45, n_import)]
    )
    imported_start = rng.choice(4, size=n_import, p=(0.35, 0.30, 0.25, 0.10)) + 1
    ae_start = np.where(rng.random(n_ae) < 0.1, 0, 1)
    return {
        "created": created,
        "lead": np.full(len(created), -1),
        "source": np.concatenate(
            [np.where(outbound, _OUTBOUND, -1), np.full(n_partner, _PARTNER), np.full(n_import, -1)]
        ),
        "campaign": np.full(len(created), -1),
        "sourced_by": np.concatenate([ae_sourced, np.full(n_partner, 2), np.full(n_import, 3)]),
        "start": np.concatenate([ae_start, np.ones(n_partner, int), imported_start]),
        "imported": np.arange(len(created)) >= n_ae + n_partner,
    }


def _opp_block(
    rng: np.random.Generator, sim: dict, win: _Window, q: int, scale: float
) -> tuple[dict, dict]:
    """The deals that quarter `q` gives rise to (from its leads, whenever they convert, and
    its direct deals) with owner, opening amount and every change of their lives.
    Deals are numbered in block order here; `_number_deals` orders them by creation."""
    a, b = _from_leads(rng, sim), _direct(rng, win, q, scale)
    opps = {k: np.concatenate([a[k], b[k]]) for k in a}
    n = len(opps["created"])
    opps["owner"] = rng.integers(len(_AE_IDS), size=n)
    opps["team"] = _AE_TEAM[opps["owner"]]
    amount = _lognormal(rng, _AMOUNT_MEDIAN[opps["team"]], 0.55, n)
    opps["amount0"] = np.maximum(np.round(amount, -2), 1_000.0)
    opps["account"] = rng.integers(max(100, int(_ACCOUNTS * scale)), size=n)
    opps["product"] = rng.integers(len(_PRODUCTS), size=n)
    return opps, _deal_events(rng, opps)


def _number_deals(blocks: list[tuple[dict, dict]]) -> tuple[dict, dict]:
    """All deals in creation order (the order of their ids), and all their change events.
    A deal created before an instant comes from a quarter up to that instant's, so the
    numbering of the deals created by any as-of date is the same however far we simulate."""
    offsets = np.cumsum([0] + [len(o["created"]) for o, _ in blocks])
    opps = {k: np.concatenate([o[k] for o, _ in blocks]) for k in blocks[0][0]}
    order = np.lexsort((np.arange(offsets[-1]), opps["created"]))
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    events = {k: np.concatenate([e[k] for _, e in blocks]) for k in blocks[0][1]}
    local = [e["opp"] + off for (_, e), off in zip(blocks, offsets[:-1], strict=True)]
    events["opp"] = rank[np.concatenate(local)]
    return {k: v[order] for k, v in opps.items()}, events


def _walk_stages(rng: np.random.Generator, opps: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which spell slots each deal visits, how long each lasts (days), and whether it is won."""
    start, team = opps["start"], opps["team"]
    n = len(start)
    lost = (np.arange(5) >= start[:, None]) & (rng.random((n, 5)) < _P_LOSE)
    end = np.where(lost.any(axis=1), lost.argmax(axis=1), 5)  # level lost at; 5 = won
    visits = (start[:, None] <= _SLOT_LEVEL) & (end[:, None] >= _SLOT_LEVEL)
    visits[:, 2] &= ~((rng.random(n) < 0.07) & (start <= 1) & (end >= 3))  # skip Proposal
    falls_back = (rng.random(n) < 0.08) & (start <= 3)
    visits[:, 4] &= falls_back
    visits[:, 5] &= falls_back
    slow = (team == _EMEA)[:, None] & (_SLOT_STAGE == 3)  # pattern 1
    median = _SLOT_MEDIAN_DAYS * np.where(slow, 2.0, 1.0)
    days = median * np.exp(rng.normal(0.0, 0.6, (n, len(_SLOT_STAGE))))
    first = visits.argmax(axis=1)  # imported deals are part-way through their first spell
    days[np.arange(n), first] *= np.where(opps["imported"], rng.uniform(0.05, 1.0, n), 1.0)
    last = visits.shape[1] - 1 - visits[:, ::-1].argmax(axis=1)
    days[np.arange(n), last] *= np.where(end < 5, _LOST_SPELL_FACTOR, 1.0)
    return visits, np.where(visits, days, 0.0), end == 5


def _event_block(opp: np.ndarray, at: np.ndarray, **cols: np.ndarray) -> dict:
    """Events of one kind; a column not given means \"unchanged\"."""
    n = len(opp)
    block = {"opp": opp, "at": at, "stage": np.full(n, -1), "factor": np.ones(n)}
    block |= {"push": np.zeros(n, int), "closed_day": np.full(n, np.nan)}
    return block | cols


def _stage_events(opps: dict, visits: np.ndarray, days: np.ndarray, won: np.ndarray) -> list[dict]:
    """One event per stage spell entered, and the closing event (won or lost)."""
    created = opps["created"]
    # days before each slot; built by shifting (not `cumsum - days`) so it is exactly 0.0
    # until the first visited slot and that spell starts exactly at `created`
    before = np.zeros_like(days)
    before[:, 1:] = np.cumsum(days, axis=1)[:, :-1]
    entered = created[:, None] + before
    close_at = created + days.sum(axis=1)
    rows, slots = np.nonzero(visits)
    n = len(created)
    return [
        _event_block(rows, entered[rows, slots], stage=_SLOT_STAGE[slots]),
        _event_block(
            np.arange(n), close_at, stage=np.where(won, 5, 6), closed_day=np.floor(close_at)
        ),
    ]


def _change_events(
    rng: np.random.Generator, opps: dict, days: np.ndarray, won: np.ndarray
) -> tuple[list[dict], np.ndarray]:
    """Amount changes and close-date pushes; returns them and each deal's first close date."""
    created, team = opps["created"], opps["team"]
    n, life = len(created), days.sum(axis=1)
    rescope = np.nonzero(rng.random(n) < 0.5)[0]
    rescope_at = created + rng.uniform(0.1, 0.6, n) * life
    discount = np.nonzero((rng.random(n) < 0.4) & (days[:, 3] > 0))[0]
    discount_at = created + days[:, :3].sum(axis=1) + rng.random(n) * days[:, 3]
    rate = _PUSHES_PER_DEAL[team] * np.where(won, 1.0, _LOST_PUSH_FACTOR)  # pattern 6
    pushes = np.arange(_MAX_PUSHES) < np.minimum(rng.poisson(rate), 4)[:, None]
    push_at = created[:, None] + rng.random((n, _MAX_PUSHES)) * life[:, None]
    push_days = rng.integers(7, 46, (n, _MAX_PUSHES)) * pushes
    rows, j = np.nonzero(pushes)
    planned = np.where(
        won,
        np.floor(created + life) + rng.integers(-10, 11, n),
        # pattern 6: a deal that dies overstays its close date (planned by half its life)
        np.floor(created + np.minimum(_lognormal(rng, 110.0, 0.3, n), _LOST_CLOSE_SHARE * life)),
    )
    first_close = np.maximum(planned - push_days.sum(axis=1), np.floor(created) + 14)
    events = [
        _event_block(rescope, rescope_at[rescope], factor=_lognormal(rng, 1.0, 0.2, len(rescope))),
        _event_block(discount, discount_at[discount], factor=rng.uniform(0.8, 0.97, len(discount))),
        _event_block(rows, push_at[rows, j], push=push_days[rows, j]),
    ]
    return events, first_close


def _deal_events(rng: np.random.Generator, opps: dict) -> dict:
    """Every change of every deal, past and future (deal numbers local to `opps`)."""
    visits, days, won = _walk_stages(rng, opps)
    changes, first_close = _change_events(rng, opps, days, won)
    blocks = _stage_events(opps, visits, days, won) + changes
    columns = {k: np.concatenate([b[k] for b in blocks]) for k in blocks[0]}
    return columns | {
        "amount0": opps["amount0"][columns["opp"]],
        "first_close": first_close[columns["opp"]],
    }


def _deal_lives(events: dict) -> pl.DataFrame:
    """Every change of every deal, each row with the then-current values."""
    return (
        pl.DataFrame(events)
        .sort("opp", "at")
        .with_columns(
            stage=pl.when(pl.col("stage") >= 0).then("stage").forward_fill().over("opp"),
            amount=(pl.col("amount0") * pl.col("factor").cum_prod().over("opp") / 100).round()
            * 100,
            close_day=pl.coalesce(
                pl.col("closed_day").fill_nan(None).cast(pl.Int64),
                pl.col("first_close").cast(pl.Int64) + pl.col("push").cum_sum().over("opp"),
            ),
        )
    )


def _last_per_opp(events: pl.DataFrame) -> pl.DataFrame:
    return events.group_by("opp").agg(pl.all().last()).sort("opp")


_PRODUCTS = ("Platform", "Analytics", "Expansion", "Add-on")
_ACCOUNT_A = ("North", "Blue", "Iron", "Bright", "Silver", "Green", "Summit", "Harbor")
_ACCOUNT_B = ("wind", "stone", "field", "peak", "wave", "bridge", "point", "ridge", "gate")
_ACCOUNT_C = ("Labs", "Systems", "Group", "Health", "Logistics", "Bank", "Foods")


def _opp_id(index: pl.Expr) -> pl.Expr:
    return pl.format("O{}", (index + 1).cast(pl.String).str.zfill(7))


def _account_name(account: pl.Expr) -> pl.Expr:
    a, b = len(_ACCOUNT_A), len(_ACCOUNT_B)
    return pl.format(
        "{}{} {}",
        _lookup(_ACCOUNT_A, account % a),
        _lookup(_ACCOUNT_B, account // a % b),
        _lookup(_ACCOUNT_C, account % len(_ACCOUNT_C)),
    )


def _opportunities(opps: dict, current: pl.DataFrame, win: _Window) -> pl.DataFrame:
    """Each deal with its origin and the values of its last history row (`_cut` replaces these
    with the values at the as-of date)."""
    keys = ("created", "owner", "team", "source", "campaign", "sourced_by", "account", "product")
    deals = pl.DataFrame({k: opps[k] for k in keys}).hstack(current)  # current has amount0
    source, account = pl.col("source"), pl.col("account")
    # the segment is set when the deal is opened, from its opening amount
    big = pl.col("team").is_in([2, 3]) & (pl.col("amount0") >= 50_000)
    return deals.select(
        opp_id=_opp_id(pl.col("opp")),
        # Deal names carry the month they were opened, as most CRMs' naming rules ask.
        name=pl.format(
            "{} – {} ({})",
            _account_name(account),
            _lookup(_PRODUCTS, pl.col("product")),
            _ts(pl.col("created"), win.origin).dt.strftime("%b %Y"),
        ),
        account_id=pl.format("A{}", (account + 1).cast(pl.String).str.zfill(6)),
        owner_id=_lookup(_AE_IDS, pl.col("owner")),
        stage=_lookup(STAGE_NAMES, pl.col("stage")),
        amount="amount",
        created_at=_ts(pl.col("created"), win.origin),
        close_date=_day(pl.col("close_day"), win.origin),
        is_closed=pl.col("stage") >= 5,
        is_won=pl.col("stage") == 5,
        forecast_category=_lookup(STAGE_CATEGORY, pl.col("stage")),
        lead_source=_lookup(LEAD_SOURCES, pl.when(source >= 0).then(source)),
        campaign_id=_campaign_id(pl.col("campaign")),
        sourced_by=_lookup(_SOURCED_BY, pl.col("sourced_by")),
        segment=pl.when((pl.col("team") == 0) | big)
        .then(pl.lit("Enterprise"))
        .otherwise(pl.lit("Mid-Market")),
    )


def _stage_history(history: pl.DataFrame, win: _Window) -> pl.DataFrame:
    return history.select(
        opp_id=_opp_id(pl.col("opp")),
        stage=_lookup(STAGE_NAMES, pl.col("stage")),
        entered_at=_ts(pl.col("at"), win.origin),
        amount="amount",
        close_date=_day(pl.col("close_day"), win.origin),
        forecast_category=_lookup(STAGE_CATEGORY, pl.col("stage")),
    )


# --- forecasts and quotas ----------------------------------------------------------------


def _actuals(final: pl.DataFrame, opps: dict, win: _Window) -> pl.DataFrame:
    """Closed-won amount per quarter and team, from the simulation's full future."""
    quarter = win.quarter_of(final["close_day"].to_numpy().astype(float))
    nq = len(win.names)
    won = final.with_columns(q=pl.Series(quarter), team=pl.Series(opps["team"])).filter(
        pl.col("stage") == 5, pl.col("q") < nq
    )
    grid = pl.DataFrame({"q": np.repeat(np.arange(nq), 4), "team": np.tile(np.arange(4), nq)})
    return (
        grid.join(
            won.group_by("q", "team").agg(actual=pl.col("amount").sum()),
            on=["q", "team"],
            how="left",
        )
        .select(
            period=_lookup(win.names, pl.col("q")),
            team=_lookup(SALES_TEAMS, pl.col("team")),
            actual=pl.col("actual").fill_null(0.0),
        )
        .sort("period", "team")
    )


def _mondays(win: _Window) -> pl.DataFrame:
    """Every Monday of every quarter, with its week of the quarter."""
    nq = len(win.names)
    quarters = pl.DataFrame(
        {
            "period": win.names,
            "start": [win.start_date(q) for q in range(nq)],
            "end": [win.start_date(q + 1) for q in range(nq)],
        }
    )
    return (
        quarters.with_columns(day=pl.date_ranges("start", "end", "1d", closed="left"))
        .explode("day")
        .filter(pl.col("day").dt.weekday() == 1)
        .with_columns(week=(pl.col("day") - pl.col("start")).dt.total_days() // 7 + 1)
        .select("period", "day", "week")
    )


def _commit_ratio() -> pl.Expr:
    """Planted forecast bias (pattern 3): commit as a multiple of the quarter's actual."""
    team, week = pl.col("team"), pl.col("week")
    mid_market = pl.when(week <= 10).then(1.30).when(week == 11).then(1.15).otherwise(1.0)
    return (
        pl.when(team == "APAC")
        .then(0.75)
        .when(team == "NA Mid-Market")
        .then(mid_market)
        .otherwise(1.0)
    )


def _forecasts(seed: int, win: _Window, actuals: pl.DataFrame) -> pl.DataFrame:
    """Every Monday's submission of every quarter (`_cut` drops those after the as-of date)."""
    grid = _mondays(win).join(actuals, on="period").sort("period", "team", "day")
    rows = dict(grid.group_by("period").len().iter_rows())
    u = np.concatenate(
        [
            _rng(seed, q, _FORECASTS).uniform(-1.0, 1.0, (3, rows[name]))
            for q, name in enumerate(win.names)
        ],
        axis=1,
    )
    spread = pl.when(pl.col("team").is_in(["APAC", "NA Mid-Market"])).then(0.03).otherwise(0.06)
    commit = pl.col("actual") * _commit_ratio() * (1 + spread * pl.Series(u[0]))
    return (
        grid.with_columns(commit=commit)
        .with_columns(
            best_case=pl.col("commit") * (1.2 + 0.05 * pl.Series(u[1])),
            pipeline=pl.col("commit") * (2.1 + 0.2 * pl.Series(u[2])),
        )
        .unpivot(
            index=["period", "team", "day"],
            on=["commit", "best_case", "pipeline"],
            variable_name="category",
            value_name="amount",
        )
        .select(
            "period",
            "team",
            owner_id=pl.col("team").replace_strict(_MANAGERS),
            submitted_at=pl.col("day").cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
            + pl.duration(hours=15),
            category="category",
            amount=(pl.col("amount") / 1000).round() * 1000,
        )
    )


# Reps who submit their own forecast (pattern 7): three AEs of "EMEA" and of "NA Enterprise",
# each with the share of the team's call their own numbers come to; the last one listed stops
# submitting after week `_LAPSE_WEEK`.
_OWNER_SHARES = (0.40, 0.30, 0.20)
_LAPSE_WEEK = 4
_SUBMITTING_AES = tuple(
    (team, r[0], share, i == len(_OWNER_SHARES) - 1)
    for team in ("EMEA", "NA Enterprise")
    for i, (r, share) in enumerate(
        zip([a for a in _AES if a[1] == team][: len(_OWNER_SHARES)], _OWNER_SHARES, strict=True)
    )
)


def _owner_forecasts(seed: int, win: _Window, managers: pl.DataFrame) -> pl.DataFrame:
    """Reps' own submissions, an hour before their manager's each Monday (pattern 7): each
    = the manager's call × the rep's share × (1 ± 5 %), so the manager adds ≈ 10 % on top."""
    reps = pl.DataFrame(_SUBMITTING_AES, schema=["team", "rep", "share", "lapses"], orient="row")
    week = (pl.col("submitted_at").dt.date() - pl.col("start")).dt.total_days() // 7 + 1
    starts = pl.DataFrame(
        {"period": win.names, "start": [win.start_date(q) for q in range(len(win.names))]}
    )
    rows = (
        managers.join(reps, on="team")
        .join(starts, on="period")
        .filter(~pl.col("lapses") | (week <= _LAPSE_WEEK))
        .sort("period", "team", "rep", "submitted_at", "category")
    )
    per_quarter = dict(rows.group_by("period").len().iter_rows())
    noise = np.concatenate(
        [
            _rng(seed, q, _OWNER_FORECASTS).uniform(-0.05, 0.05, per_quarter.get(name, 0))
            for q, name in enumerate(win.names)
        ]
    )
    return rows.select(
        "period",
        "team",
        owner_id="rep",
        submitted_at=pl.col("submitted_at") - pl.duration(hours=1),
        category="category",
        amount=(pl.col("amount") * pl.col("share") * (1 + pl.Series(noise)) / 1000).round() * 1000,
    )


def _quotas(seed: int, win: _Window, actuals: pl.DataFrame) -> pl.DataFrame:
    """One team quota per quarter; `actuals` is sorted by period and team."""
    per_quarter = [
        _rng(seed, q, _QUOTAS).uniform(0.95, 1.25, len(SALES_TEAMS)) for q in range(len(win.names))
    ]
    factor = pl.Series(np.concatenate(per_quarter))
    return actuals.select(
        "period",
        "team",
        owner_id=pl.lit(None, pl.String),
        amount=(pl.col("actual") * factor / 10_000).round() * 10_000,
    )


# --- assembly ----------------------------------------------------------------------------

_GRAINS = {
    "users": ("user_id",),
    "stages": ("position",),
    "opportunities": ("opp_id",),
    "stage_history": ("opp_id", "entered_at"),
    "leads": ("lead_id",),
    "lead_history": ("lead_id", "entered_at"),
    "campaigns": ("campaign_id",),
    "campaign_members": ("campaign_id", "lead_id"),
    "forecasts": ("period", "team", "owner_id", "submitted_at", "category"),
    "quotas": ("period", "team", "owner_id"),
}


def _finish(name: str, frame: pl.DataFrame, *, sort: bool = True) -> pl.DataFrame:
    """Cast to the canonical dtypes, order the columns, sort by the grain."""
    schema = TABLES[name].polars_schema
    frame = conform(name, frame.cast({c: schema[c] for c in frame.columns if c in schema}))
    return frame.sort(_GRAINS[name], nulls_last=True) if sort else frame


def _history(win: _Window, seed: int, scale: float) -> dict[str, pl.DataFrame]:
    """The whole simulated history of the window's quarters, future events included."""
    sims, blocks, responses = [], [], []
    first = 0
    for q in range(len(win.names)):
        rng = _rng(seed, q, _LEADS)
        sim = _simulate_leads(rng, win, q, scale)
        sim["lead"] = first + np.arange(len(sim["created"]))
        first += len(sim["created"])
        responses.append(_campaign_responses(rng, sim, win))
        blocks.append(_opp_block(_rng(seed, q, _OPPS), sim, win, q, scale))
        sims.append(sim)
    sim = {k: np.concatenate([s[k] for s in sims]) for k in sims[0]}
    opps, events = _number_deals(blocks)
    lives = _deal_lives(events)
    final = _last_per_opp(lives)
    actuals = _actuals(final, opps, win)
    managers = _forecasts(seed, win, actuals)
    lead_frame = _lead_frame(sim)
    opp_of_lead = pl.DataFrame({"lead": opps["lead"], "opp": np.arange(len(opps["lead"]))})
    opp_of_lead = opp_of_lead.filter(pl.col("lead") >= 0).select(
        "lead", opp_id=_opp_id(pl.col("opp"))
    )
    frames = {
        "users": _users(),
        "stages": DEMO_STAGES,
        "opportunities": _opportunities(opps, final, win),
        "stage_history": _stage_history(lives, win),
        "leads": _leads(lead_frame, opp_of_lead, win),
        "lead_history": _lead_history(lead_frame, win),
        "campaigns": _campaigns(seed, win, scale),
        "campaign_members": _campaign_members(pl.concat(responses), win),
        "forecasts": pl.concat([managers, _owner_forecasts(seed, win, managers)]),
        "quotas": _quotas(seed, win, actuals),
    }
    return {name: _finish(name, frames[name]) for name in TABLES}


_STATE = ("stage", "amount", "close_date", "forecast_category")
_LEAD_STEPS = (
    "mql_at",
    "sal_at",
    "sql_at",
    "converted_at",
    "disqualified_at",
    "first_touch_at",
)


def _last_rows(history: pl.DataFrame, key: str) -> pl.DataFrame:
    """Each record's last row of a history sorted by (key, entered_at)."""
    return history.filter((pl.col(key) != pl.col(key).shift(-1)).fill_null(True))


def cut_at(frames: dict[str, pl.DataFrame], as_of: date) -> dict[str, pl.DataFrame]:
    """The org as a snapshot taken at the end of `as_of` (UTC) shows it: records and history
    rows from later are dropped, each deal carries its values at that instant (its last
    history row by then), each lead its steps reached by then and the status and owner of its
    last status change; campaigns started, responses and forecasts submitted by then; quotas
    of the quarters begun by then. Cutting a later snapshot gives the earlier one.

    `frames` are the demo's tables sorted by their grain (as `generate_demo_org` returns
    them); every record has a first history row at its creation."""
    end = datetime.combine(as_of + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    history = frames["stage_history"].filter(pl.col("entered_at") < end)
    opps = frames["opportunities"].filter(pl.col("created_at") < end)
    state = _last_rows(history, "opp_id")
    stages = frames["stages"]
    opps = opps.drop(*_STATE, "is_closed", "is_won").hstack(state.select(_STATE))
    opps = opps.with_columns(
        pl.col("stage").replace_strict(stages["stage"], stages[flag]).alias(flag)
        for flag in ("is_closed", "is_won")
    )
    lead_history = frames["lead_history"].filter(pl.col("entered_at") < end)
    leads = frames["leads"].filter(pl.col("created_at") < end)
    status = _last_rows(lead_history, "lead_id")
    leads = (
        leads.drop("status", "owner_id")
        .hstack(status.select("status", "owner_id"))
        .with_columns(pl.when(pl.col(c) < end).then(c).alias(c) for c in _LEAD_STEPS)
        .with_columns(
            converted_opp_id=pl.when(pl.col("converted_at").is_not_null()).then("converted_opp_id")
        )
    )
    if not (state["opp_id"].equals(opps["opp_id"]) and status["lead_id"].equals(leads["lead_id"])):
        raise ValueError("cut_at needs the demo's tables sorted by their grain")
    quarter = pl.col("period")
    quarter_start = pl.date(
        quarter.str.slice(0, 4).cast(pl.Int32), quarter.str.slice(6, 1).cast(pl.Int32) * 3 - 2, 1
    )
    cut = {
        "users": frames["users"],
        "stages": stages,
        "opportunities": opps,
        "stage_history": history,
        "leads": leads,
        "lead_history": lead_history,
        "campaigns": frames["campaigns"].filter(pl.col("start_date") <= as_of),
        "campaign_members": frames["campaign_members"].filter(pl.col("responded_at") < end),
        "forecasts": frames["forecasts"].filter(pl.col("submitted_at") < end),
        "quotas": frames["quotas"].filter(quarter_start <= as_of),
    }
    # filters and row-aligned stacking keep each table in the order of its grain
    return {name: _finish(name, cut[name], sort=False) for name in TABLES}


def generate_demo_org(
    *, as_of: date, seed: int = 7, quarters: int = 8, scale: float = 1.0
) -> dict[str, pl.DataFrame]:
    """All ten canonical tables of the demo org as a snapshot taken at the end of `as_of`
    (UTC) shows them: the one history of (`seed`, `quarters`, `scale`), cut there (see the
    module doc)."""
    if quarters < 1 or scale <= 0:
        raise ValueError("quarters must be >= 1 and scale > 0")
    origin = go_live(quarters)
    if as_of < origin:
        raise ValueError(
            f"as_of {as_of} is before the demo org's go-live {origin} ({quarters} quarters up to "
            f"2026-Q4); use a later as_of or more quarters"
        )
    win = _window(origin, as_of)
    return cut_at(_history(win, seed, scale), as_of)
