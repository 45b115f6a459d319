"""The synthetic test videos: index blocks survive H.264, VFR pts are real, audio is there."""

from __future__ import annotations

import time

import av
import numpy as np
import pytest

from mmlong.data.synth_video import read_frame_index, write_test_video


def _decode_all(path):
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [(float(f.pts * stream.time_base), f.to_ndarray(format="rgb24")) for f in container.decode(stream)]


def test_every_frame_carries_its_index(tmp_path):
    video = write_test_video(tmp_path / "a.mp4", seconds=2, fps=30, size=(64, 96))
    decoded = _decode_all(video.path)
    assert len(decoded) == video.num_frames == 60
    assert [read_frame_index(rgb) for _, rgb in decoded] == list(range(60))
    assert np.allclose([t for t, _ in decoded], np.arange(60) / 30)


def test_index_survives_resizing_and_large_values(tmp_path):
    from PIL import Image

    video = write_test_video(tmp_path / "b.mp4", seconds=1, fps=30, size=(48, 64))
    _, rgb = _decode_all(video.path)[17]
    small = np.asarray(Image.fromarray(rgb).resize((40, 30), Image.BICUBIC))
    assert read_frame_index(small) == 17


def test_background_colour_follows_color_fn(tmp_path):
    video = write_test_video(
        tmp_path / "c.mp4", seconds=2, fps=10, color_fn=lambda t: (255, 0, 0) if t < 1 else (0, 0, 255)
    )
    decoded = _decode_all(video.path)
    first, last = decoded[0][1][-8:].mean(axis=(0, 1)), decoded[-1][1][-8:].mean(axis=(0, 1))
    assert first[0] > 200 and first[2] < 60
    assert last[2] > 200 and last[0] < 60


def test_vfr_writes_irregular_real_pts(tmp_path):
    video = write_test_video(tmp_path / "vfr.mp4", seconds=2, fps=30, vfr=True)
    gaps = np.round(np.diff(video.timestamps) * 30).astype(int)
    assert set(gaps.tolist()) == {1, 3}
    decoded = _decode_all(video.path)
    assert np.allclose([t for t, _ in decoded], video.timestamps)
    assert [read_frame_index(rgb) for _, rgb in decoded] == list(range(video.num_frames))


def test_audio_track_and_gop(tmp_path):
    video = write_test_video(tmp_path / "av.mp4", seconds=3, fps=10, gop=10, audio=True)
    with av.open(str(video.path)) as container:
        assert len(container.streams.audio) == 1
        stream = container.streams.video[0]
        keys = [p.pts for p in container.demux(stream) if p.size and p.is_keyframe]
        time_base = stream.time_base  # PyAV 19 refuses stream attributes once the container is closed
    assert [round(k * time_base * 10) for k in keys] == [0, 10, 20]


def test_one_hour_low_res_is_fast(tmp_path):
    start = time.perf_counter()
    video = write_test_video(tmp_path / "hour.mp4", seconds=3600, fps=1, size=(48, 64))
    assert time.perf_counter() - start < 20
    assert video.num_frames == 3600


def test_rejects_bad_sizes(tmp_path):
    with pytest.raises(ValueError, match="even"):
        write_test_video(tmp_path / "x.mp4", seconds=1, size=(47, 64))


def test_textured_frames_keep_their_index_and_move(tmp_path):
    video = write_test_video(tmp_path / "tex.mp4", seconds=2, fps=10, size=(64, 96), texture=True)
    with av.open(str(video.path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert [read_frame_index(f) for f in frames] == list(range(20))
    bottom = np.stack(frames)[:, 32:].astype(np.float32)
    assert bottom[0].std() > 8  # a texture, not a flat colour
    assert np.abs(bottom[10] - bottom[11]).mean() > 2  # and it pans from frame to frame
