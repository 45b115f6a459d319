"""``mmlong train longclip`` end to end on a tiny CLIP: the loss falls, resume continues the curve,
the frozen rows stay, the export loads back; bad input is one line."""

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("open_clip")
pytest.importorskip("accelerate")

from mmlong.cli import main  # noqa: E402
from mmlong.data.scenes import make_scenes, write_caption_folder  # noqa: E402
from mmlong.errors import MmlongError  # noqa: E402
from mmlong.train.loop import read_log  # noqa: E402
from mmlong.vision import load_longclip, tiny_open_clip  # noqa: E402
from mmlong.vision.stretch import stretch_positional_embedding  # noqa: E402
from mmlong.vision.train import settings, short_caption, train_longclip  # noqa: E402

ARGS = ["--batch-size", "8", "--lr", "3e-3", "--warmup-steps", "0", "--schedule", "constant", "--save-every", "3",
        "--components", "4"]


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    return write_caption_folder(tmp_path_factory.mktemp("scenes"), make_scenes(16, seed=0, filler=6), size=32)


def _cli(scenes, out, steps, *extra):
    return main(["train", "longclip", "--model", "tiny", "--images", str(scenes / "images"), "--captions",
                 str(scenes / "captions.jsonl"), "--out", str(out), "--steps", str(steps), *ARGS, *extra])


def test_train_longclip_learns_resumes_and_exports(scenes, tmp_path, capsys, quiet_threads):
    full = train_longclip("tiny", scenes / "images", scenes / "captions.jsonl",
                          settings(tmp_path / "full", steps=6, batch_size=8, lr=3e-3, warmup_steps=0,
                                   schedule="constant", save_every=3), components=4, echo=False)
    losses = [r["loss"] for r in read_log(tmp_path / "full")]
    assert len(losses) == 6 and losses[-1] < losses[0] * 0.8
    # killed after 3 steps and run again: the curve continues exactly
    assert _cli(scenes, tmp_path / "cut", 3) == 0
    assert _cli(scenes, tmp_path / "cut", 6) == 0
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["resumed_from"] == 3 and last["step"] == 6
    resumed = [r["loss"] for r in read_log(tmp_path / "cut")]
    assert resumed == pytest.approx(losses, rel=1e-5, abs=1e-6)
    # the export is a released-layout checkpoint; rows < 20 are the stretched original rows
    model = load_longclip(full["exported"], heads=2)
    start = stretch_positional_embedding(tiny_open_clip(vocab=49408, seed=0).positional_embedding)
    table = model.positional_embedding.detach()
    torch.testing.assert_close(table[:20], start[:20], rtol=0, atol=0)
    assert (table[20:] - start[20:]).abs().max() > 1e-4 and model.context_length == 248


def test_short_caption_is_the_first_sentence():
    assert short_caption("A red bus. It waits at a stop.") == "A red bus."
    assert short_caption("no full stop here") == "no full stop here"


@pytest.mark.parametrize("extra, needle", [
    (["--length", "10"], "length 10 is shorter than keep=20"),
    (["--keep", "100"], "keep=100 leaves nothing to stretch"),
])
def test_bad_stretch_arguments_are_one_line(extra, needle, scenes, tmp_path, capsys):
    assert _cli(scenes, tmp_path / "bad", 1, *extra) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and err.startswith("mmlong: error:") and len(err.splitlines()) == 1


def test_checkpoint_with_unexpected_keys_is_one_line(scenes, tmp_path, capsys):
    state = tiny_open_clip(vocab=1000).state_dict()
    state["head.weight"] = torch.zeros(2)
    torch.save(state, tmp_path / "odd.pt")
    assert main(["train", "longclip", "--model", str(tmp_path / "odd.pt"), "--images", str(scenes / "images"),
                 "--captions", str(scenes / "captions.jsonl"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert "unexpected key(s) in the Long-CLIP checkpoint: head.weight" in err and len(err.splitlines()) == 1


def test_a_model_that_is_not_clip_is_refused(scenes, tmp_path):
    with pytest.raises(MmlongError, match="Linear is not a CLIP model"):
        train_longclip(torch.nn.Linear(2, 2), scenes / "images", scenes / "captions.jsonl",
                       settings(tmp_path / "x", steps=1, batch_size=8))


def test_bad_caption_rows_name_their_line(scenes, tmp_path):
    bad = tmp_path / "caps.jsonl"
    bad.write_text(json.dumps({"image": "missing.png", "long": "x"}) + "\n")
    with pytest.raises(MmlongError, match=r"caps.jsonl:1: image 'missing.png' is not in"):
        train_longclip("tiny", scenes / "images", bad, settings(tmp_path / "y", steps=1, batch_size=8))
