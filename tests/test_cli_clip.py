"""mmlong ask --clip: the setting in --dry-run, and the frames CLIP finds printed with a language-route answer."""

import pytest

pytest.importorskip("open_clip")

from mmlong.cli import main  # noqa: E402


def test_ask_dry_run_shows_the_clip_setting(scene_clip, video, capsys):
    import json

    _, weights = scene_clip
    assert main(["ask", video, "What is shown?", "--model", "tiny:qwen2_5_vl", "--reduce", "relevance:0.5",
                 "--clip", str(weights), "--dry-run", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["settings"]["clip"] == str(weights)


def test_ask_prints_the_frames_clip_finds(scene_clip, tmp_path, capsys):
    import json

    from mmlong.data.scenes import make_scenes, write_scene_video

    _, weights = scene_clip
    scenes = make_scenes(3, seed=5)
    video = tmp_path / "s.mp4"
    write_scene_video(video, scenes, seconds=4.0, fps=2.0)
    argv = ["ask", str(video), scenes[1].compact, "--clip", str(weights), "--cache-dir", str(tmp_path / "c")]
    assert main(argv) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].startswith("[clip: 00:00:0") and len(lines[-1].split(",")) == 3
    assert main(argv + ["--json"]) == 0
    best = json.loads(capsys.readouterr().out)["clip_frames"]
    assert len(best) == 3 and 4.0 <= best[0]["time"] < 8.0
