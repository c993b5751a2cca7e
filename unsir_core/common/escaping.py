"""User text into an output format, escaped once at the boundary: one helper per format.

Class names (folder names, checkpoint metadata), forget lists and model names from a link, data set
names, file names, run titles and error messages that quote any of them are someone else's text.
Each output escapes it where it is written, with the helper for its format:

- `html(text)`: HTML text or a quoted attribute value (the report, SVG charts, the sidebar's HTML).
  Markup built on purpose is wrapped in `Markup` and passes through unchanged, so a table can escape
  every cell itself and a caller cannot half-escape.
- `md(text)`: text in Streamlit Markdown (st.markdown, captions, alerts, widget labels and help, image
  captions, metric labels; also Markdown files). Every character that can open Markdown syntax becomes
  a numeric character reference, so user text forms no link or image (`[ ]`: without them `( ) !` are
  plain), emphasis, code, HTML tag, table, `$` math, `:color[...]` directive or `:material/...:` icon,
  and no heading, quote or list where it starts a line; it renders literally. References, unlike
  backslash escapes, also hold inside the HTML blocks of `unsafe_allow_html` Markdown. GitHub's
  autolinks (http://, www., a@b.c) are found in the decoded text, so an invisible word joiner (U+2060)
  goes inside each. Line breaks become spaces, so text cannot start a block or end an HTML block.
  Punctuation that opens nothing (`- . , ( ) ! ' / =`, `_` inside a word, `:` before a non-letter) stays
  as it is, so plain sentences and names read the same in the source; `html.unescape` without the word
  joiners gives the text back.
- `csv_text(frame)`: every CSV (downloads and files). A text cell that starts with = + - @, a tab or a
  carriage return gets a leading ' (`csv_cell`, the OWASP CSV-injection rule), so spreadsheets show it
  as text instead of running it as a formula, and is quoted; numbers stay numbers.

Torch-free, and no pandas import: `csv_text` takes a DataFrame.
"""

from __future__ import annotations

import csv
import re
from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


class Markup(str):
    """HTML made on purpose from constants and `html()`-escaped parts: `html()` returns it unchanged."""


def html(value: Any) -> str:
    """`value` as HTML text or attribute value (& < > " ' become entities); `Markup` passes as it is."""
    return value if isinstance(value, Markup) else escape(str(value), quote=True)


def plot_text(value: Any) -> str:
    """`value` as text in a Plotly chart (axis categories, trace names, hover): Plotly reads a subset of HTML there
    (`<a href>`, `<b>`, `<br>`) and decodes entities, so < > & become entities and show as themselves."""
    return escape(str(value), quote=False)


_MD_ACTIVE = re.compile(
    r"[\\`*~\[\]<>&|$]"  # escapes, code, emphasis, strikethrough, links and images, HTML, entities, tables, math
    r"|(?<![^\W_])_|_(?![^\W_])"  # emphasis by _ (an _ between letters or digits opens none)
    r"|:(?=[^\W\d_])"  # a directive (:red[...]), an icon (:material/...:) or an emoji (:smile:)
    r"|^[ \t]*(?:[-+#]|\d{1,9}[.)])|^[ \t]+"
)  # where the text starts a line: a list, a heading, code
_AUTOLINK = re.compile(r"(?<=:)(?=//)|(?<=www)(?=\.)|(?=@)", re.IGNORECASE)  # inside http://, www. and a@b.c
WORD_JOINER = "\u2060"  # invisible, and neither space nor punctuation: no autolink starts or ends at it
_LINE_BREAK = re.compile(r"\r\n|[\r\n]")


def md(value: Any) -> str:
    """`value` as literal text inside Streamlit Markdown, on one line (see the module's notes)."""
    text = _AUTOLINK.sub(WORD_JOINER, _LINE_BREAK.sub(" ", str(value)))
    return _MD_ACTIVE.sub(lambda m: "".join(f"&#{ord(c)};" for c in m.group()), text)


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what makes a spreadsheet read a cell as a formula


def csv_cell(value: Any) -> Any:
    """A spreadsheet cell: text that starts like a formula gets a leading '; anything else is unchanged."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_START) else value


def csv_text(frame: pd.DataFrame) -> str:
    """The frame as CSV (no index), every text cell and header through `csv_cell` and in quotes (a carriage
    return inside a cell must not start a new row)."""
    safe = frame.rename(columns=csv_cell)
    for col in safe.columns[[dtype.kind == "O" for dtype in safe.dtypes]]:  # object and string columns
        safe[col] = safe[col].map(csv_cell)
    return safe.to_csv(index=False, quoting=csv.QUOTE_NONNUMERIC)
