"""Rendering a report: a list of blocks to Markdown and to self-contained HTML.

A document is a list of blocks: ("h1"|"h2"|"h3"|"p"|"lead", text), ("ul", [items]),
("table", DataFrame), ("img", Path). "lead" is the report's answer: a paragraph set apart.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bias_sweep.report.text.numbers import num

MAX_TABLE_ROWS = 100  # rows of the cells table shown in report.md/html; cells.csv has them all


def _fmt_table(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for c in out.columns:
        if pd.api.types.is_float_dtype(out[c]):
            out[c] = out[c].map(lambda v: "" if not np.isfinite(v) else f"{v:.3g}")
    return out.fillna("").astype(str)


def to_markdown(blocks: list[tuple[str, Any]]) -> str:
    lines: list[str] = []
    for kind, body in blocks:
        if kind == "h1":
            lines += [f"# {body}", ""]
        elif kind == "h2":
            lines += [f"## {body}", ""]
        elif kind == "h3":
            lines += [f"### {body}", ""]
        elif kind in ("p", "lead"):
            lines += [body, ""]
        elif kind == "ul":
            lines += [f"- {item}" for item in body] + [""]
        elif kind == "table":
            t = _fmt_table(body)
            esc = [str(c).replace("|", "\\|") for c in t.columns]
            lines += ["| " + " | ".join(esc) + " |", "|" + "---|" * len(esc)]
            lines += ["| " + " | ".join(v.replace("|", "\\|") for v in r) + " |" for r in t.values]
            lines.append("")
        elif kind == "img":
            lines += [f"![{body.stem}]({body.name})", ""]
    return "\n".join(lines)


CSS = (
    "body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;"
    "color:#222}table{border-collapse:collapse;font-size:12px;margin:1em 0}"
    "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}th{background:#f3f3f3}"
    "img{max-width:100%;border:1px solid #eee;margin:0.5em 0}.verdict li{margin:0.3em 0}"
    ".lead{font-size:1.15em;line-height:1.45;border-left:4px solid #1f77b4;padding-left:0.8em}"
)


def to_html(blocks: list[tuple[str, Any]], title: str) -> str:
    """Self-contained HTML: inline CSS, plots as base64 data URIs, no external resources."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
    ]
    for kind, body in blocks:
        if kind in ("h1", "h2", "h3", "p"):
            parts.append(f"<{kind}>{html.escape(body)}</{kind}>")
        elif kind == "lead":
            parts.append(f'<p class="lead">{html.escape(body)}</p>')
        elif kind == "ul":
            items = "".join(f"<li>{html.escape(i)}</li>" for i in body)
            parts.append(f'<ul class="verdict">{items}</ul>')
        elif kind == "table":
            parts.append(_fmt_table(body).to_html(index=False, escape=True, border=0))
        elif kind == "img":
            data = base64.b64encode(Path(body).read_bytes()).decode("ascii")
            alt = html.escape(body.stem)
            parts.append(f'<figure><img alt="{alt}" src="data:image/png;base64,{data}"></figure>')
    parts.append("</body></html>")
    return "\n".join(parts)


def cells_summary(cells: pd.DataFrame, keys: list[str], metrics: list[str]) -> pd.DataFrame:
    out = cells[[*keys, "n_trials"]].copy()
    for m in metrics:
        mean, lo, hi = (cells[f"{m}_{s}"] for s in ("mean", "ci_low", "ci_high"))
        out[m] = [
            f"{num(a, 3)} [{num(b, 3)}, {num(c, 3)}]" if np.isfinite(b) else num(a, 3)
            for a, b, c in zip(mean, lo, hi, strict=True)
        ]
    return out
