"""The definitions registry: what every metric means, one entry per definition id.

Each scoring module declares its metrics in a module-level ``DEFINITIONS`` tuple; this
module collects them. ``docs/metrics.md`` is generated from the registry
(``python -m ops docs``), and a test keeps the two in step, so the page help text, the
docs and the code can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

QUESTIONS = {
    "shared_outcomes": "Are sales and marketing measured on the same revenue outcomes?",
    "shared_data": "Do they read a shared set of pipeline metrics from one version of the data?",
    "handoff_ownership": "Is ownership of each handoff in the buyer journey clear and kept?",
    "forecast_integrity": "Does bad news surface early, and do decisions hold?",
}


@dataclass(frozen=True)
class MetricDefinition:
    """One metric definition.

    Attributes:
        id: stable definition id, e.g. ``win_rate.count``; variants share the prefix.
        name: the name users say, e.g. "Win rate (by count)".
        formula: the formula in plain notation.
        unit: ``ratio`` (0–1), ``days``, ``hours``, ``currency``, ``count``, ``score``, ``$/day``.
        grain: what one result row is, e.g. "team × period".
        date_anchor: which date puts a record in a period.
        good: what good looks like.
        question: key of `QUESTIONS` it answers.
        owner_team: the function that owns the number (sales, marketing, sdr, ops, …).
        filters: what is included / excluded.
        variants: ids of alternative definitions of the same quantity.
        higher_is_better: direction, None when neither (e.g. bias).
    """

    id: str
    name: str
    formula: str
    unit: str
    grain: str
    date_anchor: str
    good: str
    question: str
    owner_team: str
    filters: str = ""
    variants: tuple[str, ...] = field(default_factory=tuple)
    higher_is_better: bool | None = True

    def __post_init__(self) -> None:
        if self.question not in QUESTIONS:
            raise ValueError(f"metric {self.id}: unknown question {self.question!r}")


def registry() -> dict[str, MetricDefinition]:
    """All metric definitions by id, from every scoring module that declares them."""
    import importlib
    import pkgutil

    import scoring

    out: dict[str, MetricDefinition] = {}
    for info in sorted(pkgutil.iter_modules(scoring.__path__), key=lambda m: m.name):
        if info.name == "__main__":  # the command line, not a module of metrics
            continue
        module = importlib.import_module(f"scoring.{info.name}")
        for definition in getattr(module, "DEFINITIONS", ()):
            if definition.id in out:
                raise ValueError(f"metric id {definition.id} is defined twice")
            out[definition.id] = definition
    return dict(sorted(out.items()))


def render_markdown(definitions: dict[str, MetricDefinition]) -> str:
    """`docs/metrics.md`: every definition grouped by the structural question it answers."""
    lines = [
        "# Metric definitions",
        "",
        "Generated from the definitions registry (`scoring/definitions.py` and the",
        "`DEFINITIONS` of each scoring module) by `python -m ops docs`; do not edit by hand.",
        "Where the usual tools disagree on a definition, the variants are listed side by side",
        "and the Data trust page computes them on the same data.",
        "",
    ]
    for key, question in QUESTIONS.items():
        group = [d for d in definitions.values() if d.question == key]
        if not group:
            continue
        lines += [f"## {question}", ""]
        for d in group:
            direction = {True: "higher is better", False: "lower is better", None: "neither"}
            lines += [
                f"### {d.name} (`{d.id}`)",
                "",
                f"- **Formula:** {d.formula}",
                f"- **Unit:** {d.unit} ({direction[d.higher_is_better]})",
                f"- **Grain:** {d.grain}",
                f"- **Date anchor:** {d.date_anchor}",
                f"- **Good looks like:** {d.good}",
                f"- **Owner:** {d.owner_team}",
            ]
            if d.filters:
                lines.append(f"- **Filters:** {d.filters}")
            if d.variants:
                lines.append("- **Variants:** " + ", ".join(f"`{v}`" for v in d.variants))
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"
