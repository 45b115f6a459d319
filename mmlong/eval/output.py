"""The run's files, in lmms-eval's layout, written as the run goes.

::

    DIR/<model>/<run_id>_results.json            status "running" at start, metrics at the end
    DIR/<model>/<run_id>_samples_<task>.jsonl     one JSON line per doc, appended + flushed
    DIR/<model>/<run_id>_samples_<task>.part<r>of<W>.jsonl   per-rank parts under accelerate
    DIR/<model>/<run_id>_<task>_<kind>.<ext>      task extras (submission, heatmap)

``run_id`` is the start time as lmms-eval writes it (ISO, ``:`` -> ``-``). A samples file
cut mid-line by a kill is repaired (the partial last line dropped) before appending.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import subprocess
from pathlib import Path

from mmlong.errors import MmlongError
from mmlong.eval.config import json_safe

#: Sample fields that legitimately differ between two runs of the same docs.
VOLATILE = ("timings", "date")


def model_dir_name(model: str) -> str:
    """lmms-eval's sanitized model name: a local folder's name, else the id with '/' and ':' -> '__'."""
    if os.path.isdir(model):
        model = Path(model).resolve().name
    return re.sub(r"[^\w.\-]+", "__", model).strip("_") or "model"


def new_run_id() -> str:
    return _dt.datetime.now().isoformat(timespec="microseconds").replace(":", "-")


def now() -> str:
    return _dt.datetime.now().isoformat(timespec="seconds")


def read_jsonl(path: Path, *, repair: bool = False) -> list[dict]:
    """Records of a JSONL file; a partial last line (a killed writer) is dropped, and cut off when ``repair``."""
    if not path.exists():
        return []
    data = path.read_bytes()
    good = data.rfind(b"\n") + 1  # everything after the last newline is an unfinished record
    out = [json.loads(line) for line in data[:good].splitlines() if line.strip()]
    if repair and good < len(data):
        with open(path, "r+b") as f:
            f.truncate(good)
    return out


#: Keys of a finished run's results file (besides the ``config`` every results file has from the start).
FINISHED_KEYS = ("results", "configs", "versions", "n-samples")


def read_results(path, *, finished: bool = False) -> dict:
    """The results file of a run (what ``mmlong eval`` wrote), or a one-line error naming what is wrong.

    ``finished=True`` also requires the metrics of a finished run (``--rescore``).
    """
    path = Path(path)
    hint = "pass the <run id>_results.json that mmlong eval wrote"
    try:
        obj = json.loads(path.read_text())
    except OSError as exc:
        raise MmlongError(f"cannot read {path}: {exc.strerror or exc}; {hint}") from None
    except ValueError:  # JSONDecodeError, UnicodeDecodeError
        raise MmlongError(f"{path} is not JSON; {hint}") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("config"), dict):
        raise MmlongError(f"{path} is not an mmlong eval results file (it has no run config); {hint}")
    if finished and not all(isinstance(obj.get(k), dict) for k in FINISHED_KEYS):
        raise MmlongError(f"run {path.name[: -len('_results.json')] or path.name} has not finished (status "
                          f"{obj.get('status')!r}): continue it with --resume, then rescore it")
    return obj


def write_json(path: Path, obj) -> None:
    """Write JSON atomically (temp file + rename), so a kill never leaves half a results file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(json_safe(obj), indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)


def write_jsonl(path: Path, records: list[dict]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w") as f:
        for r in records:
            f.write(json.dumps(json_safe(r)) + "\n")
    os.replace(tmp, path)


class RunFiles:
    """Paths and writers of one run; with ``root=None`` nothing is written."""

    def __init__(self, root: str | os.PathLike | None, model: str, run_id: str):
        self.run_id = run_id
        self.dir = Path(root) / model_dir_name(model) if root is not None else None

    @classmethod
    def from_results(cls, path: str | os.PathLike) -> "RunFiles":
        """The run whose results file is ``path``."""
        path = Path(path)
        obj = cls.__new__(cls)
        obj.dir, obj.run_id = path.parent, path.name[: -len("_results.json")]
        return obj

    @property
    def writes(self) -> bool:
        return self.dir is not None

    @property
    def results_path(self) -> Path:
        return self.dir / f"{self.run_id}_results.json"

    def samples_path(self, task: str) -> Path:
        return self.dir / f"{self.run_id}_samples_{task}.jsonl"

    def part_path(self, task: str, rank: int, world: int) -> Path:
        return self.dir / f"{self.run_id}_samples_{task}.part{rank}of{world}.jsonl"

    def extra_path(self, task: str, kind: str, ext: str) -> Path:
        return self.dir / f"{self.run_id}_{task}_{kind}.{ext}"

    def parts(self, task: str) -> list[Path]:
        return sorted(self.dir.glob(f"{self.run_id}_samples_{task}.part*of*.jsonl")) if self.writes else []

    def read_samples(self, task: str, *, repair: bool = False) -> list[dict]:
        """All records of ``task`` so far: the merged file plus any rank parts (later records win)."""
        if not self.writes:
            return []
        out: dict[str, dict] = {}
        for path in [self.samples_path(task), *self.parts(task)]:
            for rec in read_jsonl(path, repair=repair):
                out[rec["doc_id"]] = rec
        return list(out.values())

    def start(self) -> None:
        """Create the run's folder (``--output-path`` must be a folder, or a path one can be made at)."""
        if self.writes:
            from mmlong.paths import make_output_dir

            make_output_dir(self.dir, "--output-path")


class SampleLog:
    """Appends one JSON line per sample to a file and flushes it at once (or keeps nothing)."""

    def __init__(self, path: Path | None):
        self.path = path
        if path is not None:
            read_jsonl(path, repair=True)

    def append(self, record: dict) -> None:
        if self.path is None:
            return
        with open(self.path, "a") as f:
            f.write(json.dumps(json_safe(record)) + "\n")
            f.flush()
            os.fsync(f.fileno())


def git_hash() -> str | None:
    """Short commit of the mmlong checkout (with ``-dirty`` when modified); None outside git."""
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True, text=True,
                             timeout=10)
        if sha.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=10)
        return sha.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def package_versions() -> dict:
    """Versions of the packages that can change a score."""
    from importlib import metadata
    import platform

    import mmlong

    out = {"python": platform.python_version(), "mmlong": mmlong.__version__}
    for name in ("torch", "transformers", "accelerate", "numpy", "av", "pillow"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def task_hash(doc_hashes: list[str]) -> str:
    """Hash of the evaluated docs' hashes, in order (lmms-eval's task_hashes)."""
    return hashlib.sha256("".join(doc_hashes).encode()).hexdigest()


def markdown_table(results: dict, versions: dict, n_samples: dict) -> str:
    """lmms-eval's stdout table: ``|Tasks|Version|Filter|n-shot|Metric| |Value| |Stderr|``."""
    lines = ["|Tasks|Version|Filter|n-shot|Metric| |Value| |Stderr|",
             "|-----|------:|------|-----:|------|---|-----:|---|-----:|"]
    for task, metrics in results.items():
        for key, value in metrics.items():
            name, _, flt = key.partition(",")
            if not flt or name.endswith("_stderr") or not isinstance(value, (int, float)):
                continue
            se = metrics.get(f"{name}_stderr,{flt}")
            se_txt = f"{se:.4f}" if isinstance(se, (int, float)) else "N/A"
            lines.append(f"|{task}|{versions.get(task, '')}|{flt}|0|{name}|↑|{value:.4f}|±|{se_txt}|")
        if "error" in metrics:
            lines.append(f"|{task}|{versions.get(task, '')}|none|0|error| |{metrics['error']}| | |")
    return "\n".join(lines)
