"""Shared training data: generated video-needle conversations plus hand-written rows (good and bad)."""

import json

import numpy as np
import pytest


@pytest.fixture(scope="session")
def vniah_data(tmp_path_factory):
    """24 vniah conversations of 6 s videos (``train.jsonl`` + ``videos/``)."""
    from mmlong.data.vniah import write_dataset

    root = tmp_path_factory.mktemp("vniah_train")
    write_dataset(root, 24, length=6, seed=1)
    return root


@pytest.fixture(scope="session")
def mixed_data(vniah_data, tmp_path_factory):
    """A JSONL mixing usable rows (video, image, multi-turn, ``conversations`` layout) and bad ones."""
    from PIL import Image

    root = tmp_path_factory.mktemp("mixed_train")
    Image.fromarray(np.full((64, 64, 3), 200, np.uint8)).save(root / "grey.png")
    video = str(vniah_data / json.loads((vniah_data / "train.jsonl").read_text().splitlines()[0])["videos"][0])
    rows = [
        {"messages": [{"role": "user", "content": "<video>What shape is shown?"},
                      {"role": "assistant", "content": "circle"}], "videos": [video]},
        {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "<image>Colour?"},
                      {"role": "assistant", "content": "grey"}, {"role": "user", "content": "Sure?"},
                      {"role": "assistant", "content": "yes"}], "images": ["grey.png"]},
        {"conversations": [{"from": "human", "value": "Say hi."}, {"from": "gpt", "value": "hi"}]},
        "not json at all {",
        {"messages": [{"role": "user", "content": "<video>Anything?"}]},  # no assistant turn
        {"messages": [{"role": "user", "content": "<video>Q"}, {"role": "assistant", "content": "A"}],
         "videos": ["missing.mp4"]},
        {"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}], "videos": [video]},
        {"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"},
                      {"role": "user", "content": "<image>late"}, {"role": "assistant", "content": "B"}],
         "images": ["grey.png"]},
        {"messages": [{"role": "user", "content": "<video><video>Two?"}, {"role": "assistant", "content": "no"}],
         "videos": [video, video]},
    ]
    lines = [r if isinstance(r, str) else json.dumps(r) for r in rows]
    (root / "data.jsonl").write_text("\n".join(lines) + "\n")
    return root / "data.jsonl"
