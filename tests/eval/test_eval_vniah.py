"""vniah_synth: generated needle videos, accuracy by depth x length, heatmap PNG."""

import pytest

from mmlong.errors import MmlongError
from mmlong.eval import EvalConfig, evaluate
from mmlong.eval.tasks import get_task

OPTS = {"lengths": (6, 12), "depths": (0.0, 0.5, 1.0), "size": 64, "max_frames": 16}


def _run(model, tmp_path, out=True, **opts):
    opts = {"vniah_synth": {**OPTS, "data_dir": str(tmp_path / "v"), **opts}}
    return evaluate(EvalConfig(model=model, tasks=("vniah_synth",), output_path=str(tmp_path / "out") if out else None,
                               task_options=opts), echo=False)


def test_needle_is_in_the_video_at_its_depth(tmp_path):
    task = get_task("vniah_synth", **OPTS, data_dir=str(tmp_path / "v"))
    docs = task.docs()
    assert [d.doc_id for d in docs] == ["L6_d000", "L6_d050", "L6_d100", "L12_d000", "L12_d050", "L12_d100"]
    d = docs[2]  # depth 1.0 of a 6 s video: the needle is the last second
    assert d.data["needle_start"] == 5.0
    _, clip = task.request(d).load()
    white = [float((f > 240).mean()) for f in clip.frames]  # the needle frame has a white background
    assert max(range(len(white)), key=white.__getitem__) == len(white) - 1 and white[-1] > 0.5
    assert sum(w > 0.5 for w in white) == 1


def test_oracle_random_breakdown_and_heatmap(tmp_path):
    r = _run("oracle", tmp_path)
    assert r["results"]["vniah_synth"]["acc,none"] == 1.0
    assert r["breakdowns"]["vniah_synth"]["acc_by_length_depth"] == {
        "6": {"0.00": 1.0, "0.50": 1.0, "1.00": 1.0}, "12": {"0.00": 1.0, "0.50": 1.0, "1.00": 1.0}}
    heat = r["files"]["vniah_synth"].get("heatmap")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert heat is None
    else:
        png = tmp_path / "out" / "oracle" / heat
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 1000
    rnd = _run("random", tmp_path, out=False, lengths=(6, 8, 10, 12), needle="text")
    assert rnd["results"]["vniah_synth"]["acc,none"] <= 0.5  # chance 1/10 over 12 docs


def test_bad_options():
    with pytest.raises(MmlongError, match="needle must be"):
        get_task("vniah_synth", needle="sound")
    with pytest.raises(MmlongError, match="depths"):
        get_task("vniah_synth", depths=(1.5,))
