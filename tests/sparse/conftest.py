"""Fixtures shared by the sparse tests."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: one intra-op thread avoids OpenMP spin on a shared 2-core machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    """A 4 s, 4 fps, 64x64 H.264 clip with frame indices in its pixels."""
    from mmlong.data.synth_video import write_test_video

    path = tmp_path_factory.mktemp("sparse") / "clip.mp4"
    write_test_video(str(path), seconds=4, fps=4, size=(64, 64))
    return str(path)
