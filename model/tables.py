"""The bundle of canonical tables a scoring run reads."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field

import narwhals as nw
import polars as pl

from model.engine import POLARS, Engine
from model.graph import STORED, Node, get, sorted_by
from model.schema import TABLES, conform


@dataclass(frozen=True)
class Tables:
    """Canonical tables as lazy frames, full schema each.

    A table the source lacks is present as an empty frame and listed in `missing`,
    so metrics that need it can say "not available" instead of crashing.
    """

    frames: Mapping[str, pl.LazyFrame]
    missing: frozenset[str] = frozenset()
    # Tables the source did not hold but the connector built from others (e.g. a stage
    # history of one row per deal made from its current stage), with how: a metric that
    # needs the real records says "not measured" instead of reading a reconstruction.
    provenance: Mapping[str, str] = field(default_factory=dict)
    # A bundle filtered to some teams (`scorecard.filter_teams`) keeps the whole-company
    # bundle it came from: baselines (stall thresholds, company medians and shares, lookups
    # of records in other teams) are read from there, so a team's view judges the team
    # against the company, not against itself. None for the company bundle.
    baseline: Tables | None = field(default=None, compare=False, repr=False)
    team_scope: tuple[str, ...] = ()  # the teams a filtered bundle keeps (empty: all)
    # Where the graph's nodes written for every engine are built (`model.engine`): polars in
    # this process by default; DuckDB, Spark or a warehouse when configured (`ops/engines.py`).
    engine: Engine = field(default=POLARS, compare=False, repr=False)
    # Results of the derivation graph's nodes (`model.graph`), derived once per bundle and
    # key: the newest `MAX_DERIVED` of them, those given to `seed` (stored with the snapshot)
    # and those of nodes every view reads (`keep`), with how each was obtained (`origin`).
    _derived: OrderedDict[Hashable, pl.DataFrame] = field(
        default_factory=OrderedDict, compare=False, repr=False
    )
    _seeded: dict[Hashable, pl.DataFrame] = field(default_factory=dict, compare=False, repr=False)
    _origins: dict[Hashable, str] = field(default_factory=dict, compare=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    def __getattr__(self, name: str) -> pl.LazyFrame:
        frames = object.__getattribute__(self, "frames")
        if name in frames:
            return frames[name]
        raise AttributeError(name)

    @property
    def company(self) -> Tables:
        """The whole-company bundle: this one, or the one it was filtered from."""
        return self if self.baseline is None else self.baseline

    def has(self, *names: str) -> bool:
        return not (set(names) & self.missing)

    def is_derived(self, name: str) -> bool:
        """True when table `name` was reconstructed by the connector, not read from the source."""
        return name in self.provenance

    def derived(
        self,
        key: Hashable,
        build: Callable[[], tuple[str, pl.LazyFrame]],
        *,
        keep: bool = False,
    ) -> pl.LazyFrame:
        """The result held under `key`, or `build()`'s (how it was obtained, and the frame)
        collected once and held (the tables never change). Called by `model.graph.get`,
        which derives the key from the node. Holds the newest `MAX_DERIVED` results, every
        result given to `seed`, and every result built with `keep`."""
        with self._lock:
            if key in self._seeded:
                return self._seeded[key].lazy()
            if key in self._derived:
                self._derived.move_to_end(key)
                return self._derived[key].lazy()
        how, lazy = build()
        frame = lazy.collect(engine=ENGINE)
        with self._lock:
            self._origins[key] = how
            if keep:
                self._seeded[key] = frame
            else:
                self._derived[key] = frame
                while len(self._derived) > MAX_DERIVED:
                    self._derived.popitem(last=False)
        return frame.lazy()

    def holds(self, key: Hashable) -> bool:
        """True when the bundle holds the result under `key` (stored or derived)."""
        with self._lock:
            return key in self._seeded or key in self._derived

    def origins(self) -> dict[Hashable, str]:
        """How each result the bundle derived or was given was obtained, by key."""
        with self._lock:
            return dict(self._origins)

    def origin(self, key: Hashable) -> str | None:
        """How the result under `key` was obtained (`model.graph`: stored with the snapshot,
        cut from the company's, clipped from a later as-of day, built), or None."""
        with self._lock:
            return self._origins.get(key)

    def seed(self, key: Hashable, frame: pl.DataFrame) -> None:
        """Give the bundle a result derived elsewhere (stored with the snapshot at refresh
        time): `derived(key, …)` returns it as is."""
        with self._lock:
            self._seeded[key] = frame
            self._origins[key] = STORED

    def fresh(self) -> Tables:
        """The same tables and seeded intermediates, with nothing derived yet (benchmarks)."""
        return self._with_frames(self.frames)

    def materialized(self) -> Tables:
        """The same bundle with each lazy frame collected once (so a filtered bundle's
        filters run once, not in every metric), keeping its seeded intermediates."""
        return self._with_frames(
            {k: v.collect(engine=ENGINE).lazy() for k, v in self.frames.items()}
        )

    def on(self, engine: Engine, *, unless_stored: frozenset[str] = frozenset()) -> Tables:
        """The same tables and seeded intermediates, with nodes built on `engine`; the
        results seeded for nodes named in `unless_stored` are dropped, so they are built
        there rather than read back from the snapshot."""
        out = self._with_frames(self.frames, engine=engine)
        with out._lock:
            for key in [k for k in out._seeded if isinstance(k, tuple) and k[0] in unless_stored]:
                del out._seeded[key]
                out._origins.pop(key, None)
        return out

    def _with_frames(
        self, frames: Mapping[str, pl.LazyFrame], engine: Engine | None = None
    ) -> Tables:
        out = Tables(
            frames=frames,
            missing=self.missing,
            provenance=self.provenance,
            baseline=self.baseline,
            team_scope=self.team_scope,
            engine=self.engine if engine is None else engine,
        )
        with self._lock:
            out._seeded.update(self._seeded)
            out._origins.update({k: v for k, v in self._origins.items() if k in self._seeded})
        return out

    def derivations(self, kind: str) -> dict[Hashable, pl.DataFrame]:
        """The intermediates of one kind (a key's first element) derived or seeded so far."""
        with self._lock:
            every = {**self._derived, **self._seeded}
        return {k: v for k, v in every.items() if isinstance(k, tuple) and k and k[0] == kind}

    @classmethod
    def from_frames(
        cls,
        frames: Mapping[str, pl.DataFrame | pl.LazyFrame],
        provenance: Mapping[str, str] | None = None,
    ) -> Tables:
        """Bundle frames by table name; absent tables become empty and are marked missing;
        `provenance` names the tables the connector derived (see `derived_provenance`)."""
        out: dict[str, pl.LazyFrame] = {}
        missing: set[str] = set()
        for name, schema in TABLES.items():
            frame = frames.get(name)
            if frame is None:
                out[name] = schema.empty().lazy()
                missing.add(name)
            else:
                df = frame.collect(engine=ENGINE) if isinstance(frame, pl.LazyFrame) else frame
                out[name] = conform(name, df).lazy()
        kept = {k: v for k, v in (provenance or {}).items() if k in out and k not in missing}
        return cls(frames=out, missing=frozenset(missing), provenance=kept)


def derived_provenance(origin: Mapping[str, str] | None) -> dict[str, str]:
    """The tables a connector's `origin` notes say it derived (notes starting "derived")."""
    return {k: v for k, v in (origin or {}).items() if str(v).lower().startswith("derived")}


MAX_DERIVED = 16
# Measured on this project's queries (benchmarks/): polars 2.1's default streaming engine is
# 2–3× slower than the in-memory one for these join- and sort-heavy frames that fit in memory.
ENGINE = "in-memory"

UNASSIGNED_TEAM = "(no team)"
ALL_TEAMS = "All teams"  # the label of company-wide rows in per-team results


def missing_message(tables: Tables, metric: str, needs: Sequence[str]) -> str | None:
    """Why `metric` is empty ("… not available: … no 'lead_history' table"), or None."""
    missing = sorted(set(needs) & tables.missing)
    if not missing:
        return None
    names = ", ".join(f"'{m}'" for m in missing)
    return f"{metric} is not available: the data source provides no {names} table."


def collect_available(frame: pl.LazyFrame, tables: Tables, needs: Sequence[str]) -> pl.DataFrame:
    """Collect `frame`, or only its (empty) schema when a table it needs is missing."""
    return (frame if tables.has(*needs) else frame.clear()).collect(engine=ENGINE)


def left_join_few(left: pl.LazyFrame, right: pl.LazyFrame, on: str) -> pl.LazyFrame:
    """`left.join(right, on=on, how="left")` for a `left` with far fewer rows than `right`.

    Polars builds a left join's hash table on the right side, which costs most when the
    right is a multi-million-row table; a semi join first (built on `left`'s keys) keeps only
    the right rows that can match. Measured at 5M leads: 0.8 s → 0.3 s.
    """
    keys = left.select(on)
    return left.join(right.join(keys, on=on, how="semi"), on=on, how="left")


def opportunities_with_team(tables: Tables) -> pl.LazyFrame:
    """Opportunities with the owner's `team` and the stage's `position` and `owner_function`.

    Deals whose owner is unknown or has no team get team ``(no team)``.
    """
    users = tables.users.select("user_id", pl.col("team").alias("team"))
    stages = tables.stages.select(
        "stage", "position", pl.col("owner_function").alias("stage_owner_function")
    )
    return (
        tables.opportunities.join(users, left_on="owner_id", right_on="user_id", how="left")
        .join(stages, on="stage", how="left")
        .with_columns(pl.col("team").fill_null(UNASSIGNED_TEAM))
    )


def leads_with_team(tables: Tables) -> pl.LazyFrame:
    """Leads with their current owner's `team` (the receiving team) and `owner_function`."""
    users = tables.users.select("user_id", "team", pl.col("function").alias("owner_function"))
    return tables.leads.join(
        users, left_on="owner_id", right_on="user_id", how="left"
    ).with_columns(pl.col("team").fill_null(UNASSIGNED_TEAM))


def lead_teams(tables: Tables) -> pl.LazyFrame:
    """The teams each lead belongs to: one row per (lead_id, team).

    A lead belongs to the team of every owner it had (its current owner and each owner in
    its lead history; a queue counts for the queue's own team in `users`, which the
    connectors map from the queue's name) and to the team of the opportunity it converted
    into: the SDR team sees every lead it worked, a sales team the leads handed to it. A
    lead with none of these (no owner with a team, no deal) belongs to ``(no team)``.

    Read from the whole company (a lead converted into another team's deal still knows that
    team); in a bundle filtered to some teams, only the rows of those teams. Membership does
    not depend on the as-of date, so a lead stays in one team's view whatever the date.
    """
    members = get(tables.company, LEAD_TEAMS)
    if tables.team_scope:
        members = members.filter(pl.col("team").is_in(list(tables.team_scope)))
    return members


def lead_teams_body(
    leads: nw.LazyFrame,
    lead_history: nw.LazyFrame,
    users: nw.LazyFrame,
    opportunities: nw.LazyFrame,
) -> nw.LazyFrame:
    """`lead_teams` on any engine (narwhals): each team that owned the lead (now or in its
    history) or received its converted deal; `(no team)` for a lead with neither."""
    # Each read of `users` under its own key names: SQLFrame names a projection by its
    # expression, so the same select joined twice in one plan confuses its table aliases.
    owners_team = users.select(nw.col("user_id").alias("_owner"), "team").filter(
        ~nw.col("team").is_null()
    )
    deal_owners = users.select(nw.col("user_id").alias("_deal_owner"), nw.col("team").alias("_t"))
    owners = nw.concat(
        [leads.select("lead_id", "owner_id"), lead_history.select("lead_id", "owner_id")]
    )
    owner_teams = owners.join(owners_team, left_on="owner_id", right_on="_owner", how="inner")
    deals = opportunities.join(
        deal_owners, left_on="owner_id", right_on="_deal_owner", how="left"
    ).select(
        nw.col("opp_id").alias("converted_opp_id"),
        nw.col("_t").fill_null(UNASSIGNED_TEAM).alias("team"),
    )
    deal_teams = leads.select("lead_id", "converted_opp_id").join(
        deals, on="converted_opp_id", how="inner"
    )
    known = nw.concat([owner_teams.select("lead_id", "team"), deal_teams.select("lead_id", "team")])
    nobody = leads.select("lead_id", nw.lit(UNASSIGNED_TEAM).alias("team")).join(
        known.select("lead_id"), on="lead_id", how="anti"
    )
    return nw.concat([known, nobody]).unique(["lead_id", "team"])


LEAD_TEAMS = Node(
    name="lead_teams",
    grain="one row per lead per team it belongs to",
    reads=("leads", "lead_history", "users", "opportunities"),
    body=lead_teams_body,
    arrange=sorted_by("lead_id", "team"),
    persist=True,
    keep=True,  # every view of the bundle reads it
    code=("model/tables.py",),
)
