"""The scorecard's building blocks: signals, their normalization, drivers and pillar scores.

A **signal** is one metric value feeding a pillar (e.g. follow-up SLA compliance 0.81). Its
**scale** maps the value linearly onto 0–100: the `worst` value scores 0, the `best` scores
100, values beyond are clipped. A pillar's score is the weighted mean of its *measured*
signals' scores. A signal whose inputs the data lacks is **not measured**: it carries the
reason, has no value and no score, and is left out of its pillar; a pillar with no measured
signal is not measured either, and the overall score says how many pillars it covers. A
**driver** is a finding in plain words that explains a pillar's score, ranked by `severity`
(0–1, higher is worse).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from model.formats import fmt_money_compact, fmt_percent
from scoring.definitions import QUESTIONS

MEASURED = "measured"
NOT_MEASURED = "not measured"
# The overall score is shown only when at least this many pillars are measured: one pillar
# alone is that pillar's score, not an alignment score.
MIN_PILLARS_FOR_OVERALL = 2

PILLARS = {
    "shared_outcomes": "Shared outcomes",
    "shared_data": "Shared metrics & data",
    "handoff_ownership": "Handoff ownership",
    "forecast_integrity": "Forecast integrity",
}


@dataclass(frozen=True)
class Scale:
    """Linear normalization: `worst` scores 0, `best` scores 100 (either order), clipped."""

    worst: float
    best: float

    def __post_init__(self) -> None:
        if self.worst == self.best:
            raise ValueError("a scale needs two different end points")

    def score(self, value: float | None) -> float | None:
        if value is None or math.isnan(value):
            return None
        share = (value - self.worst) / (self.best - self.worst)
        return round(100.0 * min(max(share, 0.0), 1.0), 1)


@dataclass(frozen=True)
class Signal:
    """One metric value feeding a pillar, with how it is normalized.

    `status` is "measured" or "not measured" (then `reason` says which input the data lacks,
    and there is no value nor score). A rate carries the counts (or amounts) it is made of:
    `value` = `numerator` / `denominator`.
    """

    id: str
    pillar: str
    label: str
    definition_id: str
    value: float | None
    unit: str
    scale: Scale
    weight: float = 1.0
    page: str = ""
    status: str = MEASURED
    reason: str = ""
    numerator: float | None = None
    denominator: float | None = None
    # The score as stored (`from_dict`): the stored value is rounded, so scaling it again
    # could move the score by a tenth.
    stored_score: float | None = field(default=None, compare=False, repr=False)

    @property
    def measured(self) -> bool:
        return self.status == MEASURED

    @property
    def score(self) -> float | None:
        if not self.measured:
            return None
        return self.stored_score if self.stored_score is not None else self.scale.score(self.value)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label,
            "definition_id": self.definition_id,
            "status": self.status,
            "reason": self.reason,
            "value": _round(self.value) if self.measured else None,
            "numerator": _round(self.numerator),
            "denominator": _round(self.denominator),
            "unit": self.unit,
            "score": self.score,
            "weight": self.weight,
            "scale": {"worst": self.scale.worst, "best": self.scale.best},
            "page": self.page,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], pillar: str) -> Signal:
        """The signal `to_dict` described (of pillar `pillar`)."""
        return cls(
            id=d["id"], pillar=pillar, label=d["label"], definition_id=d["definition_id"],
            value=d["value"], unit=d["unit"], scale=Scale(**d["scale"]), weight=d["weight"],
            page=d.get("page", ""), status=d["status"], reason=d.get("reason", ""),
            numerator=d.get("numerator"), denominator=d.get("denominator"),
            stored_score=d.get("score"),
        )  # fmt: skip


def not_measured(signal: Signal, reason: str) -> Signal:
    """`signal` marked not measured with `reason` (no value, no counts, no score)."""
    return replace(
        signal, status=NOT_MEASURED, reason=reason, value=None, numerator=None, denominator=None
    )


@dataclass(frozen=True)
class Driver:
    """A finding in plain words, e.g. "EMEA: 14 deals stalled in Negotiation …"."""

    pillar: str
    text: str
    severity: float
    definition_id: str
    subject: str
    page: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "pillar": self.pillar,
            "text": self.text,
            "severity": round(self.severity, 3),
            "definition_id": self.definition_id,
            "subject": self.subject,
            "page": self.page,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Driver:
        """The driver `to_dict` described."""
        keys = ("pillar", "text", "severity", "definition_id", "subject")
        return cls(**{k: d[k] for k in keys}, page=d.get("page", ""))


@dataclass(frozen=True)
class PillarScore:
    """One pillar: its score, the signals behind it and its top drivers."""

    id: str
    signals: tuple[Signal, ...]
    drivers: tuple[Driver, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def name(self) -> str:
        return PILLARS[self.id]

    @property
    def question(self) -> str:
        return QUESTIONS[self.id]

    @property
    def score(self) -> float | None:
        """Weighted mean of the measured signals' scores; None when none is measured."""
        scored = [(s.score, s.weight) for s in self.signals if s.score is not None]
        total = sum(w for _, w in scored)
        if not scored or total == 0:
            return None
        return round(sum(v * w for v, w in scored) / total, 1)

    @property
    def status(self) -> str:
        return MEASURED if self.score is not None else NOT_MEASURED

    @property
    def not_measured(self) -> tuple[str, ...]:
        """The signals left out, each as "label: not measured: reason"."""
        return tuple(
            f"{s.label}: {NOT_MEASURED}: {s.reason}" for s in self.signals if not s.measured
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "question": self.question,
            "status": self.status,
            "score": self.score,
            "not_measured": list(self.not_measured),
            "signals": [s.to_dict() for s in self.signals],
            "drivers": [d.to_dict() for d in self.drivers],
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PillarScore:
        """The pillar `to_dict` described."""
        return cls(
            id=d["id"],
            signals=tuple(Signal.from_dict(s, d["id"]) for s in d["signals"]),
            drivers=tuple(Driver.from_dict(x) for x in d["drivers"]),
            notes=tuple(d.get("notes", ())),
        )


def coverage_text(measured: int, total: int) -> str:
    """How many pillars the overall score covers: "3 of 4 pillars"."""
    return f"{measured} of {total} pillars"


def _round(value: float | None) -> float | None:
    if value is None or math.isnan(value):
        return None
    return round(value, 4)


def pct(value: float | None) -> str:
    """A rate as the house writes it (`model.formats.fmt_percent`): 0.183 → "18.3%"."""
    return fmt_percent(value)


def money(value: float | None) -> str:
    """An amount at a glance (`model.formats.fmt_money_compact`): 1234567 → "$1.2M"."""
    return fmt_money_compact(value)
