"""The evaluation loop: docs -> requests -> model -> per-sample records -> metrics.

Guarantees:

* every sample is appended and flushed as it finishes, so a killed run keeps its work and
  ``resume=True`` continues it (skipping finished docs) to the same records and metrics;
* a missing data folder, a missing or corrupt video, a model error or a non-text answer is
  recorded (per task or per sample) and the run goes on;
* under ``accelerate launch`` each rank runs ``docs[rank::world]`` into its own samples
  part, rank 0 waits, merges the parts in doc order and scores (:class:`~mmlong.eval.config.Shard`);
* :func:`rescore` recomputes every metric from the samples files alone.
"""

from __future__ import annotations

import sys
import time

from mmlong.errors import MmlongError, user_line
from mmlong.eval.config import EvalConfig, Shard, apply_limit, json_safe
from mmlong.eval.doc_runner import run_docs_prefetched
from mmlong.eval.output import (RunFiles, SampleLog, markdown_table, new_run_id, now, package_versions,
                                git_hash, read_jsonl, read_results, task_hash, write_json, write_jsonl)
from mmlong.eval.tasks import get_task, task_class
from mmlong.paths import check_output_dir


def _progress(task: str, total: int, show: bool):
    """A tqdm bar on stderr for one task's docs (rank 0, when echoing); a no-op otherwise."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=task, unit="doc", disable=not show or total == 0, file=sys.stderr,
                dynamic_ncols=True)


def _warn(msg: str) -> None:
    print(f"mmlong: warning: {msg}", file=sys.stderr)


def make_task(cfg: EvalConfig, name: str, agent=None):
    """Build task ``name`` with its options, data folder (``data_dirs[name]`` or ``["*"]``) and agent;
    options not given default to what the model records about its training (``Task.model_defaults``)."""
    cls = task_class(name)
    opts = dict(cfg.task_options.get(name, {}))
    data_dir = cfg.data_dirs.get(name, cfg.data_dirs.get("*"))
    fields = getattr(cls.Options, "__dataclass_fields__", {})
    if data_dir is not None and "data_dir" in fields:
        opts.setdefault("data_dir", str(data_dir))
    if cfg.frames.max_frames is not None and "max_frames" in fields:
        opts.setdefault("max_frames", cfg.frames.max_frames)
    if cfg.max_new_tokens is not None and "max_new_tokens" in fields:
        opts.setdefault("max_new_tokens", cfg.max_new_tokens)
    if cfg.model not in ("random", "oracle", "default"):  # e.g. vniah_synth at the model's training length
        from mmlong.models.hub import trained_setup

        for key, value in cls.model_defaults(trained_setup(cfg.model)).items():
            opts.setdefault(key, value)
    task = get_task(name, **opts)
    if agent is not None and hasattr(task, "agent"):
        task.agent = agent
    return task


def resolve(cfg: EvalConfig) -> dict:
    """The fully resolved run (what ``--dry-run`` prints): config, model kwargs, each task's config."""
    from mmlong.eval.models import load_kwargs

    out = {"config": cfg.as_dict(), "model_load_kwargs": None, "tasks": {}}
    if cfg.model not in ("random", "oracle"):
        out["model_load_kwargs"] = json_safe(load_kwargs(cfg))
    else:
        load_kwargs(cfg)
    for name in cfg.tasks:
        task = make_task(cfg, name)
        out["tasks"][name] = task.config()
    return out


def _select(docs: list, task: str, only: tuple, limit) -> list:
    """``--only`` (``ID`` for any task, ``TASK:ID`` for one), then ``--limit``."""
    from mmlong.eval.tasks import TASKS

    if only:
        wanted = set()
        for item in only:
            prefix, sep, rest = item.partition(":")
            if sep and prefix in TASKS:
                if prefix == task:
                    wanted.add(rest)
            else:
                wanted.add(item)
        docs = [d for d in docs if d.doc_id in wanted]
    return apply_limit(docs, limit)


def _check_resume(cfg: EvalConfig, files: RunFiles) -> dict:
    if not files.results_path.exists():
        raise MmlongError(f"cannot resume run {cfg.run_id!r}: {files.results_path} does not exist; "
                          "pass the run id of an existing run (the prefix of its _results.json)")
    previous = read_results(files.results_path)
    old = json_safe(EvalConfig(**{k: v for k, v in previous["config"].items()
                                   if k in EvalConfig.__dataclass_fields__}).scoring_fields())
    new = json_safe(cfg.scoring_fields())
    diff = [k for k in new if old.get(k) != new[k]]
    if diff:
        raise MmlongError(f"run {cfg.run_id} was made with different settings ({', '.join(diff)}: "
                          f"{old.get(diff[0])!r} vs {new[diff[0]]!r}); resume with the same settings or start a new run")
    return previous


def _limit_flag(limit) -> str:
    return "no --limit (all docs)" if limit is None else f"--limit {limit:g}"


def _check_resume_keeps(cfg: EvalConfig, previous: dict, name: str, docs: list, done: dict) -> None:
    """Refuse a resumption whose selection would drop finished work: a smaller ``--limit`` than the run's.

    A larger ``--limit`` (or none) extends the run; every finished sample stays in the samples file.
    """
    old_limit = previous["config"].get("limit")
    selected = {d.doc_id for d in apply_limit(docs, cfg.limit)}
    before = len(apply_limit(docs, old_limit))
    dropped = [doc_id for doc_id in done if doc_id not in selected]
    if len(selected) < before or dropped:
        raise MmlongError(f"run {cfg.run_id} was made with {_limit_flag(old_limit)} ({before} docs of {name}); "
                          f"resuming with {_limit_flag(cfg.limit)} ({len(selected)} docs) would drop finished samples: "
                          f"pass --limit {before} or more (a larger limit extends the run)")


_CONTROL: dict = {}  # the gloo process group used for run-id agreement and barriers


def _control_group():
    """A CPU (gloo) group over all ranks: object broadcasts and barriers that never touch a GPU.

    accelerate initializes NCCL on GPU machines; NCCL object collectives need one distinct GPU
    per rank with the right current device, while gloo works for any placement (including
    several ranks sharing one GPU).
    """
    import torch.distributed as dist

    if "group" not in _CONTROL:
        _CONTROL["group"] = None if dist.get_backend() == "gloo" else dist.new_group(backend="gloo")
    return _CONTROL["group"]


def _sync(shard: Shard, run_id: str | None) -> str | None:
    """Agree on the run id across ranks and wait for everyone (no-op for one process)."""
    if shard.world_size <= 1:
        return run_id
    try:
        import torch.distributed as dist
    except ImportError:  # pragma: no cover
        return run_id
    import os

    if not dist.is_available():  # pragma: no cover
        return run_id
    if not dist.is_initialized():
        if "MASTER_ADDR" not in os.environ:
            return run_id  # simulated shards (tests): the caller passes run_id
        dist.init_process_group("gloo")  # torchrun on CPU: accelerate stays single-process there
    group = _control_group()
    box = [run_id]
    dist.broadcast_object_list(box, src=0, group=group)
    dist.barrier(group=group)
    return box[0]


def evaluate(cfg: EvalConfig, *, model=None, shard: Shard | None = None, agent=None,
             echo=True) -> dict | None:
    """Run ``cfg``; returns the results dict on the main rank (None on other ranks).

    Args:
        cfg: the run.
        model: an object with ``generate(request, images, clip, doc_key)``; None builds one from ``cfg.model``.
        shard: this process's slice; None detects it from the launcher.
        agent: callback for agentic tasks (``videowebarena_agent``).
        echo: print the results table to stdout.
    """
    shard = shard or Shard.detect()
    tasks = {name: make_task(cfg, name, agent) for name in cfg.tasks}  # unknown names and bad options fail here
    if cfg.output_path is not None:
        check_output_dir(cfg.output_path, "--output-path")
    if model is None:
        from mmlong.eval.models import check_settings

        check_settings(cfg)  # device, dtype, scheme options...: before any file is written or weight loads
    run_id = _sync(shard, cfg.run_id or new_run_id()) if shard.world_size > 1 else (cfg.run_id or new_run_id())
    files = RunFiles(cfg.output_path, cfg.model, run_id)
    previous = _check_resume(cfg, files) if cfg.resume else None
    if files.writes and not cfg.resume and files.results_path.exists():
        raise MmlongError(f"run {run_id} already exists in {files.dir}; pass --resume to continue it or a new --run-id")
    docs_by_task, task_errors, memory, matched, plans = {}, {}, {}, False, {}
    for name, task in tasks.items():
        try:
            docs = task.docs()
        except Exception as exc:  # missing data folder etc.: recorded, other tasks go on
            task_errors[name] = user_line(exc)
            if shard.is_main:
                _warn(f"task {name} skipped: {task_errors[name]}")
            continue
        done = {r["doc_id"]: r for r in files.read_samples(name, repair=True)} if cfg.resume else {}
        if previous is not None:
            _check_resume_keeps(cfg, previous, name, docs, done)
        to_run = _select(docs, name, cfg.only, cfg.limit)
        # a resumed run keeps scoring its whole selection; --only there just reruns those docs
        selected = apply_limit(docs, cfg.limit) if cfg.resume else to_run
        docs_by_task[name] = (docs, selected)
        plans[name] = (to_run, done)
    files.start()
    model = model if model is not None else _build(cfg, shard)
    start = time.time()
    header = {"run_id": run_id, "status": "running", "model_name": cfg.model, "config": cfg.as_dict(),
              "packages": package_versions(), "git_hash": git_hash(),
              "start_time": (previous or {}).get("start_time", start), "date": now(), "shards": shard.world_size}
    if shard.is_main and files.writes:
        write_json(files.results_path, {**(previous or {}), **header})
    for name, (to_run, done) in plans.items():
        task, selected = tasks[name], docs_by_task[name][1]
        rerun = {d.doc_id for d in to_run} if cfg.only else set()
        log = SampleLog(None if not files.writes else (
            files.samples_path(name) if shard.world_size == 1 else files.part_path(name, shard.rank, shard.world_size)))
        todo = []
        for doc in shard.take(to_run):
            old = done.get(doc.doc_id)
            if old is not None and doc.doc_id not in rerun:
                if old.get("doc_hash") != doc.doc_hash:
                    raise MmlongError(f"doc {doc.doc_id} of task {name} changed since run {run_id} started "
                                      "(its doc_hash differs); start a new run")
                continue
            todo.append(doc)
        bar, errors = _progress(name, len(todo), echo and shard.is_main), 0
        try:
            for rec in run_docs_prefetched(task, todo, model, cfg, prefetch=cfg.prefetch):
                log.append(rec)
                done[rec["doc_id"]] = rec
                bar.update(1)
                if rec.get("error"):
                    errors += 1
                    bar.set_postfix(errors=errors, refresh=False)
        finally:  # an error line must not land on the same line as an unfinished bar
            bar.close()
        memory[name] = [done[d.doc_id] for d in selected if d.doc_id in done]
        matched |= bool(to_run)
    if cfg.only and not matched:
        raise MmlongError(f"--only {','.join(cfg.only)} matches no doc of {', '.join(docs_by_task) or 'any task'}; "
                          "doc ids are the doc_id fields of a samples file")
    _sync(shard, run_id)
    if not shard.is_main:
        return None
    return _finish(cfg, files, tasks, docs_by_task, task_errors, memory, header, start, echo)


def _build(cfg, shard):
    from mmlong.eval.models import build_model

    return build_model(cfg, shard)


def _score_task(task, samples: list[dict]) -> tuple[dict, dict]:
    metrics, breakdowns = task.aggregate(samples)
    entry = {"alias": task.name}
    for key, value in metrics.items():
        entry[f"{key},none"] = value
    return entry, breakdowns


def _finish(cfg, files, tasks, docs_by_task, task_errors, memory, header, start, echo) -> dict:
    out = {"results": {}, "group_subtasks": {}, "configs": {}, "versions": {}, "n-shot": {}, "higher_is_better": {},
           "n-samples": {}, "breakdowns": {}, "sample_errors": {}, "task_errors": task_errors, "files": {},
           "task_hashes": {}}
    for name, task in tasks.items():
        out["configs"][name] = task.config()
        out["versions"][name] = task.version
        out["n-shot"][name] = 0
        out["group_subtasks"][name] = []
        out["higher_is_better"][name] = task.higher_is_better()
        if name in task_errors:
            out["results"][name] = {"alias": name, "error": task_errors[name]}
            continue
        docs, selected = docs_by_task[name]
        if files.writes:
            got = {r["doc_id"]: r for r in files.read_samples(name)}
            missing = [d.doc_id for d in selected if d.doc_id not in got]
            if missing:
                raise MmlongError(f"task {name}: {len(missing)} docs have no record yet (e.g. {missing[0]}); a rank "
                                  f"has not finished: run it, or rerun with --resume --run-id {files.run_id}")
            samples = [got[d.doc_id] for d in selected]
            write_jsonl(files.samples_path(name), samples)
            for part in files.parts(name):
                part.unlink()
        else:
            samples = memory[name]
        out["results"][name], out["breakdowns"][name] = _score_task(task, samples)
        errs = [s for s in samples if s.get("error")]
        out["sample_errors"][name] = {"count": len(errs), "doc_ids": [s["doc_id"] for s in errs]}
        if errs and echo:
            _warn(f"{name}: {len(errs)} of {len(samples)} samples recorded an error, e.g. {errs[0]['doc_id']}: "
                  f"{errs[0]['error']} (all in the samples file's error field)")
        out["n-samples"][name] = {"original": len(docs), "effective": len(selected)}
        out["task_hashes"][name] = task_hash([s["doc_hash"] for s in samples])
        if files.writes:
            out["files"][name] = {"samples": files.samples_path(name).name,
                                  **{k: str(v.name) for k, v in task.finalize(samples, files).items()}}
    end = time.time()
    results = {**out, **header, "status": "complete" if not task_errors else "partial",
               "end_time": end, "total_evaluation_time_seconds": round(end - start, 3)}
    if files.writes:
        write_json(files.results_path, results)
    if echo:
        print(markdown_table(results["results"], results["versions"], results["n-samples"]))
        if files.writes:
            print(f"results: {files.results_path}")
    return json_safe(results)


def rescore(results_path, *, echo=True) -> dict:
    """Recompute every metric of a finished run from its samples files (no model, no data).

    Per-sample metric fields and the results file are rewritten in place; ``rescored_at``
    records when. Returns the new results dict.
    """
    from pathlib import Path

    path = Path(results_path)
    if path.is_dir():
        found = sorted(path.glob("*_results.json"))
        if not found:
            raise MmlongError(f"no *_results.json in {path}; pass the results file of the run to rescore")
        path = found[-1]
    if not path.exists():
        raise MmlongError(f"{path} does not exist; pass the _results.json of the run to rescore")
    results = read_results(path, finished=True)
    if not path.name.endswith("_results.json"):  # the run id (and so its samples files) comes from the name
        raise MmlongError(f"{path} is not named <run id>_results.json, so its samples files cannot be found; "
                          "pass the results file as mmlong eval wrote it")
    files = RunFiles.from_results(path)
    seed = results["config"].get("seed", 0)
    for name, tcfg in results["configs"].items():
        if name in (results.get("task_errors") or {}):
            continue
        task = get_task(name, **tcfg.get("options", {}))
        samples = read_jsonl(files.samples_path(name))
        if not samples:
            raise MmlongError(f"run {files.run_id} has no samples for task {name} ({files.samples_path(name).name}); "
                              "only finished runs can be rescored")
        bad = next((s for s in samples if not s.get("doc_id") or not s.get("filtered_resps")), None)
        if bad is not None:
            raise MmlongError(f"a sample in {files.samples_path(name).name} has no doc_id or response, so mmlong "
                              "eval did not write it; restore the samples file or rerun the task")
        for s in samples:
            s.update(task.score(s.get("ref") or {}, s["filtered_resps"][0], seed=seed, doc_id=s["doc_id"]))
        write_jsonl(files.samples_path(name), samples)
        results["results"][name], results.setdefault("breakdowns", {})[name] = _score_task(task, samples)
        extras = {k: str(v.name) for k, v in task.finalize(samples, files).items()}
        results.setdefault("files", {})[name] = {"samples": files.samples_path(name).name, **extras}
    results["rescored_at"] = now()
    write_json(path, results)
    if echo:
        print(markdown_table(results["results"], results["versions"], results["n-samples"]))
    return json_safe(results)
