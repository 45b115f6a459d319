"""Compare finished runs: one row per run, labelled by the settings that differ, one column per metric.

    mmlong eval --compare runs/                       # every *_results.json below runs/
    mmlong eval --compare runs/a_results.json runs/b_results.json

Example output (two schemes on the same tasks)::

    |run|longvideobench_val_v lvb_acc|n|
    |---|---:|---:|
    |pos=native|0.4120 ± 0.0156|1337|
    |pos=hope, pos_options={'gamma': 1.5}|0.4380 ± 0.0157|1337|

Paired counts, for each run after the first on the docs both scored: how many docs only
this run got right (``+``) and only the first run got right (``-``), per task's first metric.
"""

from __future__ import annotations

import json
from pathlib import Path

from mmlong.errors import MmlongError
from mmlong.eval.config import RUN_LOCAL
from mmlong.eval.output import RunFiles, read_jsonl, read_results


def find_results(paths) -> list[Path]:
    """``*_results.json`` files: the paths given, and those below the folders given, sorted."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found += sorted(p.rglob("*_results.json"))
        elif p.is_file():
            found.append(p)
        else:
            raise MmlongError(f"{p} does not exist; pass results files or folders holding *_results.json")
    if len(found) < 2:
        raise MmlongError(f"--compare needs at least two runs, found {len(found)}; pass more results files")
    return found


def _flat(config: dict) -> dict:
    """Frame settings one level down: ``{"frames": {"budget": 8192}}`` -> ``{"frames.budget": 8192}``."""
    out = dict(config)
    frames = out.pop("frames", None)
    if isinstance(frames, dict):
        out.update({f"frames.{k}": v for k, v in frames.items()})
    return out


def run_labels(configs: list[dict]) -> list[str]:
    """Per run, ``"key=value, ..."`` of the scoring settings that differ between the runs.

    Example: configs that differ only in ``pos`` give ``["pos=native", "pos=hope"]``; in the
    budget, ``["frames.budget=None", "frames.budget=16384"]``.
    """
    configs = [_flat(c) for c in configs]
    keys = sorted({k for c in configs for k in c} - set(RUN_LOCAL) - {"tasks", "data_dirs"})
    differing = [k for k in keys if len({json.dumps(c.get(k), sort_keys=True, default=str) for c in configs}) > 1]
    return [", ".join(f"{k}={c.get(k)}" for k in differing) or "(same settings)" for c in configs]


def _metric_columns(results: list[dict]) -> list[tuple[str, str]]:
    cols: list[tuple[str, str]] = []
    for r in results:
        for task, metrics in r.get("results", {}).items():
            for key, value in metrics.items():
                name, _, flt = key.partition(",")
                if flt and not name.endswith("_stderr") and isinstance(value, (int, float)) and (task, name) not in cols:
                    cols.append((task, name))
    return cols


def _paired(first: Path, other: Path, task: str, metric: str) -> tuple[int, int] | None:
    """(docs only ``other`` got right, docs only ``first`` got right) on the docs both scored."""
    try:
        a = {s["doc_id"]: s.get(metric) for s in read_jsonl(RunFiles.from_results(first).samples_path(task))}
        b = {s["doc_id"]: s.get(metric) for s in read_jsonl(RunFiles.from_results(other).samples_path(task))}
    except (OSError, ValueError, KeyError):
        return None
    both = [d for d in a if d in b and a[d] is not None and b[d] is not None]
    if not both:
        return None
    return sum(1 for d in both if b[d] > a[d]), sum(1 for d in both if b[d] < a[d])


def compare(paths) -> str:
    """A markdown table comparing the runs in ``paths`` (see the module docstring)."""
    files = find_results(paths)
    runs = [read_results(f) for f in files]
    labels = run_labels([r.get("config", {}) for r in runs])
    if len(set(labels)) < len(labels):
        labels = [f"{lab} [{r.get('run_id', f.stem)}]" for lab, r, f in zip(labels, runs, files)]
    cols = _metric_columns(runs)
    head = "|run|" + "|".join(f"{t} {m}" for t, m in cols) + "|n|paired vs first (+/-)|"
    lines = [head, "|---|" + "---:|" * len(cols) + "---:|---|"]
    first_metric = {}
    for t, m in cols:
        first_metric.setdefault(t, m)
    for i, (r, lab, f) in enumerate(zip(runs, labels, files)):
        cells = []
        for t, m in cols:
            res = r.get("results", {}).get(t, {})
            v, se = res.get(f"{m},none"), res.get(f"{m}_stderr,none")
            cells.append("" if not isinstance(v, (int, float)) else f"{v:.4f}" + (
                f" ± {se:.4f}" if isinstance(se, (int, float)) else ""))
        n = sum(int(s.get("effective", 0)) for s in r.get("n-samples", {}).values())
        paired = []
        if i:
            for t, m in first_metric.items():
                got = _paired(files[0], f, t, m)
                if got is not None:
                    paired.append(f"{t}: +{got[0]}/-{got[1]}")
        lines.append(f"|{lab}|" + "|".join(cells) + f"|{n}|{'; '.join(paired)}|")
    return "\n".join(lines)
