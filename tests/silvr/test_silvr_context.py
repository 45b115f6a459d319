"""Adaptive granularity, relevance selection and prompt format (pure parts; grounding: test_silvr_grounding)."""

from mmlong.silvr.context import Context, clips_at, fit, kept_segments
from mmlong.silvr.reasoner import build_prompt
from mmlong.silvr.segments import Segment, Transcript, hms


def transcript(minutes=10):
    segs = []
    for k in range(minutes * 2):  # a slide every 30 s, a sentence every 10 s
        segs.append(Segment(30.0 * k, 30.0 * (k + 1), f"Topic {k} / Bullet about topic {k}", "screen"))
        for j in range(3):
            segs.append(Segment(30.0 * k + 10 * j + 1, 30.0 * k + 10 * j + 4, f"Sentence {j} about topic {k}.", "speech"))
    segs.append(Segment(30.0 * 7 + 12, 30.0 * 7 + 15, "The secret number is 472.", "speech"))
    return Transcript(minutes * 60.0, tuple(sorted(segs, key=lambda s: s.start)))


def words(text):
    return len(text.split())


def test_clips_merge_and_dedupe():
    t = Transcript(64.0, (Segment(0, 30, "Slide A / line", "screen"), Segment(30, 64, "Slide A / line", "screen"),
                          Segment(3, 5, "hello", "speech"), Segment(40, 44, "world", "speech")))
    c32 = clips_at(t, 32)
    assert [(c.start, c.end) for c in c32] == [(0, 32), (32, 64)]
    assert c32[0].screen == ("Slide A", "line") and c32[0].speech == ("hello",)
    assert c32[1].screen == () and c32[1].speech == ("world",)  # repeated OCR lines dropped
    c64 = clips_at(t, 64)
    assert len(c64) == 1 and c64[0].speech == ("hello", "world")


def test_kept_segments_use_the_clip_binning():
    t = Transcript(64.0, (Segment(0, 30, "a", "screen"), Segment(31.99, 33, "edge", "speech"),
                          Segment(32.0, 34, "b", "speech"), Segment(64.0, 65, "at the end", "speech")))
    c32 = clips_at(t, 32)
    second = Context(32, (c32[1],), "", 0, True, 2)
    assert [s.text for s in kept_segments(t, second)] == ["b", "at the end"]  # start 64 = duration: last clip
    assert [s.text for s in kept_segments(t, Context(32, (c32[0],), "", 0, True, 2))] == ["a", "edge"]


def test_granularity_coarsens_until_it_fits():
    t = transcript()
    full = fit(t, "q?", build_prompt, words, 10**6, select="never")
    assert full.granularity == 1 and not full.selected
    coarse = fit(t, "q?", build_prompt, words, 10**6, select="never", granularities=(1024,))
    assert coarse.tokens < full.tokens  # merged clips: fewer headers, repeated slide text dropped
    budget = (full.tokens + coarse.tokens) // 2
    small = fit(t, "q?", build_prompt, words, budget, select="never")
    assert 1 < small.granularity < 1024 and small.tokens <= budget
    # the finest that fits: half of it does not
    finer = fit(t, "q?", build_prompt, words, 10**6, select="never", granularities=(small.granularity / 2,))
    assert finer.tokens > budget


def test_relevance_selection_keeps_best_in_time_order():
    t = transcript()

    def rel(q, texts):
        return [1.0 if "secret" in x else (0.5 if "topic 3" in x else 0.0) for x in texts]

    ctx = fit(t, "What is the secret number?", build_prompt, words, 10**6, select="always", relevance=rel,
              select_budget=120)
    assert ctx.selected and ctx.tokens <= 120
    assert "472" in ctx.text
    starts = [c.start for c in ctx.clips]
    assert starts == sorted(starts)


def test_nothing_fits_falls_back_to_selection():
    t = transcript()
    ctx = fit(t, "secret?", build_prompt, words, 150, select="auto",
              relevance=lambda q, xs: [float("secret" in x) for x in xs])
    assert ctx.selected and ctx.tokens <= 150 and "472" in ctx.text


def test_prompt_format_follows_silvr():
    t = transcript(1)
    p = build_prompt("What?", clips_at(t, 16), 16)
    assert p.startswith("This video's subtitles are listed below:")
    assert "Each caption describes a 16 seconds clip." in p and p.rstrip().endswith("The answer is:")
    assert "[00:00:00 --> 00:00:16]" in p


def test_hms_and_json_roundtrip():
    assert hms(3723.9) == "01:02:03"
    t = transcript(1)
    assert Transcript.from_json(t.to_json()) == t
