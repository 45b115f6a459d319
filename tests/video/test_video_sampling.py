"""mmlong.video.sample and Clip: the sampling rule, windows, caps, resizing, long videos."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

import mmlong.video as mv
from mmlong.errors import MmlongError
from mmlong.video.sampling import sample_times
from mmlong.data.synth_video import read_frame_index, write_test_video

HOUR_GOP = 60  # frames (30 s at 2 fps)


@pytest.fixture(scope="session")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("video_sampling")
    hour = write_test_video(root / "hour.mp4", seconds=3600, fps=2, size=(48, 64), gop=HOUR_GOP)
    return SimpleNamespace(
        hour=hour,
        clip=write_test_video(root / "clip.mp4", seconds=10, fps=30, size=(64, 96)),
        one=write_test_video(root / "one.mp4", seconds=0.01, fps=30),
    )


def _indices(clip) -> list[int]:
    return [read_frame_index(f) for f in clip.frames]


# -- the rule -------------------------------------------------------------------------
def test_num_frames_takes_segment_centres():
    np.testing.assert_allclose(sample_times(0, 10, num_frames=4), [1.25, 3.75, 6.25, 8.75])
    np.testing.assert_allclose(sample_times(2, 4, num_frames=1), [3.0])


def test_fps_spacing_is_exact():
    np.testing.assert_allclose(sample_times(0, 3.3, fps=2), [0.25, 0.75, 1.25, 1.75, 2.25, 2.75])
    np.testing.assert_allclose(sample_times(10, 11, fps=4), [10.125, 10.375, 10.625, 10.875])
    with pytest.raises(MmlongError, match="needs fps or num_frames"):
        sample_times(0, 3.3)  # the pure rule has no default rate: FrameSettings has it


def test_min_frames_raises_short_windows_to_centres():
    np.testing.assert_allclose(sample_times(0, 2, fps=1, min_frames=4), [0.25, 0.75, 1.25, 1.75])
    np.testing.assert_allclose(sample_times(0, 10, fps=1, min_frames=4), np.arange(10) + 0.5)  # 10 >= 4: fps rule
    assert len(sample_times(0, 0.1, fps=1, min_frames=4, source_fps=30)) == 3  # only 3 source frames


def test_caps_fall_back_to_centres_and_n_is_at_least_one():
    np.testing.assert_allclose(sample_times(0, 100, fps=2, max_frames=4), [12.5, 37.5, 62.5, 87.5])
    assert len(sample_times(0, 1, fps=60, source_fps=30)) == 30  # never more than the source has
    assert len(sample_times(0, 1, num_frames=100, source_fps=30)) == 30
    np.testing.assert_allclose(sample_times(0, 0.2, fps=1), [0.1])  # floor(0.2) = 0 -> 1 frame
    np.testing.assert_allclose(sample_times(5, 5, fps=1), [5.0])


# -- sample() ------------------------------------------------------------------------
def test_sample_returns_clip_with_actual_timestamps(media):
    video = media.clip
    clip = mv.sample(video.path, num_frames=8)
    requested = sample_times(0, 10, num_frames=8)
    assert clip.frames.shape == (8, 64, 96, 3) and clip.timestamps.dtype == np.float64
    assert _indices(clip) == video.index_at(requested).tolist()
    np.testing.assert_allclose(clip.timestamps, video.timestamps[video.index_at(requested)])
    shown_mid = clip.timestamps + 0.5 / 30  # middle of each returned frame's display interval
    assert np.all(np.abs(shown_mid - requested) <= 0.5 / 30 + 1e-6)
    assert (clip.source_path, clip.width, clip.height) == (str(video.path), 96, 64)
    assert clip.duration == pytest.approx(10) and clip.source_fps == pytest.approx(30)
    assert clip.sample_fps == pytest.approx(7 / (clip.timestamps[-1] - clip.timestamps[0]))


def test_default_fps_and_window(media):
    video = media.clip
    clip = mv.sample(video.path)  # FrameSettings' defaults: 1 fps, at most 64 frames
    assert len(clip) == 10 and clip.sample_fps == pytest.approx(1, rel=0.02)
    assert len(mv.sample(video.path, fps=30)) == 64  # 300 frames at 30 fps, capped at 64
    window = mv.sample(video.path, fps=4, start=2.0, end=4.0)
    assert len(window) == 8
    assert np.all((window.timestamps >= 2.0 - 1 / 30) & (window.timestamps < 4.0))
    assert _indices(window) == video.index_at(sample_times(2, 4, fps=4)).tolist()
    tail = mv.sample(video.path, num_frames=3, start=9.5, end=100)  # end clamped to the video
    assert _indices(tail) == video.index_at(sample_times(9.5, 10, num_frames=3)).tolist()
    past = mv.sample(video.path, num_frames=3, start=50)  # window past the end: the last frame
    assert _indices(past) == [299]


def test_max_frames_cap(media):
    clip = mv.sample(media.clip.path, fps=30, max_frames=16)
    assert len(clip) == 16
    assert _indices(clip) == media.clip.index_at(sample_times(0, 10, num_frames=16)).tolist()


@pytest.mark.parametrize("size,shape", [(32, (32, 48)), ((40, 40), (40, 40)), (None, (64, 96))])
def test_size(media, size, shape):
    clip = mv.sample(media.clip.path, num_frames=3, size=size)
    assert clip.frames.shape == (3, *shape, 3)
    assert (clip.height, clip.width) == (64, 96)  # the source's size is kept
    assert _indices(clip) == media.clip.index_at(sample_times(0, 10, num_frames=3)).tolist()


def test_one_frame_video_gives_one_frame(media):
    for kwargs in ({}, {"num_frames": 10}, {"fps": 100.0}):
        clip = mv.sample(media.one.path, **kwargs)
        assert len(clip) == 1 and _indices(clip) == [0]
        assert clip.sample_fps == pytest.approx(30)


def test_open_source_is_reused_and_left_open(media):
    with mv.open(media.clip.path) as src:
        first = mv.sample(src, num_frames=2)
        second = mv.sample(src, num_frames=2, start=5)
        assert src.frames_at([0.0])[0].shape == (1, 64, 96, 3)
    assert _indices(first) == [75, 225] and _indices(second) == [187, 262]


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"fps": 1, "num_frames": 2}, "not both"),
        ({"fps": 0}, "fps must be"),
        ({"num_frames": 0}, "num_frames must be"),
        ({"max_frames": 2.5}, "max_frames must be"),
        ({"start": 5, "end": 1}, "start"),
        ({"size": (0, 10)}, "size"),
    ],
)
def test_bad_arguments_raise_one_line_errors(media, kwargs, match):
    with pytest.raises(MmlongError, match=match) as err:
        mv.sample(media.clip.path, **kwargs)
    assert "\n" not in str(err.value)


def test_one_hour_video_samples_64_frames_without_full_decode(media, decoded_times):
    video = media.hour
    clip = mv.sample(video.path, num_frames=64)
    requested = sample_times(0, 3600, num_frames=64)
    assert _indices(clip) == video.index_at(requested).tolist()
    np.testing.assert_allclose(clip.timestamps, video.timestamps[video.index_at(requested)])
    assert len(decoded_times) <= 64 * HOUR_GOP < video.num_frames  # seeks, never decodes the whole hour


# -- Clip ----------------------------------------------------------------------------
def test_clip_from_frames():
    frames = np.zeros((3, 8, 10, 3), np.uint8)
    clip = mv.Clip.from_frames(frames, [0.0, 0.5, 1.0])
    assert (clip.width, clip.height, clip.source_path) == (10, 8, None)
    assert clip.sample_fps == pytest.approx(2) and clip.source_fps == pytest.approx(2)
    assert clip.duration == pytest.approx(1.5)
    single = mv.Clip.from_frames([frames[0]], [3.0], source_fps=25)
    assert single.sample_fps == 25 and len(single) == 1


@pytest.mark.parametrize(
    "frames,times",
    [
        (np.zeros((2, 4, 4, 3), np.float32), [0, 1]),
        (np.zeros((2, 4, 4), np.uint8), [0, 1]),
        (np.zeros((2, 4, 4, 3), np.uint8), [0]),
        (np.zeros((2, 4, 4, 3), np.uint8), [1, 0]),
        (np.zeros((0, 4, 4, 3), np.uint8), []),
    ],
)
def test_clip_validation(frames, times):
    with pytest.raises(MmlongError):
        mv.Clip.from_frames(frames, times)
