"""mmlong.video.decode_plan (runs and their split) and parallel decoding in the PyAV source."""

from __future__ import annotations

import numpy as np
import pytest

import mmlong.video as mv
from mmlong.data.synth_video import read_frame_index, write_test_video
from mmlong.errors import MmlongError
from mmlong.video.decode_plan import SEEK_COST, decode_runs, run_costs, split_runs

TIMES = np.array([1.0, 3.0, 12.0, 15.0, 31.0, 55.0])
KEYS = np.array([0.0, 0.0, 10.0, 10.0, 30.0, 50.0])


def test_runs_start_where_the_keyframe_lies_beyond_the_previous_target():
    np.testing.assert_array_equal(decode_runs(TIMES, KEYS), [0, 2, 4, 5])
    np.testing.assert_allclose(run_costs(TIMES, KEYS, decode_runs(TIMES, KEYS)), np.array([3, 5, 1, 5]) + SEEK_COST)
    # the keyframe of 10.5 is 10.0, at the previous target: decoding on, same run; 11 s needs a seek
    np.testing.assert_array_equal(decode_runs([10.0, 10.5, 21.0], [10.0, 10.0, 20.0]), [0, 2])
    assert decode_runs(np.zeros(0), np.zeros(0)).size == 0


def test_split_balances_whole_runs_over_workers():
    assert split_runs(TIMES, KEYS, 2) == [slice(0, 4), slice(4, 6)]
    assert split_runs(TIMES, KEYS, 1) == [slice(0, 6)]
    assert split_runs(TIMES, KEYS, 4) == [slice(0, 2), slice(2, 4), slice(4, 5), slice(5, 6)]
    assert split_runs(TIMES, KEYS, 16) == [slice(0, 2), slice(2, 4), slice(4, 5), slice(5, 6)]  # one run each
    assert split_runs([1.0, 2.0, 3.0], [0.0, 0.0, 0.0], 2) == [slice(0, 3)]  # one run: nothing to split
    assert split_runs(np.zeros(0), np.zeros(0), 2) == []
    # costs 1 + 1 + 9 (+ seeks): the best cut isolates the expensive run
    assert split_runs([1.0, 11.0, 29.0], [0.0, 10.0, 20.0], 2) == [slice(0, 2), slice(2, 3)]


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("decode_plan")
    return {
        "cfr": write_test_video(root / "cfr.mp4", seconds=120, fps=10, size=(48, 64), gop=20),
        "bframes": write_test_video(root / "b.mp4", seconds=60, fps=10, size=(48, 64), gop=25, preset="veryfast"),
        "vfr": write_test_video(root / "vfr.mp4", seconds=60, fps=20, size=(48, 64), gop=30, vfr=True),
    }


@pytest.mark.parametrize("kind", ["cfr", "bframes", "vfr"])
def test_parallel_decoding_returns_exactly_the_frames_of_one_decoder(videos, kind, monkeypatch):
    video = videos[kind]
    rng = np.random.default_rng(3)
    times = np.concatenate([rng.uniform(0, video.timestamps[-1] + 1, 40), [0.0, 0.0, 30.0, 1e9]])
    monkeypatch.setenv("MMLONG_DECODE_WORKERS", "1")
    with mv.open(video.path) as source:
        ref_frames, ref_times = source.frames_at(times)
    monkeypatch.setenv("MMLONG_DECODE_WORKERS", "3")
    with mv.open(video.path) as source:
        frames, actual = source.frames_at(times)
        again, _ = source.frames_at(times[::-1])  # the workers' containers are reused
        assert len(source._pool) == 3
    expected = video.index_at(times).tolist()
    assert [read_frame_index(f) for f in frames] == expected
    np.testing.assert_array_equal(frames, ref_frames)
    np.testing.assert_array_equal(actual, ref_times)
    np.testing.assert_array_equal(again, frames[::-1])


def test_each_gop_is_decoded_at_most_once_across_workers(videos, monkeypatch, decoded_times):
    video = videos["cfr"]  # keyframe every 2 s
    monkeypatch.setenv("MMLONG_DECODE_WORKERS", "2")
    times = np.arange(0.5, 120, 1.0)  # two targets in every GOP
    with mv.open(video.path) as source:
        frames, _ = source.frames_at(times)
        assert len(source._pool) == 2
    assert [read_frame_index(f) for f in frames] == video.index_at(times).tolist()
    decoded = [round(t * 10) for t in decoded_times]
    assert len(decoded) == len(set(decoded)) <= video.num_frames  # no frame decoded twice


def test_a_fresh_decoder_seeks_to_its_first_target_instead_of_decoding_from_the_start(videos, decoded_times):
    with mv.open(videos["cfr"].path) as source:
        frames, _ = source.frames_at([100.05])
    assert read_frame_index(frames[0]) == 1000
    assert len(decoded_times) <= 20 + 2  # one GOP (20 frames), not the 1000 frames before it


def test_bad_worker_setting_is_one_line(videos, monkeypatch):
    monkeypatch.setenv("MMLONG_DECODE_WORKERS", "two")
    with mv.open(videos["cfr"].path) as source, pytest.raises(MmlongError, match="MMLONG_DECODE_WORKERS"):
        source.frames_at([1.0, 50.0])
