"""``python -m mmlong.demo_video OUT.mp4``: red for 10 s, then blue; kept if it exists."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

import mmlong.video as mv
from mmlong.demo_video import main
from mmlong.data.synth_video import read_frame_index

REPO = Path(__file__).resolve().parents[2]


def test_demo_video(tmp_path, capsys):
    out = tmp_path / "deep" / "dir" / "demo.mp4"
    assert main([str(out)]) == 0
    clip = mv.sample(out, num_frames=4)
    assert (clip.width, clip.height) == (128, 128)
    assert clip.duration == 20 and clip.source_fps == 30
    bottom = clip.frames[:, -32:].reshape(4, -1, 3).mean(axis=1)
    assert np.all(bottom[:2, 0] > 200) and np.all(bottom[:2, 2] < 60)  # red first
    assert np.all(bottom[2:, 2] > 200) and np.all(bottom[2:, 0] < 60)  # then blue
    assert [read_frame_index(f) for f in clip.frames] == [75, 225, 375, 525]
    stamp = out.stat().st_mtime_ns
    assert main([str(out)]) == 0 and out.stat().st_mtime_ns == stamp
    assert "exists" in capsys.readouterr().out
    assert main([]) == 2


def test_demo_video_module_entry_point(tmp_path):
    out = tmp_path / "demo.mp4"
    out.write_bytes(b"keep me")  # exists: must not be overwritten, and must run as -m
    cmd = [sys.executable, "-m", "mmlong.demo_video", str(out)]
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == b"keep me"
