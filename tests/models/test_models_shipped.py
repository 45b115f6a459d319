"""The tiny-vniah models that ship inside mmlong: they resolve by name, run under the scheme they were
trained with, and answer vniah_synth questions they never saw, well above chance."""

import numpy as np
import pytest

import mmlong
from mmlong.data.vniah import CHANCE, draw_doc, write_haystack
from mmlong.eval.tasks.base import doc_rng
from mmlong.models.hub import SHIPPED_DIR, describe, split_name
from mmlong.train.tiny_vlm import SCHEMES

SHIPPED = sorted(p.name.removeprefix("tiny-vniah-") for p in SHIPPED_DIR.glob("tiny-vniah-*")
                 if (p / "config.json").exists())


def test_the_recipe_models_ship():
    assert "native" in SHIPPED and set(SHIPPED) <= set(SCHEMES)
    size = sum(f.stat().st_size for p in SHIPPED_DIR.glob("tiny-vniah-*") for f in p.iterdir())
    assert size < 30e6  # a few MB each, under 30 MB in all


def test_names_resolve_to_the_trained_scheme():
    assert split_name("tiny-vniah") == ("tiny-vniah", "native")
    info = describe("tiny-vniah:native")
    assert info.family == "qwen2_5_vl" and info.config.text_config.hidden_size == 128
    for scheme in SHIPPED:
        assert mmlong.load(f"tiny-vniah:{scheme}").config.pos == scheme
    assert mmlong.load("tiny-vniah", pos="videorope").config.pos == "videorope"  # pos= overrides


@pytest.fixture(scope="module")
def docs(tmp_path_factory):
    """Unseen 16-s vniah videos (the eval stream, seed 7): 12 per kind."""
    root = tmp_path_factory.mktemp("shipped_vniah")
    out = []
    for kind in ("what", "when", "order"):
        for j in range(12):
            rng = doc_rng(7, "vniah", kind, 16, j)
            doc = draw_doc(kind, 16, rng.uniform(0.1, 0.9), rng)
            path = write_haystack(root / f"{kind}_{j}.mp4", doc, size=96, seed=j)
            out.append((doc, str(path)))
    return out


@pytest.mark.parametrize("scheme", SHIPPED)
def test_a_shipped_model_answers_unseen_videos(scheme, docs, quiet_threads):
    pipe = mmlong.load(f"tiny-vniah:{scheme}", fps=1.0, max_frames=160, max_new_tokens=8)
    right: dict = {}
    for doc, path in docs:
        text = pipe.ask(doc["question"], video=path).text.strip()
        right.setdefault(doc["kind"], []).append(text == doc["answer"])
    acc = {k: float(np.mean(v)) for k, v in right.items()}
    assert acc["what"] >= 0.9, acc
    assert acc["when"] >= CHANCE["when"] + 0.3 and acc["order"] >= CHANCE["order"] + 0.25, acc

