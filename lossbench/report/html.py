"""The pages of a report: the self-contained HTML page (sortable tables, figures inlined, no
external file) and the markdown page."""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from tabulate import tabulate

__all__ = ["Section", "html_page", "markdown_page"]

Section = tuple[str, str, "pd.DataFrame | None"]
"""One report section: title, text (markdown: bold, code spans, ``- `` bullet lists), table."""

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1rem auto;
max-width:70rem;padding:0 1rem;line-height:1.45;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1.5rem;font-size:.85rem;display:block;overflow-x:auto}
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:right;white-space:nowrap}
th{background:#f2f2f2;cursor:pointer}td:first-child,th:first-child{text-align:left}
img{max-width:100%;height:auto}pre{background:#f7f7f7;padding:.5rem;overflow-x:auto;font-size:.8rem}
"""

_SORT = """
document.querySelectorAll('table.sortable th').forEach(function(th,i){th.addEventListener('click',
function(){var t=th.closest('table'),b=t.tBodies[0],r=Array.from(b.rows),d=th.dataset.d==='a'?-1:1;
th.dataset.d=d===1?'a':'d';var v=function(x){var s=x.cells[i].innerText,n=parseFloat(s);
return isNaN(n)?s:n};r.sort(function(a,c){var x=v(a),y=v(c);return x<y?-d:x>y?d:0});
r.forEach(function(x){b.appendChild(x)})})});
"""


def _inline(text: str) -> str:
    """Markdown bold and code spans as HTML."""
    text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", html.escape(text))
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)


def _text(markdown: str) -> str:
    """Paragraphs and bullet lists as HTML."""
    parts, items = [], []
    for line in [*markdown.splitlines(), ""]:
        if line.startswith("- "):
            items.append(f"<li>{_inline(line[2:])}</li>")
            continue
        if items:
            parts.append("<ul>" + "".join(items) + "</ul>")
            items = []
        if line:
            parts.append(f"<p>{_inline(line)}</p>")
    return "".join(parts)


def _table(frame: pd.DataFrame) -> str:
    first = frame.index.name or "loss"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in [first, *frame.columns])
    rows = []
    for index, row in frame.iterrows():
        cells = [f"<td>{html.escape(str(index))}</td>"]
        cells += [f"<td>{_inline(str(value))}</td>" for value in row]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    body = "".join(rows)
    return f'<table class="sortable"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def html_page(
    sections: Sequence[Section],
    figures: dict[str, tuple[Path, str]],
    configuration: str = "",
    title: str = "lossbench report",
) -> str:
    """One HTML page: the sections, then each figure (PNG inlined as base64) with its caption,
    then the run's configuration.

    Args:
        sections: ``(title, markdown text, table or None)``; a table's index is its first column.
        figures: title -> ``(PNG path, caption)``.
        configuration: the run's ``config.toml`` text, shown verbatim.
        title: the page's title and heading.

    Example:
        >>> frame = pd.DataFrame({"DC": ["**0.71**"]}, index=["dice"])
        >>> page = html_page([("Table 1", "Means.", frame)], {})
        >>> "<td><b>0.71</b></td>" in page and page.startswith("<!DOCTYPE html>")
        True
    """
    body = [f"<h1>{html.escape(title)}</h1>"]
    for heading, text, frame in sections:
        body.append(f"<h2>{html.escape(heading)}</h2>")
        if text:
            body.append(_text(text))
        if frame is not None:
            body.append(_table(frame))
    for heading, (path, caption) in figures.items():
        data = base64.b64encode(path.read_bytes()).decode()
        body.append(
            f"<h2>{html.escape(heading)}</h2>"
            + (f"<p>{html.escape(caption)}</p>" if caption else "")
            + f'<img alt="{html.escape(heading)}" src="data:image/png;base64,{data}">'
        )
    if configuration:
        body.append(f"<h2>Configuration and versions</h2><pre>{html.escape(configuration)}</pre>")
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        + "".join(body)
        + f"<script>{_SORT}</script></body></html>"
    )


def markdown_page(sections: Sequence[Section], made: dict[str, tuple[Path, str]]) -> str:
    """``report.md``: each section (its table in GitHub markdown), then each figure (title ->
    (PNG path, caption)), linked under ``figures/``.

    Example:
        >>> page = markdown_page([("A", "text", pd.DataFrame({"x": [1]}))], {})
        >>> page.splitlines()[:4]
        ['# lossbench report', '', '## A', '']
    """
    md = ["# lossbench report", ""]
    for title, text, frame in sections:
        md += [f"## {title}", ""] + ([text, ""] if text else [])
        if frame is not None:
            table = tabulate(
                frame, headers="keys", tablefmt="github", stralign="right", disable_numparse=True
            )
            md += [table, ""]
    for title, (path, caption) in made.items():
        md += [f"## {title}", "", *([caption, ""] if caption else [])]
        md += [f"![{title}](figures/{path.name})", ""]
    return "\n".join(md)
