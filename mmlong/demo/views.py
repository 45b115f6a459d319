"""The page's text: status lines, the upload's description, the answer and the history table.

Plain functions of plain values (HTML / Markdown strings), so the page's wording is tested
without gradio; :mod:`mmlong.demo.app` only puts them into components.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from mmlong.demo.answering import Result
from mmlong.demo.session import Upload

__all__ = ["status_html", "describe_upload", "history_md", "Shown", "show_result", "error_md"]


def status_html(ok: bool, text: str) -> str:
    """The status box: ``text`` (already HTML) as a green note or a red alert."""
    cls, icon = ("mmlong-ok", "✓") if ok else ("mmlong-error", "⚠")
    return f'<div class="{cls}" role="{"status" if ok else "alert"}">{icon} {text}</div>'


def _size(n: int) -> str:
    return f"{n / 1024:.0f} KB" if n < 1024 ** 2 else f"{n / 1024 ** 2:.1f} MB"


def describe_upload(up: Upload, meta: dict) -> str:
    """One line (HTML) about an accepted upload: kind, length or pages, size."""
    from mmlong.silvr.segments import hms

    name = html.escape(up.name)
    if up.kind == "pdf":
        return f"Loaded <b>{name}</b>: PDF, {meta['pages']} pages, {_size(up.size)}. Ask a question."
    audio = "with audio" if meta["has_audio"] else "no audio"
    return (f"Loaded <b>{name}</b>: video, {hms(meta['duration'])} ({meta['duration']:.0f} s), "
            f"{meta['width']}x{meta['height']}, {audio}, {_size(up.size)}. Ask a question.")


def history_md(history: list[dict]) -> str:
    """The questions asked about the current upload, as a Markdown table ("" when none)."""
    if not history:
        return ""
    rows = ["| # | question | answer | cited | stage 1 | total |", "|---|---|---|---|---|---|"]
    for i, h in enumerate(history, 1):
        cell = lambda x: str(x).replace("|", "\\|").replace("\n", " ")  # noqa: E731
        rows.append(f"| {i} | {cell(h['question'])} | {cell(h['answer'])} | {cell(h['cited'])} | {h['stage1']} | "
                    f"{h['seconds']:.1f} s |")
    return "\n".join(rows)


def error_md(text: str) -> str:
    """An error line for the answer box (``text`` is one line, escaped here)."""
    return "⚠ **Error:** " + html.escape(text)


@dataclass
class Shown:
    """What the page shows for one :class:`Result`.

    Attributes:
        done: the stage line ("Answered in 3.2 s · route silvr · stage 1 cached · prompt 812 tokens").
        text: the answer box (Markdown): the answer, what it cites, notes.
        entry: the row appended to the session's history.
    """

    done: str
    text: str
    entry: dict


def show_result(res: Result, question: str, route: str, kind: str) -> Shown:
    """The stage line, answer box and history row of ``res`` (``kind``: the upload's "video" or "pdf")."""
    a = res.answer
    cited = ", ".join(lbl.lstrip("▶ ") for lbl, _ in res.cites) or "none"
    stage1 = ("cached" if res.stage1_cached else f"{sum(res.stage1.values()):.1f} s") if res.stage1 else "-"
    short = a.text if len(a.text) <= 160 else a.text[:157] + "..."
    entry = {"question": question.strip(), "answer": short or "(empty)", "cited": cited, "stage1": stage1,
             "seconds": res.seconds}
    text = "**Answer:** " + (html.escape(a.text) if a.text else "*(the model gave an empty answer)*")
    if res.cites:
        hint = "seek the video" if kind == "video" else "show the page"
        text += f"\n\n**Cited:** {cited} (buttons below {hint})"
    text += "".join(f"\n\n*note: {html.escape(n)}*" for n in a.notes)
    done = (f"Answered in {res.seconds:.1f} s · route {route} · stage 1 {stage1} · "
            f"prompt {a.tokens.get('prompt', '?')} tokens")
    return Shown(done, text, entry)
