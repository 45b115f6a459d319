"""The language route's clip= setting: clips ranked by text relevance and CLIP's frame scores together.

A generated video shows six scenes, 4 s each; the transcript says the same sentence over each
one, so the text cannot tell the clips apart, but the frames can: with the tiny scene CLIP the
kept clip is the scene the question describes, for every scene. Without clip= the route is
unchanged (no frame scorer, the same fitted context)."""

import dataclasses

import pytest

pytest.importorskip("open_clip")
pytest.importorskip("sentence_transformers")

from mmlong.data.scenes import make_scenes, write_scene_video  # noqa: E402
from mmlong.silvr.context import combine_relevance, fit  # noqa: E402
from mmlong.silvr.grounding import GroundingSettings  # noqa: E402
from mmlong.silvr.reasoner import ReasonerSettings, build_prompt  # noqa: E402
from mmlong.silvr.route import SilvrConfig, SilvrPipeline  # noqa: E402
from mmlong.silvr.segments import Segment, Transcript  # noqa: E402

SECONDS = 4.0


def test_combine_relevance_pinned():
    assert combine_relevance([0.5, 0.5], [0.3, 0.2], 20.0, 10.0) == pytest.approx([0.6155, 0.3845], abs=1e-4)
    # a confident text score and a flat frame score: the text decides
    assert combine_relevance([0.9, 0.1], [0.25, 0.25], 20.0, 10.0) == pytest.approx([0.75, 0.25], abs=1e-6)
    with pytest.raises(ValueError, match="2 text scores but 1"):
        combine_relevance([0.1, 0.2], [0.3])


@pytest.fixture(scope="module")
def scene_talk(tmp_path_factory):
    scenes = make_scenes(6, seed=321)
    path = tmp_path_factory.mktemp("talk") / "scenes.mp4"
    spans = write_scene_video(path, scenes, seconds=SECONDS, fps=2.0)
    said = "Here is the next picture; look at it closely."
    t = Transcript(spans[-1][1], tuple(Segment(a, a + 3.0, said, "speech") for a, _ in spans))
    return scenes, str(path), t


def _one_clip_budget(pipe, question, t):
    """A selection budget that holds the prompt with one clip but not with two."""
    full = fit(t, question, build_prompt, pipe.reasoner.count_tokens, pipe.reasoner.budget, select="never")
    one = pipe.reasoner.count_tokens(build_prompt(question, full.clips[:1], full.granularity))
    two = pipe.reasoner.count_tokens(build_prompt(question, full.clips[:2], full.granularity))
    assert one < two
    return one


def test_clip_picks_the_scene_the_text_cannot_tell_apart(scene_clip, scene_talk):
    _, weights = scene_clip
    scenes, video, t = scene_talk
    gen = GroundingSettings(mode="generate")
    plain = SilvrPipeline(SilvrConfig(grounding=gen))
    budget = _one_clip_budget(plain, scenes[0].compact, t)
    reasoner = ReasonerSettings(select_tokens=budget)
    plain.config = dataclasses.replace(plain.config, reasoner=reasoner)
    seen = SilvrPipeline(SilvrConfig(grounding=gen, reasoner=reasoner, clip=str(weights)))
    seen.reasoner, seen.embedder = plain.reasoner, plain.embedder  # the same loaded models
    assert plain.frames is None and seen.frames is not None
    for k, scene in enumerate(scenes):
        q = scene.compact
        text = plain.embedder.relevance(q, [c.render() for c in fit(t, q, build_prompt, plain.reasoner.count_tokens,
                                                                    10**6, select="never").clips])
        assert max(text) - min(text) < 0.05  # the text cannot tell the clips apart
        ctx = seen.context(q, t, video=video)
        assert ctx.selected and len(ctx.clips) == 1
        assert k * SECONDS <= ctx.clips[0].start < (k + 1) * SECONDS, (k, ctx.clips[0])
    # without clip= the context is fit's with text relevance only, as before the setting existed
    q = scenes[2].compact
    want = fit(t, q, build_prompt, plain.reasoner.count_tokens, plain.reasoner.budget, select=reasoner.select,
               relevance=plain.embedder.relevance, select_budget=budget)
    assert plain.context(q, t, video=video) == want
