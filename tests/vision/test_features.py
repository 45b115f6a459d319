"""Text features: the causal trim of open_clip's text tower equals its full forward."""

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("open_clip")

from mmlong.vision import longclip, tiny_open_clip  # noqa: E402
from mmlong.vision.features import pad_ids, text_features  # noqa: E402
from mmlong.vision.train import freeze_rows  # noqa: E402

EOT = 999


def _ids(context, lengths, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.zeros(len(lengths), context, dtype=torch.long)
    for i, n in enumerate(lengths):
        ids[i, :n - 1] = torch.randint(1, 990, (n - 1,), generator=g)
        ids[i, n - 1] = EOT
    return ids


@pytest.mark.parametrize("stretched", [False, True])
def test_trimmed_text_tower_equals_the_full_forward(stretched):
    model = tiny_open_clip(seed=3)
    context = 77
    if stretched:
        longclip(model)
        freeze_rows(model, 20)  # a parametrized table, as in fine-tuning
        context = 248
    ids = _ids(context, [5, 12, 3] if not stretched else [5, 130, 40])
    full = model.encode_text(ids)
    got = text_features(model, ids)
    torch.testing.assert_close(got, full, rtol=1e-5, atol=1e-6)
    short = text_features(model, ids[:, :12 if not stretched else 130])  # shorter input, padded, same answer
    torch.testing.assert_close(short, full, rtol=1e-5, atol=1e-6)


def test_trim_runs_only_up_to_the_last_eot():
    model = tiny_open_clip(seed=1)
    seen = []
    hook = model.transformer.register_forward_hook(lambda m, a, out: seen.append(a[0].shape[1]))
    text_features(model, _ids(77, [4, 9]))
    hook.remove()
    assert seen == [9]
    assert pad_ids(model, _ids(9, [4, 9])).shape == (2, 77)
