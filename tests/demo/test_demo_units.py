"""The demo's plain modules without a browser, gradio or model weights.

settings (the page's raw values -> AskSettings), store (reuse, reload on a load-option
change, scheme re-patch and frame settings in place), planning (the plan text is the
planner's), answering (strip composition, stage-1 timings, streaming hooks) and views.

    python -m pytest tests/demo/test_demo_units.py -q
"""

import dataclasses
from pathlib import Path
from types import SimpleNamespace

import pytest

from mmlong.answer import Answer
from mmlong.demo.session import Upload
from mmlong.demo.settings import AskSettings, from_page, page_defaults
from mmlong.demo.store import PipelineStore, store_for
from mmlong.errors import MmlongError
from mmlong.video.settings import FrameSettings

# ----------------------------------------------------------------------------- settings


def test_page_defaults_come_from_frame_settings():
    d, fs = page_defaults(), FrameSettings()
    assert d["budget"] == "off" and fs.budget is None  # no second copy of "16k"
    assert (d["fps"], d["max_frames"]) == (fs.rate, fs.frame_cap)
    st = from_page("direct", d["pos"], d["budget"], d["fps"], d["max_frames"], d["prefill"], d["reduce"])
    assert st.frames.budget is None and st.frames.rate == fs.rate and st.frames.frame_cap == fs.frame_cap
    assert st.pos == "native" and st.prefill is None and st.reduce is None


def test_from_page_parses_the_raw_values():
    st = from_page("direct", "hope", "16k", "0.5", 32.0, "mminference", "temporal", routes=("direct", "silvr"))
    assert st == AskSettings(route="direct", pos="hope", prefill="mminference", reduce="temporal",
                             frames=FrameSettings(fps=0.5, max_frames=32, budget=16384))
    assert st.load_opts() == {"prefill": "mminference", "reduce": "temporal"}
    empty = from_page(None, None, "off", "", None, "off", " off ", routes=("direct", "silvr"))
    assert empty == AskSettings(route="direct") and empty.frames == FrameSettings()
    assert from_page(None, "", None, None, None, None, None).route == "silvr"  # routes[0] by default
    custom = from_page("direct", "native", " 6k ", 2, 8, None, "temporal+budget:4096")
    assert custom.frames.budget == 6144 and custom.load_opts() == {"reduce": "temporal+budget:4096"}


def test_load_options_and_frames_belong_to_the_direct_route():
    st = from_page("silvr", "native", "lots", 0, 64, "mminference", "temporal")  # the frame controls are not read
    assert st.load_opts() == {} and st.frames == FrameSettings()


@pytest.mark.parametrize("raw, match", [(("direct", "native", "lots", 1, 8), "token budget"),
                                        (("direct", "native", "off", 0, 8), "fps must be a positive"),
                                        (("direct", "native", "off", "fast", 8), "frames per second"),
                                        (("direct", "native", "off", 1, 0), "max_frames")])
def test_bad_page_values_are_one_line(raw, match):
    with pytest.raises(MmlongError, match=match) as got:
        from_page(*raw)
    assert "\n" not in str(got.value)


# ----------------------------------------------------------------------------- store


def _fake_direct():
    from mmlong.pipeline.direct import DirectPipeline, PipelineConfig

    class FakeDirect(DirectPipeline):
        """A direct-route pipeline without a model: records scheme re-patches (the rest is DirectPipeline's)."""

        def __init__(self, pos, **opts):
            super().__init__(None, None, None, None,
                             PipelineConfig(model="tiny:qwen2_5_vl", family="qwen2_5_vl", pos=pos or "native"))
            self.opts, self.patched = opts, []

        def set_pos(self, pos, **opts):  # no model to patch
            self.patched.append(pos)
            self.config = dataclasses.replace(self.config, pos=pos, pos_options=dict(opts))

    return FakeDirect


def fake_factory(loads: list):
    def make(route, pos=None, **opts):
        loads.append((route, pos, opts))
        return _fake_direct()(pos, **opts) if route == "direct" else SimpleNamespace(config=SimpleNamespace(route=route))

    return make


def test_store_reuses_repatches_and_reloads_on_a_load_option():
    loads = []
    store = PipelineStore(fake_factory(loads), "tiny:qwen2_5_vl")
    assert store.loaded("direct") is None and loads == []  # never loads by itself
    with store.lock:
        a = store.get("direct", pos="native")
        assert store.get("direct", pos="native") is a and len(loads) == 1  # reused
        assert store.get("direct", pos="hope") is a and a.patched == ["hope"]  # re-patched, not reloaded
        assert a.config.pos == "hope" and len(loads) == 1
        fs = FrameSettings(budget="8k", fps=2)
        assert store.get("direct", pos="hope", frames=fs) is a and a.config.frames == fs  # frames in place
        assert a.patched == ["hope"] and len(loads) == 1
        b = store.get("direct", pos="hope", frames=fs, reduce="temporal")  # a load option: reload
        assert b is not a and loads[-1] == ("direct", "hope", {"reduce": "temporal"})
        assert store.loaded("direct") is b and b.config.frames == fs and b.patched == []
        assert store.get("direct", pos="hope", frames=fs, reduce="temporal") is b and len(loads) == 2
        c = store.get("direct", pos="hope")  # dropping the option reloads too
        assert c is not b and len(loads) == 3
        s = store.get("silvr")
        assert loads[-1] == ("silvr", None, {}) and store.loaded("silvr") is s and store.loaded("direct") is c


def test_store_for_is_one_store_per_settings():
    a = store_for("tiny:qwen2_5_vl", device="cpu", max_new_tokens=7)
    assert store_for("tiny:qwen2_5_vl", device="cpu", max_new_tokens=7) is a
    assert store_for("tiny:qwen2_5_vl", device="cpu", max_new_tokens=8) is not a
    assert a.load_kwargs == {"device": "cpu", "cache_dir": None, "max_new_tokens": 7, "clip": None}


def test_store_config_resolves_without_loading():
    loads = []
    store = PipelineStore(fake_factory(loads), "tiny:qwen2_5_vl", device="cpu", max_new_tokens=9)
    cfg = store.config("direct")
    assert cfg.route == "direct" and cfg.model == "tiny:qwen2_5_vl" and cfg.max_new_tokens == 9 and loads == []
    assert store.config("silvr").route == "silvr" and loads == []
    with store.lock:
        pipe = store.get("direct", pos="hope")
    assert store.config("direct") is pipe.config  # once loaded: the pipeline's own
    with pytest.raises(MmlongError, match="Qwen-VL"):
        PipelineStore(fake_factory(loads), "default").config("direct")


# ----------------------------------------------------------------------------- planning


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    from mmlong.data.synth_video import write_test_video

    path = tmp_path_factory.mktemp("units") / "clip.mp4"
    write_test_video(path, seconds=20.0, fps=10, size=(96, 64))
    return path


def _upload(path: Path, kind: str = "video") -> Upload:
    return Upload(kind, Path(path), Path(path).name, Path(path).stat().st_size if Path(path).exists() else 0, "t")


@pytest.mark.parametrize("frames", [FrameSettings(), FrameSettings(budget="1k", fps=2, max_frames=16)],
                         ids=["defaults", "budget"])
def test_plan_text_is_the_planners(clip, frames):
    from mmlong.demo.planning import token_plan
    from mmlong.tokens.planner import plan

    loads = []
    store = PipelineStore(fake_factory(loads), "tiny:qwen2_5_vl", device="cpu")
    st = AskSettings(route="direct", pos="hope", frames=frames)
    text = token_plan(store, _upload(clip), {"duration": 20.0}, st)
    cfg = store.config("direct")
    want = plan(str(clip), "tiny:qwen2_5_vl", frames, max_new_tokens=cfg.max_new_tokens, dtype=cfg.dtype,
                attn_implementation=cfg.attn_implementation)
    assert text == f"**Direct route** (tiny:qwen2_5_vl, pos `hope`): {want.summary()}" and loads == []
    assert f"{want.frames} frames" in text and f"= {want.total_tokens}" in text
    if frames.budget:
        assert want.total_tokens <= 1024 and want.frames == 16
    else:
        assert want.frames == 20 and "no budget" in text  # 1 fps over 20 s, under the 64-frame cap


def test_language_route_and_pdf_plans():
    from mmlong.demo.planning import token_plan

    store = PipelineStore(fake_factory([]), "default", device="cpu")
    video = Upload("video", Path("/nonexistent.mp4"), "talk.mp4", 1, "t")
    text = token_plan(store, video, {"duration": 125.0, "has_audio": False}, AskSettings())
    assert text.startswith("**Language route**, video 00:02:05 (125 s)") and "no audio track: speech skipped" in text
    doc = Upload("pdf", Path("/nonexistent.pdf"), "paper.pdf", 1, "t")
    meta = {"pages": 20, "chars": 12345, "page_size": (612.0, 792.0)}
    assert "text layer of 20 pages (12,345 characters)" in token_plan(store, doc, meta, AskSettings())
    tiny = PipelineStore(fake_factory([]), "tiny:qwen2_5_vl", device="cpu")
    direct = token_plan(tiny, doc, meta, AskSettings(route="direct"))
    assert direct.startswith("**Direct route**, PDF: 16 of 20 pages rendered at ") and "image tokens" in direct
    bad = token_plan(store, doc, meta, AskSettings(route="direct"))
    assert bad.startswith("Plan unavailable: the direct route needs a Qwen-VL model") and "\n" not in bad


# ----------------------------------------------------------------------------- answering


def test_language_strip_composition():
    from mmlong.demo.answering import MAX_STRIP, language_strip

    got = language_strip([42.0, 42.5, 5.0], [0.0, 4.6, 10.0, 20.0, 30.0, 40.0], 60.0)
    assert got == [(0.0, "0:00 slide"), (5.0, "0:05 cited"), (10.0, "0:10 slide"), (20.0, "0:20 slide"),
                   (30.0, "0:30 slide"), (40.0, "0:40 slide"), (42.0, "0:42 cited")]  # 42.5 / 4.6: within 1 s
    few = language_strip([65.0], [], 60.0)  # fewer than 6 marks: an overview of the video too
    assert few[-1] == (65.0, "1:05 cited") and [t for t, _ in few[:-1]] == [5.0, 15.0, 25.0, 35.0, 45.0, 55.0]
    many = language_strip([], [float(t) for t in range(0, 100, 2)], 100.0)
    assert len(many) == MAX_STRIP and [t for t, _ in many] == sorted(t for t, _ in many)
    assert language_strip([], [], 0.0) == []


def test_sampled_strip_thins_the_frames_the_model_saw():
    from mmlong.demo.answering import MAX_STRIP, sampled_strip

    times = [i * 0.5 for i in range(30)]
    got = sampled_strip(times, cited=[8.0])
    assert len(got) == MAX_STRIP and got[0] == (0.0, "0:00 #1") and got[-1] == (14.5, "0:14 #30")
    assert [cap for _, cap in got if cap.endswith("cited")] == ["0:08 #17 cited"]
    assert sampled_strip([1.0, 2.0], []) == [(1.0, "0:01 #1"), (2.0, "0:02 #2")]
    assert sampled_strip([], [3.0]) == []


class FakeAsking:
    """A pipeline whose answer is fixed; records what ask() got."""

    def __init__(self, route, answer, tokenizer=None):
        self.config = (_fake_direct()("native").config if route == "direct" else SimpleNamespace(route=route))
        self.answer, self.tokenizer, self.calls, self.progress = answer, tokenizer, [], False

    def set_pos(self, pos, **opts):
        self.config = dataclasses.replace(self.config, pos=pos)

    def set_frames(self, frames):
        self.config = dataclasses.replace(self.config, frames=frames)

    def ask(self, question, **kw):
        self.calls.append(kw)
        return self.answer


def test_answer_question_language_route_strip_and_stage1(clip):
    from mmlong.demo.answering import answer_question

    ans = Answer(text="The number is 42, said at 0:07.", question="q", cited_times=[7.0], scene_changes=[0.0, 12.0],
                 timings={"stage1_s": 0.01, "ocr_s": 0.004, "asr_s": 0.003, "context_s": 0.2, "reason_s": 2.0})
    pipe = FakeAsking("silvr", ans, tokenizer=SimpleNamespace())
    store = PipelineStore(lambda route, **kw: pipe, "default")
    steps = []
    res = answer_question(store, _upload(clip), "What number?", AskSettings(),
                          progress=lambda frac, desc=None: steps.append(desc))
    assert pipe.calls[0]["video"] == str(clip) and pipe.calls[0]["stream"] is not None
    assert res.cites == [("▶ 00:00:07", 7.0)]
    caps = [cap for _, cap in res.strip]  # cited + slide changes, and an overview of this short video
    assert len(caps) == 8 and caps[0] == "0:00 slide" and "0:07 cited" in caps and "0:12 slide" in caps
    assert all(img.ndim == 3 and img.shape[0] <= 180 for img, _ in res.strip)
    assert res.stage1 == {"ocr_s": 0.004, "asr_s": 0.003} and res.stage1_cached
    assert steps[0].startswith("loading") and steps[1].startswith("stage 1")


def test_answer_question_direct_route_streams_unless_reducing(clip):
    from mmlong.demo.answering import answer_question

    ans = Answer(text="red", question="q", frame_times=[0.0, 1.0, 2.0, 3.0], cited_times=[2.0])
    loads = []

    def factory(route, pos=None, **opts):
        loads.append(opts)
        return FakeAsking("direct", ans, tokenizer=SimpleNamespace())

    store = PipelineStore(factory, "tiny:qwen2_5_vl")
    fs = FrameSettings(fps=0.2)
    res = answer_question(store, _upload(clip), "Color?", AskSettings(route="direct", frames=fs))
    pipe = store.loaded("direct")
    assert pipe.calls[-1]["stream"] is not None and pipe.config.frames == fs  # ask(video=path) plans with these
    assert [cap for _, cap in res.strip] == ["0:00 #1", "0:01 #2", "0:02 #3 cited", "0:03 #4"] and res.stage1 == {}
    answer_question(store, _upload(clip), "Color?", AskSettings(route="direct", reduce="temporal", frames=fs))
    assert loads == [{}, {"reduce": "temporal"}]
    assert store.loaded("direct").calls[-1]["stream"] is None  # a streamer would switch token reduction off


def test_streamer_reports_the_start_then_the_text():
    pytest.importorskip("transformers")
    from mmlong.demo.answering import _streamer

    class Tok:
        def decode(self, ids, **kw):
            return " ".join(("one", "two", "three", "", "", "", "", "", "", "prompt")[int(i)] for i in ids)

    import torch

    got, started = [], []
    st = _streamer(SimpleNamespace(tokenizer=Tok()), got.append, lambda: started.append(len(got)))
    st.put(torch.tensor([[9, 9]]))  # the prompt: skipped, but generation has started
    assert started == [0] and got == []
    for i in (0, 1, 2):
        st.put(torch.tensor([i]))
    st.end()
    assert started == [0] and got and got[-1].strip() == "one two three" and len(got[-1]) >= len(got[0])


# ----------------------------------------------------------------------------- views


def test_views_show_the_answer_and_history():
    from mmlong.demo.answering import Result
    from mmlong.demo.views import history_md, show_result, status_html

    a = Answer(text="It is <b>42</b> | at 1:05", question="q", tokens={"prompt": 812}, notes=["no audio track"])
    res = Result(a, cites=[("▶ 00:01:05", 65.0)], stage1={"ocr_s": 0.01, "asr_s": 0.0}, seconds=3.24)
    shown = show_result(res, "  What number? ", "silvr", "video")
    assert shown.done == "Answered in 3.2 s · route silvr · stage 1 cached · prompt 812 tokens"
    assert shown.text.startswith("**Answer:** It is &lt;b&gt;42&lt;/b&gt;")
    assert "**Cited:** 00:01:05 (buttons below seek the video)" in shown.text and "*note: no audio track*" in shown.text
    assert shown.entry == {"question": "What number?", "answer": a.text, "cited": "00:01:05", "stage1": "cached",
                           "seconds": 3.24}
    table = history_md([shown.entry])
    assert "| 1 | What number? | It is <b>42</b> \\| at 1:05 | 00:01:05 | cached | 3.2 s |" in table
    assert history_md([]) == ""
    pdf = show_result(Result(Answer(text="", question="q"), cites=[("page 2", 2.0)]), "q", "direct", "pdf")
    assert "empty answer" in pdf.text and "show the page" in pdf.text and "stage 1 -" in pdf.done
    assert status_html(False, "bad").startswith('<div class="mmlong-error" role="alert">⚠ bad')
