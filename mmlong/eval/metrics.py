"""Official per-sample scorers: MMNeedle (format-strict), LongVideoBench (letter parse), WebArena strings.

Each function mirrors the benchmark's own evaluation code (cited per function) so scores
are comparable with published numbers; ``tests/eval/test_eval_metrics.py`` checks them on
hand-written cases.
"""

from __future__ import annotations

import random
import re

from mmlong.eval.tasks.videowebarena_wordtok import word_tokenize

# --------------------------------------------------------------------------- MMNeedle
# Wang-ML-Lab/multimodal-needle-in-a-haystack evaluate.py / evaluate_multi.py


def needle_gt(index, row, col) -> str:
    """Ground-truth string: 1-based ``"i, r, c"``, entries joined by ``"; "``; negatives (-1) give ``"0, 0, 0"``."""
    if isinstance(index, (list, tuple)):
        return "; ".join(needle_gt(i, r, c) for i, r, c in zip(index, row, col))
    return f"{index + 1}, {row + 1}, {col + 1}"


def needle_clean(pred: str) -> str:
    """Remove newlines, then strip spaces, a trailing/leading '.', and spaces again (official order)."""
    return pred.replace("\n", "").strip().strip(".").strip()


def needle_single(gt: str, pred: str | None) -> dict:
    """Single-needle metrics for one response; ``None`` (no response) is excluded everywhere.

    Returns ``exist``, ``index``, ``exact`` as 0/1 (``None`` when excluded), plus
    ``positive`` (gt is a real location).
    """
    if pred is None:
        return {"exist": None, "index": None, "exact": None}
    pred = needle_clean(pred)
    gt_index = gt.split(", ")[0]
    if gt_index == "0":
        gt = "-1"
    pred_index = pred.split(", ")[0]
    exist = (gt == "-1") == (pred == "-1")
    return {"exist": int(exist), "index": int(gt_index == pred_index), "exact": int(gt == pred)}


def needle_multi(gt: str, pred: str | None) -> dict:
    """Multi-needle metrics: exist, index/exact (whole answer), first_*, and per-needle lists ``all_*``."""
    if pred is None:
        return {"exist": None, "index": None, "exact": None, "first_index": None, "first_exact": None,
                "all_index": None, "all_exact": None}
    pred = needle_clean(pred)
    gt_split = gt.split("; ")
    gt_index = [g.split(", ")[0] for g in gt_split]
    if gt_index[0] == "0":
        gt = "-1"
    pred_split = [p.strip() for p in pred.split("; ")]
    pred = "; ".join(pred_split)
    pred_index = [p.split(", ")[0] for p in pred_split]
    k = len(gt_index)
    absent = {"-1", "-1" + "; -1" * (k - 1), "-1" + ", -1" * (k - 1), "-1, -1, -1" + "; -1, -1, -1" * (k - 1), "-1" * k}
    exist = (gt == "-1") == (pred in absent)
    n = min(len(gt_index), len(pred_index))
    return {
        "exist": int(exist), "index": int(gt_index == pred_index), "exact": int(gt == pred),
        "first_index": int(gt_index[0] == pred_index[0]), "first_exact": int(gt_split[0] == pred_split[0]),
        "all_index": [int(gt_index[i] == pred_index[i]) for i in range(n)],
        "all_exact": [int(gt_split[i] == pred_split[i]) for i in range(n)],
    }


# --------------------------------------------------------------------------- LongVideoBench
# lmms-eval tasks/longvideobench/utils.py parse_multi_choice_response (same rule as the paper's code)

_LVB_PREFIXES = ("The best answer is", "The correct answer is", "The answer is", "The answer",
                 "The best option is", "The correct option is", "Best answer:", "Best option:")


def lvb_parse(response: str | None, n_choices: int, rng: random.Random) -> tuple[str, bool]:
    """``(letter, parsed)``: the first [A-E] after removing answer prefixes; else a random letter.

    ``rng`` makes the random fallback reproducible (seeded per doc by the runner).
    """
    choices = [chr(ord("A") + i) for i in range(n_choices)]
    s = (response or "").strip()
    for prefix in _LVB_PREFIXES:
        s = s.replace(prefix, "")
    m = re.search(r"[ABCDE]", s)  # (the official "> 10 words and no letter" branch is the same case)
    if m is None:
        return rng.choice(choices), False
    return m[0], True


# --------------------------------------------------------------------------- WebArena / VideoWebArena
# evaluation_harness/evaluators.py StringEvaluator


def clean_answer(answer: str) -> str:
    """Strip one pair of surrounding quotes, lower-case."""
    if answer.startswith("'") and answer.endswith("'"):
        answer = answer[1:-1]
    elif answer.startswith('"') and answer.endswith('"'):
        answer = answer[1:-1]
    return answer.lower()


def exact_match(ref: str, pred: str) -> float:
    return float(clean_answer(pred) == clean_answer(ref))


def must_include(ref: str, pred: str) -> float:
    """Substring test, except a one-token reference must be one of pred's NLTK tokens."""
    clean_ref, clean_pred = clean_answer(ref), clean_answer(pred)
    if len(word_tokenize(clean_ref)) == 1:
        return float(clean_ref in word_tokenize(clean_pred))
    return float(clean_ref in clean_pred)


def must_exclude(ref: str, pred: str) -> float:
    clean_ref, clean_pred = clean_answer(ref), clean_answer(pred)
    if len(word_tokenize(clean_ref)) == 1:
        return float(clean_ref not in word_tokenize(clean_pred))
    return float(clean_ref not in clean_pred)


def string_match(reference_answers: dict, pred: str) -> tuple[float, list[str]]:
    """StringEvaluator's product over approaches; returns ``(score, unscored approaches)``.

    ``exact_match``, ``must_include`` (" |OR| " alternatives), ``must_exclude`` and ``one_of``
    are scored; ``fuzzy_match`` needs an LLM judge and ``required_values`` a numeric parse,
    so they are reported as unscored (score left unchanged) instead of guessed.
    """
    pred = clean_answer(pred)
    score, unscored = 1.0, []
    for approach, value in (reference_answers or {}).items():
        if approach == "exact_match":
            score *= exact_match(str(value), pred)
        elif approach == "must_include":
            for must in value if isinstance(value, list) else [value]:
                score *= float(any(must_include(v, pred) for v in str(must).split(" |OR| ")))
        elif approach == "must_exclude":
            for excl in value if isinstance(value, list) else [value]:
                score *= must_exclude(str(excl), pred)
        elif approach == "one_of":
            score *= float(any(clean_answer(str(v)) in pred for v in value))
        else:
            unscored.append(approach)
    return score, unscored
