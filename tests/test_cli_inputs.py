"""`mmlong ask` / `mmlong plan` inputs: images by path, bad files on the default route, CLI words in
errors, frame and batch flags, HxW in the plan, an image given as a video (issue 17)."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from mmlong.cli import main
from mmlong.errors import MmlongError

TINY = "tiny:qwen2_vl"


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("mmlong: error: "), err
    return err[0][len("mmlong: error: "):]


@pytest.fixture
def png(tmp_path):
    path = tmp_path / "photo.png"
    Image.new("RGB", (64, 48), (200, 10, 10)).save(path)
    return path


def test_ask_image_by_path_feeds_image_tokens(png, capsys):
    assert main(["ask", "--image", str(png), "what is this?", "--model", TINY, "--max-new-tokens", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    # 48x64 -> smart_resize to the tiny spec's 84..224 px, factor 28: 84x112 -> (84/28) * (112/28) = 12 tokens
    assert out["tokens"]["image"] == 12 and out["tokens"]["video"] == 0


def test_load_images_takes_paths_pil_and_arrays_and_names_anything_else(png, tmp_path):
    from mmlong.models.vision_inputs import load_images

    arr = np.zeros((8, 8, 3), np.uint8)
    pil = Image.new("RGB", (5, 4))
    got = load_images([str(png), png, pil, arr])
    assert [np.asarray(g).shape for g in got] == [(48, 64, 3), (48, 64, 3), (4, 5, 3), (8, 8, 3)]
    with pytest.raises(MmlongError, match=r"^image 1 is a int; pass a file path, a PIL image"):
        load_images([png, 3])
    with pytest.raises(MmlongError, match=r"nope\.png' does not exist"):
        load_images(tmp_path / "nope.png")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(MmlongError, match=r"notes\.txt' cannot be read as an image"):
        load_images(str(tmp_path / "notes.txt"))


@pytest.mark.parametrize("name", ["some_dir", "adir.mp4"])
def test_default_route_refuses_a_directory_in_one_line(tmp_path, name, capsys):
    folder = tmp_path / name
    folder.mkdir()
    assert main(["ask", str(folder), "q"]) == 2
    assert "is a directory, not a video file" in _error(capsys)
    import mmlong

    with pytest.raises(MmlongError, match="is a directory, not a video file"):  # the API says it too
        mmlong.load("default").ask("q", video=str(folder))


def test_default_route_refuses_an_unreadable_file_in_one_line(video, tmp_path, capsys, monkeypatch):
    locked = tmp_path / "locked.mp4"
    locked.write_bytes(open(video, "rb").read())
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, *a, **k: False if str(p) == str(locked) else real(p, mode))
    assert main(["ask", str(locked), "q"]) == 2
    assert _error(capsys) == (f"cannot read video {str(locked)!r}: permission denied; make the file readable "
                              "(chmod u+r) or copy it")


@pytest.mark.parametrize("argv, line", [
    (["ask", "what is this?"], 'nothing to ask about: pass a video or PDF file first (mmlong ask FILE "question")'),
    (["ask", "what is this?", "--model", TINY],
     'nothing to ask about: pass a video or PDF file first (mmlong ask FILE "question"), or images with --image IMG'),
    (["ask", "--image", "PNG", "what is this?"],
     "--image needs the direct route: pass --model with a Qwen-VL model (a hub id, a local checkpoint or "
     "tiny:qwen2_5_vl)"),
    (["ask", "VIDEO", " "], 'a question is empty; ask e.g.: mmlong ask FILE "What happens at the start?"'),
])
def test_errors_speak_the_cli_words(argv, line, video, png, capsys):
    argv = [video if a == "VIDEO" else str(png) if a == "PNG" else a for a in argv]
    assert main(argv) == 2
    got = _error(capsys)
    assert got == line and "video=" not in got and "ask()" not in got


def test_forgotten_question_is_refused(video, capsys):
    assert main(["ask", video, "--model", TINY]) == 2
    assert _error(capsys) == (f"no question given for {video!r}; ask one: mmlong ask {video} "
                              '"What happens at the start?"')


@pytest.mark.parametrize("flag, line", [
    (["--frames", "0"], "num_frames must be an integer >= 1, got 0; e.g. --num-frames 8"),
    (["--num-frames", "0"], "num_frames must be an integer >= 1, got 0; e.g. --num-frames 8"),
    (["--batch-size", "0"], "--batch-size must be an integer >= 1, got 0"),
    (["--max-new-tokens", "0"], "--max-new-tokens must be an integer >= 1 (the answer length cap), got 0"),
    (["--max-new-tokens", "-1"], "--max-new-tokens must be an integer >= 1 (the answer length cap), got -1"),
])
def test_frame_batch_and_length_flags_are_checked(flag, line, video, capsys):
    assert main(["ask", video, "q", "--model", TINY, *flag]) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("mmlong: error:")]
    assert err == [f"mmlong: error: {line}"]


def test_plan_prints_source_and_plan_as_hxw(tmp_path, capsys):
    from mmlong.data.synth_video import write_test_video

    path = write_test_video(tmp_path / "wide.mp4", seconds=2, fps=10, size=(48, 64)).path  # (height, width)
    assert main(["plan", str(path), "--model", TINY]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"video   {path}: 2.0 s, 10 fps, 48x64 (HxW)"
    # 48x64 frames -> smart_resize into the tiny spec's 84..224 px at factor 28: 84x112
    assert lines[3].startswith("plan    4 frames (2 fps) at 84x112 (HxW) -> 12 tokens x 2 temporal patches")


def test_an_image_named_like_a_video_is_refused_by_content_everywhere(png, tmp_path, capsys):
    fake = tmp_path / "clip.mp4"
    fake.write_bytes(png.read_bytes())
    line = (f"cannot read video {str(fake)!r}: it is a PNG image, not a video; pass it as an image "
            "(mmlong ask --image FILE, or images= in Python)")
    assert main(["ask", str(fake), "q", "--model", TINY]) == 2
    assert _error(capsys) == line
    assert main(["ask", str(fake), "q"]) == 2  # the default route, before any model loads
    assert _error(capsys) == line
    assert main(["plan", str(fake), "--model", TINY]) == 2
    assert _error(capsys) == line
    from mmlong.demo.planning import probe
    from mmlong.demo.session import Upload

    with pytest.raises(MmlongError) as err:  # the demo's probe reaches the same rule (named by the upload's name)
        probe(Upload("video", fake, "holiday.mp4", fake.stat().st_size, "t"))
    assert str(err.value) == line.replace(str(fake), "holiday.mp4")


def test_a_stage1_progress_bar_is_closed_when_a_describer_fails(video, tmp_path, monkeypatch):
    from mmlong.silvr import route

    closed = []

    def bar(desc, enabled):
        def update(done, total):
            pass

        update.close = lambda: closed.append(desc)
        return update

    class Failing:
        name = "screen"

        def key(self):
            return {"describer": "failing", "version": 1}

        def describe(self, path, progress=None):
            raise MmlongError("OCR failed")

    monkeypatch.setattr(route, "_bar", bar)
    pipe = route.SilvrPipeline(route.SilvrConfig(ocr=None, asr=None, cache_dir=str(tmp_path)))
    pipe.describers, pipe.progress = [Failing()], True
    with pytest.raises(MmlongError, match="OCR failed"):
        pipe.describe(video)
    assert closed == ["stage 1: screen"]
