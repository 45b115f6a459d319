"""The `mmlong` command: ask (tiny model), doctor, schemes, and one-line errors."""

import json
import subprocess
import sys

import pytest

from mmlong.cli import main


def test_ask_json(video, capsys):
    assert main(["ask", video, "What is shown?", "--model", "tiny:qwen2_5_vl", "--num-frames", "4",
                 "--max-new-tokens", "3", "--pos", "hope", "--opt", "gamma=1.5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["frame_times"]) == 4 and out["config"]["pos_options"] == {"gamma": 1.5}


@pytest.mark.parametrize("argv, needle", [
    (["ask", "/no/such.mp4", "q", "--model", "tiny:qwen2_vl"], "does not exist"),
    (["ask", "VIDEO", "q", "--route", "direct"], "direct route needs a Qwen-VL model"),
    (["ask", "VIDEO", "q", "--model", "tiny:qwen2_vl", "--pos", "zzz"], "unknown position scheme"),
    (["ask", "VIDEO", "q", "--model", "tiny:qwen2_vl", "--opt", "gamma"], "key=value"),
    (["ask", "VIDEO", "q", "--model", "tiny:qwen2_vl", "--pos", "hope", "--opt", "gamma=0"], "gamma must be > 0"),
])
def test_errors_are_one_line(argv, needle, video, capsys):
    argv = [video if a == "VIDEO" else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1 and err.startswith("mmlong: error:")


def test_not_a_video_is_one_line_error(tmp_path, capsys):
    bad = tmp_path / "notes.mp4"
    bad.write_text("this is not a video")
    assert main(["ask", str(bad), "q", "--model", "tiny:qwen2_vl"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "mmlong: error:" in err


def test_schemes_lists_all(capsys):
    from mmlong.pos_encodings import schemes

    assert main(["schemes"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in schemes())


def test_doctor_reports_divergence():
    res = subprocess.run([sys.executable, "-m", "mmlong.cli", "doctor", "--json"], capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    assert info["versions"]["transformers"] and info["decoders"]["pyav"].startswith("ok")
    fams = {d["family"]: d for d in info["position_id_divergence"]}
    assert fams["qwen3_vl"]["diverges"] is False
    assert fams["qwen2_vl"]["original_id"] == 9


def test_ask_many_questions_decodes_once(video, capsys, monkeypatch):
    """Several questions: one model load, one decode of the video, one JSON line per question (batched)."""
    import mmlong.video.sampling as sampling

    calls = []
    real = sampling.decode_at
    monkeypatch.setattr(sampling, "decode_at", lambda *a, **k: calls.append(a) or real(*a, **k))
    assert main(["ask", video, "What is shown?", "Which colour?", "Anything else?", "--model", "tiny:qwen2_5_vl",
                 "--num-frames", "4", "--max-new-tokens", "3", "--batch-size", "2", "--json"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["question"] for x in lines] == ["What is shown?", "Which colour?", "Anything else?"]
    assert len(calls) == 1 and all(len(x["frame_times"]) == 4 for x in lines)
    assert [x["timings"]["batch"] for x in lines] == [2, 2, 1]
