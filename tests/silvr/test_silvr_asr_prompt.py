"""The slides' OCR text as the ASR prompt: prompts from hand-written slide text, cuts at silences."""

import pytest

from mmlong.silvr.asr_prompt import Piece, pieces, screen_prompt
from mmlong.silvr.segments import Segment


def _screen(*spans):
    return [Segment(a, b, text, "screen") for a, b, text in spans]


@pytest.mark.parametrize("text,prompt", [
    ("Volcanoes / Code word: BASALT", "Volcanoes. Code word: BASALT."),
    ("Plate tectonics. / 12 / Subduction zones", "Plate tectonics. Subduction zones."),  # "12" has no letter
    ("7 / -", None),
])
def test_screen_prompt_is_the_slide_lines_as_sentences(text, prompt):
    assert screen_prompt(text) == prompt


def test_screen_prompt_stops_at_the_limit_on_a_line_boundary():
    assert screen_prompt("alpha beta / gamma delta / epsilon", limit=25) == "alpha beta. gamma delta."


def test_pieces_cut_in_the_silence_nearest_a_slide_change():
    screen = _screen((0.0, 40.0, "Rivers / Delta"), (40.0, 90.0, "Glaciers"))
    speech = [(1.0, 38.5), (39.2, 85.0)]  # the change at 40 s falls inside speech that began at 39.2 s
    assert pieces(screen, speech, 90.0) == [Piece(0.0, 38.85, "Rivers. Delta."), Piece(38.85, 90.0, "Glaciers.")]


def test_a_change_in_silence_is_cut_where_it_happened_and_late_speech_moves_the_cut_forward():
    screen = _screen((0.0, 30.0, "One"), (30.0, 60.0, "Two"), (60.0, 80.0, "Three"))
    speech = [(2.0, 28.0), (55.0, 79.0)]  # 30 s is silent; 60 s lies 5 s into speech: cut in the silence before it
    assert pieces(screen, speech, 80.0) == [Piece(0.0, 30.0, "One."), Piece(30.0, 41.5, "Two."),
                                            Piece(41.5, 80.0, "Three.")]


def test_neighbours_with_the_same_slide_text_are_one_piece_and_no_screen_is_one_plain_piece():
    screen = _screen((0.0, 10.0, "Title"), (10.0, 20.0, "Title"), (20.0, 30.0, "Next"))
    assert pieces(screen, [], 30.0) == [Piece(0.0, 20.0, "Title."), Piece(20.0, 30.0, "Next.")]
    assert pieces([], [(1.0, 5.0)], 30.0) == [Piece(0.0, 30.0, None)]


class _Screen:
    name = "ocr"

    def __init__(self, text):
        self.text, self.calls = text, 0

    def key(self):
        return {"describer": "ocr", "text": self.text}

    def describe(self, path, progress=None):
        from mmlong.silvr.segments import Transcript

        self.calls += 1
        return Transcript(10.0, (Segment(0.0, 10.0, self.text, "screen"),), (), {"ocr": self.key()})


class _Speech:
    name, uses_screen = "asr", True

    def __init__(self):
        self.given = []

    def key(self):
        return {"describer": "asr"}

    def describe(self, path, progress=None, screen=()):
        from mmlong.silvr.segments import Transcript

        self.given.append(tuple(s.text for s in screen))
        return Transcript(10.0, (Segment(1.0, 2.0, "heard " + screen[0].text, "speech"),), (), {"asr": self.key()})


def test_stage1_hands_the_recogniser_the_ocr_text_and_caches_by_it(tmp_path):
    from mmlong.silvr import SilvrConfig, SilvrPipeline

    video = tmp_path / "v.mp4"
    video.write_bytes(b"not decoded by the stand-in describers")
    pipe = SilvrPipeline(SilvrConfig(cache_dir=str(tmp_path / "cache")))
    speech = _Speech()
    pipe.describers = [_Screen("Glaciers"), speech]
    assert [s.text for s in pipe.describe(str(video))[0].of("speech")] == ["heard Glaciers"]
    pipe.describe(str(video))  # cached: the recogniser is not run again
    pipe.describers = [_Screen("Deltas"), speech]  # other slide text: the speech is decoded again with it
    assert [s.text for s in pipe.describe(str(video))[0].of("speech")] == ["heard Deltas"]
    assert speech.given == [("Glaciers",), ("Deltas",)]
