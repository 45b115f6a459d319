"""Shared test setup: offline mode, deterministic threads, tiny configs."""

# First: the torchvision op-schema fix, before any test module can import torchvision
# (transformers imports it whenever it is installed).
import mmlong._torchvision_fix as _torchvision_fix

_torchvision_fix.install()

import os  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _cpu_by_default(request, monkeypatch):
    """mmlong.load picks CPU in every test not marked gpu, so the CPU suite compares CPU with CPU on a GPU machine."""
    if request.node.get_closest_marker("gpu") is None:
        monkeypatch.setattr("mmlong.api._default_device", lambda: "cpu")


@pytest.fixture(scope="session")
def synth_video(tmp_path_factory):
    """The shared test video: 6 s, 10 fps, 64x64 H.264 whose frames show their own index
    (:class:`mmlong.data.synth_video.SynthVideo`: ``.path``, ``.index_at(times)``, ``.timestamps``)."""
    from mmlong.data.synth_video import write_test_video

    return write_test_video(tmp_path_factory.mktemp("shared") / "clip.mp4", seconds=6, fps=10, size=(64, 64))


@pytest.fixture(scope="session")
def video(synth_video) -> str:
    """The path of :func:`synth_video`, as a string."""
    return str(synth_video.path)


@pytest.fixture(scope="session")
def scene_clip(tmp_path_factory):
    """A tiny CLIP trained from scratch on generated scenes (:mod:`mmlong.vision.scene_clip`, seed 0,
    default steps: about 10 s on one core, once per session) and its saved state: ``(model, path)``."""
    pytest.importorskip("open_clip")
    import torch

    from mmlong.vision.scene_clip import train_scene_clip

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # numbers that do not depend on the machine's thread count
    try:
        model = train_scene_clip()
    finally:
        torch.set_num_threads(threads)
    path = tmp_path_factory.mktemp("scene_clip") / "scene_clip.pt"
    torch.save(model.state_dict(), path)
    return model, path


# Token ids used by hand-built layouts (match the tiny byte-level tokenizer's specials).
TEXT, VSTART, VEND, IMG, VID = 7, 259, 260, 261, 262


def make_config(family: str = "qwen2_5_vl", *, head_dim: int = 32, theta: float = 1e4, sections=None,
                rope_type: str = "default", max_pos: int = 4096, **rope_extra):
    """A tiny transformers config of ``family`` (no weights): mmlong's tiny table with a test rotary."""
    from mmlong.models.tiny import tiny_config

    return tiny_config(family, head_dim=head_dim, rope_theta=theta, sections=sections, rope_type=rope_type,
                       max_position_embeddings=max_pos, vocab_size=300, **rope_extra)


@pytest.fixture
def config_factory():
    return make_config


@pytest.fixture(scope="module")
def quiet_threads():
    """One intra-op thread: tiny tensors on a shared 2-core machine."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
