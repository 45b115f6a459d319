"""mmlong.video.open / VideoSource.frames_at: exact frames, real pts, metadata, errors."""

from __future__ import annotations

import importlib.util
from types import SimpleNamespace

import av
import numpy as np
import pytest

import mmlong.video as mv
from mmlong.errors import MmlongError
from mmlong.video._pyav import read_info
from mmlong.data.synth_video import read_frame_index, write_test_video

OPTIONAL = ("decord", "torchcodec")
INSTALLED = {name: importlib.util.find_spec(name) is not None for name in OPTIONAL}


@pytest.fixture(scope="session")
def media(tmp_path_factory):
    """Short test videos shared by this module."""
    root = tmp_path_factory.mktemp("video_source")
    return SimpleNamespace(
        cfr=write_test_video(root / "cfr.mp4", seconds=4, fps=30, audio=True),
        long_gop=write_test_video(root / "gop.mp4", seconds=40, fps=30, size=(48, 64)),
        vfr=write_test_video(root / "vfr.mp4", seconds=3, fps=30, vfr=True),
        one=write_test_video(root / "one.mp4", seconds=0.02, fps=30),
        odd=write_test_video(root / "odd.mp4", seconds=37 / 25, fps=25, size=(50, 66)),
        root=root,
    )


def _indices(frames: np.ndarray) -> list[int]:
    return [read_frame_index(f) for f in frames]


def _remux(src, dst, fmt, bsf=None, offset=0.0):
    """Copy the video packets of ``src`` into another container format, shifting pts by ``offset`` s."""
    from av.bitstream import BitStreamFilterContext

    with av.open(str(src)) as inp, av.open(str(dst), "w", format=fmt) as out:
        stream = inp.streams.video[0]
        out_stream = out.add_stream_from_template(stream)
        filt = BitStreamFilterContext(bsf, stream) if bsf else None
        shift = round(offset / stream.time_base)
        for packet in inp.demux(stream):
            if packet.dts is None:
                continue
            packet.pts, packet.dts = packet.pts + shift, packet.dts + shift
            for p in filt.filter(packet) if filt else [packet]:
                p.stream = out_stream
                out.mux(p)
    return dst


def test_metadata(media):
    with mv.open(media.cfr.path) as src:
        assert src.backend == "pyav"
        assert src.duration == pytest.approx(4.0)
        assert src.fps == pytest.approx(30)
        assert src.num_frames == 120
        assert src.has_audio is True
        assert (src.height, src.width) == (64, 64)
    with mv.open(media.odd.path) as src:
        assert (src.num_frames, src.height, src.width, src.has_audio) == (37, 50, 66, False)


def test_frames_at_returns_displayed_frame_and_real_pts(media):
    video = media.cfr
    rng = np.random.default_rng(0)
    times = np.concatenate([video.timestamps[[0, 7, 50, 119]], rng.uniform(0, 4, 30)])
    with mv.open(video.path) as src:
        frames, actual = src.frames_at(times)
    expected = video.index_at(times)
    assert frames.shape == (len(times), 64, 64, 3) and frames.dtype == np.uint8
    assert actual.dtype == np.float64
    assert _indices(frames) == expected.tolist()
    np.testing.assert_allclose(actual, video.timestamps[expected], atol=1e-9)
    assert np.all(actual <= times + 1e-6) and np.all(times - actual < 1 / 30 + 1e-6)
    np.testing.assert_allclose(actual[:4], times[:4])  # requests on a pts get exactly that pts


def test_clamps_before_start_and_after_end(media):
    with mv.open(media.cfr.path) as src:
        frames, actual = src.frames_at([-5.0, 0.0, 3.99, 4.0, 1e6])
    assert _indices(frames) == [0, 0, 119, 119, 119]
    np.testing.assert_allclose(actual, [0, 0, 119 / 30, 119 / 30, 119 / 30])


@pytest.mark.parametrize("order", ["sorted", "reversed", "shuffled"])
def test_long_gop_seeking_in_any_order(media, order):
    video = media.long_gop  # keyframe every 250 frames (8.3 s)
    times = np.linspace(0.01, 39.9, 24)
    if order == "reversed":
        times = times[::-1]
    elif order == "shuffled":
        times = np.random.default_rng(1).permutation(times)
    with mv.open(video.path) as src:
        frames, actual = src.frames_at(times)
        again, _ = src.frames_at(times[:3])  # a second call on the same source still works
    assert _indices(frames) == video.index_at(times).tolist()
    assert _indices(again) == video.index_at(times[:3]).tolist()
    np.testing.assert_allclose(actual, video.timestamps[video.index_at(times)])


def test_b_frames(tmp_path):
    """A slower x264 preset adds B-frames: decode order differs from display order."""
    video = write_test_video(tmp_path / "bf.mp4", seconds=10, fps=30, gop=60, preset="veryfast")
    times = np.sort(np.random.default_rng(2).uniform(0, 10, 40))
    with mv.open(video.path) as src:
        frames, actual = src.frames_at(times)
    expected = video.index_at(times)
    assert _indices(frames) == expected.tolist()
    np.testing.assert_allclose(actual, video.timestamps[expected])


@pytest.mark.parametrize("workers", ["1", "2"])
def test_nonref_skipping_is_bit_exact_and_decodes_less(tmp_path, monkeypatch, workers):
    """B-frames nothing references are not decoded before a target; the returned pixels are
    identical to a full decode (1 worker: FFmpeg's own threads; 2: parallel single-threaded)."""
    import mmlong.video._pyav as pyav

    video = write_test_video(tmp_path / "b3.mp4", seconds=12, fps=25, size=(64, 96), gop=100, bframes=3,
                             texture=True)  # fmt: skip
    times = np.sort(np.random.default_rng(5).uniform(0, 12, 9))
    monkeypatch.setenv("MMLONG_DECODE_WORKERS", workers)
    decoded, pull = [0], pyav._Cursor._pull

    def counting_pull(self):
        item = pull(self)
        decoded[0] += item is not None
        return item

    monkeypatch.setattr(pyav._Cursor, "_pull", counting_pull)
    results = {}
    for skip in (False, True):
        monkeypatch.setenv("MMLONG_DECODE_SKIP_NONREF", "1" if skip else "0")
        decoded[0] = 0
        with mv.open(video.path) as src:
            frames, actual = src.frames_at(times)
        results[skip] = (frames, actual, decoded[0])
    (full, full_t, n_full), (fast, fast_t, n_fast) = results[False], results[True]
    assert _indices(fast) == video.index_at(times).tolist()
    np.testing.assert_array_equal(fast, full)
    np.testing.assert_array_equal(fast_t, full_t)
    assert n_fast < 0.75 * n_full  # about half the pictures of an IBBBP stream are non-reference


def test_vfr_uses_real_pts(media):
    video = media.vfr
    times = np.linspace(0, 2.9, 40)
    with mv.open(video.path) as src:
        frames, actual = src.frames_at(times)
        assert src.fps == pytest.approx(video.num_frames / src.duration, rel=0.05)
    expected = video.index_at(times)
    assert _indices(frames) == expected.tolist()
    np.testing.assert_allclose(actual, video.timestamps[expected])


def test_one_frame_video(media):
    with mv.open(media.one.path) as src:
        assert src.num_frames == 1 and src.duration > 0
        frames, actual = src.frames_at([0.0, 0.5, 10.0])
    assert _indices(frames) == [0, 0, 0] and actual.tolist() == [0.0, 0.0, 0.0]


def test_resize_and_empty_request(media):
    with mv.open(media.cfr.path) as src:
        frames, _ = src.frames_at([1.0], size=(48, 80))
        empty, times = src.frames_at([])
    assert frames.shape == (1, 48, 80, 3) and _indices(frames) == [30]
    assert empty.shape == (0, 64, 64, 3) and times.shape == (0,)


@pytest.mark.parametrize(
    "fmt,suffix,bsf,offset",
    [
        ("matroska", "mkv", None, 0.0),
        ("matroska", "offset.mkv", None, 2.5),
        ("mpegts", "ts", None, 1.4),
        ("h264", "h264", "h264_mp4toannexb", 0.0),
    ],
)
def test_other_containers_and_missing_metadata(media, fmt, suffix, bsf, offset):
    """mkv has no stream duration, MPEG-TS no index, raw H.264 no timestamps at all.

    Streams that start late (``offset``) are measured from their first frame.
    """
    video = media.long_gop
    path = _remux(video.path, media.root / f"gop.{suffix}", fmt, bsf, offset)
    times = np.array([0.0, 12.34, 20.0, 39.95, 5.0])
    with mv.open(path) as src:
        assert src.duration == pytest.approx(40.0, abs=0.05)
        assert src.num_frames == pytest.approx(1200, abs=2)
        frames, actual = src.frames_at(times)
    expected = video.index_at(times)
    assert _indices(frames) == expected.tolist()
    np.testing.assert_allclose(actual, video.timestamps[expected], atol=2e-3)


def test_duration_from_packet_pts_when_container_has_none(media):
    path = _remux(media.cfr.path, media.root / "cfr.mkv", "matroska")
    with av.open(str(path)) as container:
        real = container.streams.video[0]
        stream = SimpleNamespace(
            time_base=real.time_base, start_time=0, duration=None, frames=0, index=real.index,
            average_rate=None, guessed_rate=None, base_rate=None, codec_context=real.codec_context,
        )  # fmt: skip
        info = read_info(path, SimpleNamespace(duration=None, start_time=None, streams=container.streams), stream)
    assert info.duration == pytest.approx(4.0, abs=0.04)
    assert info.num_frames == 120 and info.fps == pytest.approx(30, rel=0.02)


def _one_line_error(path, **kwargs) -> str:
    with pytest.raises(MmlongError) as err:
        mv.sample(path, **kwargs)
    message = str(err.value)
    assert "\n" not in message and str(path) in message
    return message


def test_missing_path_and_non_video_files(tmp_path):
    assert "file not found" in _one_line_error(tmp_path / "nope.mp4")
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    assert "is it a video file?" in _one_line_error(text)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    assert "empty" in _one_line_error(empty)
    assert "is a directory, not a video file" in _one_line_error(tmp_path)


def test_audio_only_file_has_no_video_stream(tmp_path):
    from bad_media import audio_only

    path = audio_only(tmp_path / "audio.m4a")
    assert "no video stream found" in _one_line_error(path)


@pytest.mark.parametrize("faststart", [False, True])
def test_truncated_file_reads_what_is_there_or_raises_mmlong_error(tmp_path, faststart):
    video = write_test_video(tmp_path / "full.mp4", seconds=20, fps=30, faststart=faststart)
    cut = tmp_path / "cut.mp4"
    data = video.path.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    try:
        clip = mv.sample(cut, num_frames=16)
    except MmlongError as err:
        assert "\n" not in str(err) and "cut.mp4" in str(err)
        return
    indices = _indices(clip.frames)
    assert indices == sorted(indices) and indices[0] < indices[-1]
    np.testing.assert_allclose(clip.timestamps, video.timestamps[indices])


def test_closed_source_and_bad_arguments(media):
    src = mv.open(media.cfr.path)
    src.close()
    src.close()
    with pytest.raises(MmlongError, match="closed"):
        src.frames_at([0.0])
    with mv.open(media.cfr.path) as src, pytest.raises(MmlongError, match="finite"):
        src.frames_at([0.0, float("nan")])
    with pytest.raises(MmlongError, match="unknown video backend"):
        mv.open(media.cfr.path, backend="opencv")


@pytest.mark.parametrize("backend", OPTIONAL)
def test_missing_optional_backend_names_the_extra(media, backend):
    if INSTALLED[backend]:
        pytest.skip(f"{backend} is installed")
    with pytest.raises(MmlongError, match=rf"pip install 'mmlong\[{backend}\]'"):
        mv.open(media.cfr.path, backend=backend)


@pytest.mark.parametrize("backend", OPTIONAL)
def test_optional_backends_agree_with_pyav(media, backend):
    if not INSTALLED[backend]:
        pytest.skip(f"{backend} is not installed (pip install 'mmlong[{backend}]')")
    video = media.long_gop
    times = np.array([0.0, 3.3, 17.01, 39.9])
    with mv.open(video.path, backend=backend) as src:
        assert src.backend == backend
        frames, actual = src.frames_at(times, size=(24, 32))
    assert frames.shape == (4, 24, 32, 3)
    assert _indices(frames) == video.index_at(times).tolist()
    np.testing.assert_allclose(actual, video.timestamps[video.index_at(times)], atol=1e-3)


def test_duration_covers_frames_past_a_short_stored_duration(tmp_path):
    from bad_media import shorten_duration

    full = write_test_video(tmp_path / "vfr.mp4", seconds=3, fps=10, vfr=True)
    short = shorten_duration(full.path, tmp_path / "short.mp4")  # frames to 2.9 s, stored duration 1.5 s
    with av.open(str(short)) as c:
        stream = c.streams.video[0]
        assert float(stream.duration * stream.time_base) == 1.5 and c.duration / av.time_base == 1.5
    with mv.open(full.path) as a, mv.open(short) as b:
        assert a.info == b.info and b.duration == 3.0 and full.timestamps[-1] == pytest.approx(2.9)
    got, want = mv.sample(short, fps=4), mv.sample(full.path, fps=4)
    np.testing.assert_array_equal(got.timestamps, want.timestamps)
    assert got.timestamps[-1] == pytest.approx(2.8) and len(set(_indices(got.frames))) == 10  # sampled to the end


def test_a_still_image_is_refused_by_content_and_an_animation_is_a_video(tmp_path):
    from PIL import Image

    frames = [Image.new("RGB", (64, 48), (60 * i, 0, 0)) for i in range(4)]
    for fmt, name in (("PNG", "a.mp4"), ("JPEG", "b.mkv"), ("GIF", "c.mov"), ("BMP", "d.avi"), ("TIFF", "e.webm"),
                      ("WEBP", "f.mp4")):
        frames[0].save(tmp_path / name, format=fmt)
        with pytest.raises(MmlongError) as err:
            mv.open(tmp_path / name)
        kind = {"WEBP": "WebP"}.get(fmt, fmt)
        assert str(err.value) == (f"cannot read video {str(tmp_path / name)!r}: it is a {kind} image, not a video; "
                                  "pass it as an image (mmlong ask --image FILE, or images= in Python)")
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    with mv.open(tmp_path / "anim.gif") as src:
        assert src.num_frames == 4 and (src.height, src.width) == (48, 64)
