"""Text from data, users or errors shown as text in Streamlit's Markdown, never as markup.

Streamlit renders every `st.markdown`, caption, alert, subheader and metric label/help as
GitHub-flavoured Markdown plus LaTeX (`$…$`, `$$…$$`), `:color[…]` directives, emoji and
`:material/…:` shortcodes. A team named ``![b](http://host/x.png) **x** $$\\LaTeX$$`` would
otherwise draw an image (a request to that host), bold text and a formula.

`md_text` backslash-escapes every ASCII punctuation character (CommonMark lets any of them be
escaped; remark-math and remark-directive honour the escapes). Two of Streamlit's transforms
match the *decoded* text instead and ignore escapes: GFM autolink literals (`www.x.com`,
`http://…`, `a@b.com` become links) and the `:streamlit:` logo. For those an invisible WORD
JOINER (U+2060) goes after each `:` and `@` not followed by a space, and inside `www.`, which
breaks their patterns and shows nothing (tests/app/test_text.py, tests/e2e/test_escape_e2e.py).
"""

from __future__ import annotations

import re
import string

WORD_JOINER = "\u2060"

_PUNCTUATION = re.compile("([" + re.escape(string.punctuation) + "])")
_BREAK_AFTER = re.compile(r"(\\[:@])(?=\S)")  # "a: b" needs none
_WWW = re.compile(r"(www)(?=\\\.)", re.IGNORECASE)
_LINE_BREAKS = re.compile(r"[ \t]*(?:\r\n|\r|\n)\s*")


def md_text(value: object) -> str:
    """`value` (str() of it) as Markdown that Streamlit shows literally, character for character
    (lines stay lines; leading indentation of a line is dropped)."""
    text = _PUNCTUATION.sub(r"\\\1", str(value))
    text = _BREAK_AFTER.sub(r"\1" + WORD_JOINER, text)
    text = _WWW.sub(r"\1" + WORD_JOINER, text)
    return _LINE_BREAKS.sub("  \n", text)


_ESCAPED = re.compile(r"\\([" + re.escape(string.punctuation) + "])")


def as_text(markdown: str) -> str:
    """The text a reader sees of Markdown `md_text` wrote: its inverse (tests compare what a
    page shows with it)."""
    return _ESCAPED.sub(r"\1", markdown.replace(WORD_JOINER, "").replace("  \n", "\n"))
