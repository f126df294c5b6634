"""The quarterly questions to each function's leader: four about the structure, three about the
operating environment, each answered 1-5 with a comment. The journal stores the answers by
question id; scoring sets them beside the data's evidence for the same question."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LeaderQuestion:
    id: str
    kind: str  # "structure" | "environment"
    text: str
    short: str  # how a sentence names it: "ownership of handoffs is clear"


LEADER_QUESTIONS: tuple[LeaderQuestion, ...] = (
    LeaderQuestion("paid_same_outcomes", "structure",
                   "Are sales and marketing paid toward the same revenue outcomes?",
                   "sales and marketing are paid toward the same outcomes"),
    LeaderQuestion("one_metric_set", "structure",
                   "Is there one set of pipeline metrics both teams use?",
                   "there is one set of pipeline metrics"),
    LeaderQuestion("handoff_owners", "structure", "Does every handoff have a clear owner?",
                   "ownership of handoffs is clear"),
    LeaderQuestion("one_data_version", "structure", "Is there one version of the data in reviews?",
                   "reviews use one version of the data"),
    LeaderQuestion("first_tradeoff", "environment",
                   "When the first hard trade-off comes, is it made rather than deferred?",
                   "hard trade-offs get made"),
    LeaderQuestion("bad_news_early", "environment", "Is bad news raised early?",
                   "bad news is raised early"),
    LeaderQuestion("conflicts_resolved", "environment",
                   "Are cross-team conflicts resolved openly and quickly?",
                   "cross-team conflicts get resolved"),
)  # fmt: skip
QUESTION_IDS = tuple(q.id for q in LEADER_QUESTIONS)
