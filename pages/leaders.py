"""Leaders' answers: once a quarter each function's leader answers seven questions about how
aligned the revenue system is (1-5, with a comment); the Scorecard page sets the answers beside
the data's evidence. Answering again replaces the earlier answer (both are kept).

Above the fold, the answer: which functions have answered this quarter, how many answers the
data contradicts, and the answers given; the form to answer follows."""

from __future__ import annotations

import polars as pl
import streamlit as st

from journal import JournalError
from model import formats
from model.leader_questions import LEADER_QUESTIONS
from model.schema import FUNCTIONS
from ops import decisions as ops_decisions
from pages import _auth, _data, _widgets
from pages._text import md_text

FUNCTION_NAMES = {
    "sales": "Sales",
    "sdr": "Sales development",
    "marketing": "Marketing",
    "customer_success": "Customer success",
    "other": "Other",
}
SCALE = {1: "1 · not at all", 2: "2", 3: "3 · partly", 4: "4", 5: "5 · fully"}

who = _auth.require()
view = _data.current_view()
quarter = _data.settings().scoring.calendar.quarter_of(view.as_of_date).name
st.title("Leaders' answers")
st.caption(
    f"{quarter} · once a quarter, each function's leader says how aligned the revenue system "
    "is. The Scorecard sets the answers beside what the data says about the same question."
)
if st.session_state.pop("_answers_saved", None):
    st.success("Answers saved. The Scorecard page shows them beside the evidence.")

try:
    journal = _data.journal()
except Exception as exc:  # an unreachable database: say so, never its URL
    st.error(
        f"The answers' database cannot be opened ({type(exc).__name__}). "
        "Check DATABASE_URL, or unset it to use the data folder.",
        icon=":material/error:",
    )
    st.stop()

card = _data.scorecard(view)
rows, _ = ops_decisions.perception_for(journal, card, quarter=quarter)
answers = journal.answers().filter(pl.col("quarter") == quarter)
texts = {q.id: q.text for q in LEADER_QUESTIONS}
with st.container(key="answer"):
    functions, gaps, given = st.columns(3)
    functions.metric(
        f"Functions that answered {quarter}",
        f"{answers['function'].n_unique()} of {len(FUNCTIONS)}",
        help="Functions whose leader answered the seven questions this quarter.",
        border=True,
    )
    gaps.metric(
        "Gaps with the data",
        f"{int(rows['gap'].sum()):,}" if rows.height else formats.UNKNOWN,
        help="Answers rating a question 4 or 5 while the data's evidence for it scores below "
        "50 (the Scorecard names each one beside the evidence). “—” until someone answers.",
        border=True,
    )
    given.metric(
        "Answers given",
        f"{answers.height:,}",
        help="Every answer recorded this quarter; answering again replaces the earlier answer "
        "and both are kept.",
        border=True,
    )
    st.markdown(f"**Answers given for {quarter}**")
    if answers.is_empty():
        st.caption(f"No function leader has answered for {quarter} yet: answer below.")
    else:
        _widgets.table(
            answers.sort("answer_id", descending=True).select(
                pl.col("function")
                .replace_strict(FUNCTION_NAMES, default=pl.col("function"))
                .alias("Function"),
                pl.col("question")
                .replace_strict(texts, default=pl.col("question"))
                .alias("Question"),
                pl.col("score").alias("Answer (1-5)"),
                pl.col("comment").alias("Comment"),
                pl.col("by_email").alias("By"),
                pl.col("at").alias("When"),  # local date and time (_widgets.column_defaults)
            ),
            key="leader_answers_table",
            name="leader_answers",
            height=320,  # a full quarter scrolls inside the table: the form stays near the top
        )

st.subheader(f"Answer for {quarter}")
# Only a function's leader answers for it ([access.users] `leads`); ops (and the open app)
# may answer for any function.
may_choose = who.open or who.role is _auth.Role.OPS
leads = _data.settings().access.functions.get(who.email or "")
if not (may_choose or leads):
    st.info(
        "Only a function's leader answers these questions. Ask ops to name the function you "
        'lead (`leads = "sales"` on your entry in [access.users] of scorecard.toml).',
        icon=":material/lock:",
    )
with st.form("leader_answers"):
    choices = FUNCTIONS if may_choose else ((leads,) if leads else ())
    function = st.selectbox("Your function", choices, format_func=FUNCTION_NAMES.get,
                            disabled=not choices)  # fmt: skip
    for kind, title in (("structure", "The structure"), ("environment", "How it works")):
        st.subheader(title)
        for q in (q for q in LEADER_QUESTIONS if q.kind == kind):
            st.select_slider(q.text, options=list(SCALE), value=3, format_func=SCALE.get,
                             key=f"answer_{q.id}")  # fmt: skip
            st.text_input("Comment", max_chars=2000, key=f"comment_{q.id}")
    submitted = st.form_submit_button("Save the answers", type="primary")

if submitted and function:
    try:
        for q in LEADER_QUESTIONS:
            ops_decisions.record_answer(
                journal, _data.settings().data_dir, email=who.email,
                role=who.role.value if who.role else None, quarter=quarter, function=function,
                question=q.id, score=int(st.session_state[f"answer_{q.id}"]),
                comment=st.session_state[f"comment_{q.id}"],
            )  # fmt: skip
    except JournalError as exc:
        st.error(md_text(exc), icon=":material/error:")
    else:
        st.session_state["_answers_saved"] = True
        st.rerun()
