"""A pandas reference of the scorecard's core signals, written the way dashboard code usually is.

Only `benchmarks/` may use pandas. This module is the "usual alternative" the project is timed
against, so it follows the project's definitions (see `scoring/`) closely enough that the numbers
agree (`tests/test_benchmarks.py` checks them), in idiomatic pandas: `sort_values` + `groupby`
+ `shift`, `merge`, boolean masks. It reads the current opportunity row where the project
replays history (actuals, coverage): for a snapshot taken at `as_of` they agree.

Signals covered (all company-wide, UTC reporting time zone, default `ScoringParams`):

* ``spells``      stage spells and days in stage (count and median days per open stage)
* ``stalled``     stalled deals: current-stage age > p75 of won deals' days in that stage over
                  the trailing four full quarters (fallback 30 days under 5 won deals)
* ``sla``         follow-up SLA on MQLs of the period (met / due)
* ``conversion``  cohort conversion lead → MQL → SAL → SQL → opp → won (cohort, converted)
* ``forecast``    commit forecast at the lock week vs actual: accuracy and bias per team
* ``win_rate``    won / (won + lost) of deals closed in the period, by count
* ``coverage``    open qualified pipeline due in the period / (quota − closed won)
* ``reconcile``   marketing-sourced pipeline: campaign-response count vs `sourced_by` label
"""

from __future__ import annotations

from datetime import date, timedelta
from itertools import pairwise

import numpy as np
import pandas as pd

from model.calendar import Period, period_of, previous, trailing

STEPS = ("lead", "mql", "sal", "sql", "opp", "won")
SIGNALS = (
    "spells", "stalled", "sla", "conversion", "forecast", "win_rate", "coverage", "reconcile",
)  # fmt: skip
SALES_STAGES_FROM = 2  # qualified pipeline starts at stage position 2
SLA_HOURS = 24.0
LOCK_WEEK = 3


def _ts(day: date) -> pd.Timestamp:
    return pd.Timestamp(day, tz="UTC")


def _in(series: pd.Series, period: Period) -> pd.Series:
    return (series >= _ts(period.start)) & (series < _ts(period.end))


def _day_in(series: pd.Series, period: Period) -> pd.Series:
    days = pd.to_datetime(series)
    return (days >= pd.Timestamp(period.start)) & (days < pd.Timestamp(period.end))


def _team_of(t: dict[str, pd.DataFrame], frame: pd.DataFrame) -> pd.Series:
    teams = t["users"].set_index("user_id")["team"]
    return frame["owner_id"].map(teams).fillna("(no team)")


# ---------------------------------------------------------------- stage spells and stalls
def stage_spells(t: dict[str, pd.DataFrame], as_of: date) -> pd.DataFrame:
    """One row per opportunity per stage spell with `days_in_stage` (open spells to as_of)."""
    cutoff = _ts(as_of + timedelta(days=1))
    opps = t["opportunities"][t["opportunities"]["created_at"] < cutoff]
    stages = t["stages"].set_index("stage")
    hist = t["stage_history"].merge(opps[["opp_id", "created_at"]], on="opp_id")
    hist["entered_at"] = hist[["entered_at", "created_at"]].max(axis=1)
    hist["position"] = hist["stage"].map(stages["position"])
    hist = hist.sort_values(["opp_id", "entered_at", "position", "stage"])
    first = hist.groupby("opp_id", sort=False)["stage"].first()
    seed = pd.DataFrame(
        {
            "opp_id": opps["opp_id"],
            "entered_at": opps["created_at"],
            "src": 0,
            "stage": opps["opp_id"].map(first).fillna(opps["stage"]),
        }
    )
    rows = hist[hist["entered_at"] < cutoff][["opp_id", "stage", "entered_at"]].assign(src=1)
    ev = pd.concat([seed, rows], ignore_index=True)
    ev["position"] = ev["stage"].map(stages["position"])
    ev = ev.sort_values(["opp_id", "entered_at", "src", "position", "stage"], kind="stable")
    new = (ev["opp_id"] != ev["opp_id"].shift()) | (ev["stage"] != ev["stage"].shift())
    sp = ev[new].copy()
    same = sp["opp_id"] == sp["opp_id"].shift(-1)
    sp["left_at"] = sp["entered_at"].shift(-1).where(same)
    sp["is_closed_stage"] = sp["stage"].map(stages["is_closed"]).astype(bool)
    end = sp["left_at"].fillna(sp["entered_at"].where(sp["is_closed_stage"], cutoff))
    sp["days_in_stage"] = (end - sp["entered_at"]).dt.total_seconds() / 86400
    sp["is_current"] = ~same
    sp["is_open_deal"] = ~sp.groupby("opp_id", sort=False)["is_closed_stage"].transform("last")
    return sp.reset_index(drop=True)


def days_in_stage(spells: pd.DataFrame) -> pd.DataFrame:
    """Per open stage: spell count and median days (current spells counted with their age)."""
    rows = spells[~spells["is_closed_stage"] & spells["days_in_stage"].notna()]
    return rows.groupby("stage")["days_in_stage"].agg(n="size", median_days="median")


def stalled_deals(t: dict[str, pd.DataFrame], spells: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Open deals whose current-stage age exceeds the stage's threshold."""
    current = period_of(as_of)
    window = trailing(previous(current), 4)
    opps = t["opportunities"]
    won = opps[
        opps["is_won"] & _day_in(opps["close_date"], Period(window[0].start, current.start, ""))
    ]
    samples = spells[spells["opp_id"].isin(won["opp_id"]) & ~spells["is_closed_stage"]]
    samples = samples[samples["days_in_stage"].notna()]
    stats = samples.groupby("stage").agg(
        n=("opp_id", "nunique"), q=("days_in_stage", lambda s: s.quantile(0.75))
    )
    threshold = stats["q"].where(stats["n"] >= 5).reindex(t["stages"]["stage"]).fillna(30.0)
    open_now = spells[spells["is_current"] & spells["is_open_deal"]].copy()
    open_now["threshold_days"] = open_now["stage"].map(threshold)
    return open_now[open_now["days_in_stage"] > open_now["threshold_days"]]


# ---------------------------------------------------------------- lead funnel
def funnel_steps(t: dict[str, pd.DataFrame], as_of: date) -> pd.DataFrame:
    """Each lead's step times (reached semantics: a skipped step takes the next one's time)."""
    cutoff = _ts(as_of + timedelta(days=1))
    leads = t["leads"][t["leads"]["created_at"] < cutoff].copy()
    opps = t["opportunities"].set_index("opp_id")
    won_day = opps["close_date"].where(
        opps["is_won"] & (pd.to_datetime(opps["close_date"]) <= pd.Timestamp(as_of))
    )
    steps = pd.DataFrame({"lead_id": leads["lead_id"], "lead_at": leads["created_at"]})
    for s in ("mql", "sal", "sql"):
        steps[f"{s}_at"] = leads[f"{s}_at"].where(leads[f"{s}_at"] < cutoff)
    opp_at = leads["converted_at"].fillna(leads["converted_opp_id"].map(opps["created_at"]))
    steps["opp_at"] = opp_at.where(leads["converted_opp_id"].notna() & (opp_at < cutoff))
    steps["won_at"] = pd.to_datetime(leads["converted_opp_id"].map(won_day)).dt.tz_localize("UTC")
    for i in range(len(STEPS) - 2, 0, -1):  # back-fill from the next step, last to first
        step, nxt = STEPS[i], STEPS[i + 1]
        steps[f"inferred_{step}"] = steps[f"{step}_at"].isna() & steps[f"{nxt}_at"].notna()
        steps[f"{step}_at"] = steps[f"{step}_at"].fillna(steps[f"{nxt}_at"])
    steps["first_touch_at"] = leads["first_touch_at"].where(leads["first_touch_at"] < cutoff)
    return steps


def conversion(steps: pd.DataFrame, period: Period) -> pd.DataFrame:
    """Of the leads reaching step X in the period, how many reached X+1 (cohort, converted)."""
    out = []
    # A lead without a recorded MQL is not an MQL (the other steps keep reached semantics).
    at = {s: steps[f"{s}_at"] for s in STEPS}
    at["mql"] = steps["mql_at"].where(~steps["inferred_mql"])
    for a, b in pairwise(STEPS):
        in_cohort = _in(at[a], period)
        out.append(
            {
                "from_step": a,
                "cohort": int(in_cohort.sum()),
                "converted": int((in_cohort & at[b].notna()).sum()),
            }
        )
    return pd.DataFrame(out).set_index("from_step")


def follow_up_sla(steps: pd.DataFrame, period: Period, as_of: date) -> dict[str, float]:
    """Share of the period's due MQLs touched or accepted within the SLA hours."""
    cutoff = _ts(as_of + timedelta(days=1))
    mqls = steps[_in(steps["mql_at"], period) & ~steps["inferred_mql"]]
    # Only recorded touches: a back-filled SAL (a later step's time) is not one.
    recorded_sal = mqls["sal_at"].where(~mqls["inferred_sal"])
    touch = pd.concat([mqls["first_touch_at"], recorded_sal], axis=1).min(axis=1)
    hours = ((touch - mqls["mql_at"]).dt.total_seconds() / 3600).clip(lower=0)
    met = hours <= SLA_HOURS
    pending = touch.isna() & (mqls["mql_at"] + pd.Timedelta(hours=SLA_HOURS) >= cutoff)
    due = len(mqls) - int((pending & ~met).sum())
    return {"mqls": len(mqls), "met": int(met.sum()), "due": due,
            "sla_compliance": met.sum() / due if due else np.nan}  # fmt: skip


# ---------------------------------------------------------------- forecast and pipeline
def forecast_accuracy(t: dict[str, pd.DataFrame], period: Period, as_of: date) -> pd.DataFrame:
    """Per team: the commit forecast standing at the end of the lock week vs closed won."""
    f = t["forecasts"]
    f = f[(f["period"] == period.name) & (f["category"] == "commit")].copy()
    f = f[f["submitted_at"] < _ts(as_of + timedelta(days=1))]
    f["week"] = (
        f["submitted_at"].dt.tz_localize(None).dt.normalize() - pd.Timestamp(period.start)
    ).dt.days // 7 + 1
    # A team's call: no owner, or the team's manager; else the sum of its reps' own calls.
    users = t["users"]
    managers = users.loc[users["manager_id"].notna(), ["manager_id", "team"]].drop_duplicates()
    managers = managers.rename(columns={"manager_id": "owner_id"}).assign(manages=True)
    f = f.merge(managers, on=["owner_id", "team"], how="left")
    team_level = f["owner_id"].isna() | f["manages"].eq(True)
    f["submitter"] = f["owner_id"].where(~team_level, "(team)")
    f = f[f["week"] <= LOCK_WEEK].sort_values(["submitted_at", "amount"])
    latest = f.groupby(["team", "submitter"]).tail(1)
    is_call = latest["submitter"].eq("(team)")
    has_call = is_call.groupby(latest["team"]).transform("any")
    lock = latest[is_call | ~has_call].groupby("team")["amount"].sum()
    opps = t["opportunities"]
    won = opps[opps["is_won"] & _day_in(opps["close_date"], period)]
    actual = won.groupby(_team_of(t, won))["amount"].sum().reindex(lock.index).fillna(0.0)
    out = pd.DataFrame({"forecast": lock, "actual": actual})
    den = out["actual"].where(out["actual"] > 0)
    out["accuracy"] = 1 - (out["forecast"] - out["actual"]).abs() / den
    out["bias"] = (out["forecast"] - out["actual"]) / den
    return out


def _with_all(frame: pd.DataFrame, t: dict[str, pd.DataFrame]) -> pd.DataFrame:
    frame = frame.assign(team=_team_of(t, frame))
    return pd.concat([frame, frame.assign(team="All teams")])


def win_rate(t: dict[str, pd.DataFrame], period: Period) -> pd.Series:
    """Per team: won / (won + lost) of the deals closed in the period."""
    opps = t["opportunities"]
    closed = _with_all(opps[opps["is_closed"] & _day_in(opps["close_date"], period)], t)
    g = closed.groupby("team")["is_won"]
    return g.sum() / g.size()


def coverage(t: dict[str, pd.DataFrame], period: Period) -> pd.DataFrame:
    """Per team: open qualified pipeline due in the period / max(quota − won so far, 0)."""
    opps = t["opportunities"].copy()
    opps["position"] = opps["stage"].map(t["stages"].set_index("stage")["position"])
    opps = _with_all(opps, t)
    due = _day_in(opps["close_date"], period)
    amount = opps["amount"].fillna(0.0)
    open_q = amount.where(~opps["is_closed"] & (opps["position"] >= SALES_STAGES_FROM) & due, 0.0)
    won = amount.where(opps["is_won"] & due, 0.0)
    out = pd.DataFrame({"team": opps["team"], "open": open_q, "won": won}).groupby("team").sum()
    q = t["quotas"]
    q = q[(q["period"] == period.name) & q["owner_id"].isna()].groupby("team")["amount"].sum()
    out["quota"] = pd.concat([q, pd.Series({"All teams": q.sum()})])
    remaining = (out["quota"] - out["won"]).clip(lower=0)
    out["coverage"] = out["open"] / remaining.where(remaining > 0)
    return out


def marketing_sourced(t: dict[str, pd.DataFrame], period: Period, as_of: date) -> dict[str, float]:
    """Opportunities created in the period: marketing's count (converting lead responded to a
    campaign by conversion) vs sales' count (`sourced_by == "marketing"`), and the gap."""
    opps = t["opportunities"]
    day = opps["created_at"].dt.tz_localize(None).dt.normalize()
    created = opps[_in(opps["created_at"], period) & (day <= pd.Timestamp(as_of))]
    leads = t["leads"][t["leads"]["converted_opp_id"].notna()]
    touch = leads.merge(t["campaign_members"][["lead_id", "responded_at"]], on="lead_id")
    touch = touch.merge(created[["opp_id", "created_at"]], left_on="converted_opp_id",
                        right_on="opp_id", suffixes=("_lead", ""))  # fmt: skip
    in_time = touch["responded_at"].isna() | (
        touch["responded_at"] <= touch["converted_at"].fillna(touch["created_at"])
    )
    mkt = created["opp_id"].isin(touch.loc[in_time, "opp_id"])
    sales = created["sourced_by"].astype("string").eq("marketing").fillna(False)
    amount = created["amount"].fillna(0.0)
    return {
        "marketing_count": int(mkt.sum()),
        "sales_count": int(sales.sum()),
        "marketing_amount": float(amount[mkt].sum()),
        "sales_amount": float(amount[sales].sum()),
        "disagreeing": int((mkt != sales).sum()),
    }


# ---------------------------------------------------------------- the whole reference
def to_pandas(frames: dict) -> dict[str, pd.DataFrame]:
    """Polars canonical frames as pandas frames (Enums become pandas categoricals)."""
    return {name: frame.to_pandas() for name, frame in frames.items()}


def compute_all(t: dict[str, pd.DataFrame], *, as_of: date, period: Period) -> dict[str, object]:
    """Every covered signal for `period` (forecast for the latest complete quarter: as of a
    day means its end, so a quarter ending on `as_of` is complete)."""
    judged = period if period.end <= as_of + timedelta(days=1) else previous(period)
    spells = stage_spells(t, as_of)
    steps = funnel_steps(t, as_of)
    return {
        "spells": days_in_stage(spells),
        "stalled": stalled_deals(t, spells, as_of),
        "sla": follow_up_sla(steps, period, as_of),
        "conversion": conversion(steps, period),
        "forecast": forecast_accuracy(t, judged, as_of),
        "win_rate": win_rate(t, period),
        "coverage": coverage(t, period),
        "reconcile": marketing_sourced(t, period, as_of),
    }


def project_all(tables: object, *, as_of: date, period: Period) -> dict[str, object]:
    """The same signals from the project's `scoring` functions (polars), for comparison."""
    from model.params import ScoringParams
    from scoring import forecast, funnel, pipeline, reconcile, stages

    p = ScoringParams()
    judged = p.calendar.judged(period, as_of)
    spells = stages.stage_spells(tables, as_of=as_of)
    return {
        "spells": stages.days_in_stage_distribution(spells, by=("stage",)),
        "stalled": stages.stalled_deals(tables, as_of=as_of, params=p.stall),
        "sla": funnel.follow_up_sla(tables, period=period, as_of=as_of, params=p.funnel, by=()),
        "conversion": funnel.conversion(tables, period=period, as_of=as_of),
        "forecast": forecast.forecast_accuracy(
            tables, periods=[judged], as_of=as_of, params=p.forecast
        ),
        "win_rate": pipeline.win_rate(tables, period=period),
        "coverage": pipeline.coverage(tables, period=period, as_of=as_of, params=p.pipeline),
        "reconcile": reconcile.marketing_sourced_pipeline(
            tables, period=period, as_of=as_of, params=p
        ).summary,
    }
