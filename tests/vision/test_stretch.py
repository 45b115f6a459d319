"""Long-CLIP stretching: the table pinned on a hand-built input; open_clip and transformers CLIP in place."""

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("open_clip")

from mmlong.errors import MmlongError  # noqa: E402
from mmlong.vision import longclip, stretch_positional_embedding, tiny_hf_clip, tiny_open_clip  # noqa: E402
from mmlong.vision.features import text_features  # noqa: E402
from mmlong.vision.stretch import info, stretched_length  # noqa: E402

EOT, SOT = 999, 998


def test_stretch_pinned_on_a_hand_built_table():
    t = torch.tensor([[0.0, 0.0], [1.0, 10.0], [2.0, 20.0], [3.0, 30.0], [5.0, 41.0]])
    out = stretch_positional_embedding(t, keep=2, ratio=2)  # x = 2 + (p - 2) / 2
    want = torch.tensor([[0.0, 0.0], [1.0, 10.0],            # copied
                         [2.0, 20.0], [2.5, 25.0], [3.0, 30.0], [4.0, 35.5], [5.0, 41.0],  # interpolated
                         [6.0, 46.5]])                        # x = 4.5 > L-1: old4 + 0.5 * (old4 - old3)
    torch.testing.assert_close(out, want, rtol=0, atol=0)


def test_stretch_77_to_248_checks():
    p = torch.randn(77, 8, dtype=torch.float64)
    s = stretch_positional_embedding(p)
    assert s.shape == (248, 8) and s.dtype == torch.float64 and stretched_length(77) == 248
    torch.testing.assert_close(s[:20], p[:20], rtol=0, atol=0)
    for new, old in ((20, 20), (24, 21), (240, 75), (244, 76)):
        torch.testing.assert_close(s[new], p[old], rtol=0, atol=1e-6)
    torch.testing.assert_close(s[22], (p[20] + p[21]) / 2, rtol=0, atol=1e-6)
    torch.testing.assert_close(s[247], p[76] + 0.75 * (p[76] - p[75]), rtol=0, atol=1e-6)
    assert stretch_positional_embedding(p, length=300).shape == (300, 8)


@pytest.mark.parametrize("kw, words", [(dict(keep=77), "keep=77"), (dict(length=10), "shorter than keep"),
                                       (dict(ratio=0), "ratio")])
def test_stretch_refuses_bad_arguments(kw, words):
    with pytest.raises(MmlongError, match=words):
        stretch_positional_embedding(torch.zeros(77, 4), **kw)


def _ids(n_ctx, rows):
    ids = torch.zeros(len(rows), n_ctx, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = torch.tensor(r)
    return ids


SHORT = [[SOT, 5, 6, 7, EOT], [SOT, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, EOT]]  # under keep=20 tokens


def _long(n=240, seed=0):
    g = torch.Generator().manual_seed(seed)
    body = torch.randint(1, 990, (n - 2,), generator=g).tolist()
    return [SOT] + body + [EOT]


@pytest.mark.parametrize("build", ["open_clip", "hf_clip", "hf_text_proj", "hf_text"])
def test_longclip_in_place_keeps_short_text_and_reads_248_tokens(build):
    model = {"open_clip": lambda: tiny_open_clip(), "hf_clip": lambda: tiny_hf_clip(),
             "hf_text_proj": lambda: tiny_hf_clip(with_projection="text"),
             "hf_text": lambda: tiny_hf_clip(with_projection="text_only")}[build]()
    with torch.no_grad():
        before = text_features(model, _ids(77, SHORT))
        longclip(model)
        after = text_features(model, _ids(248, SHORT))
        torch.testing.assert_close(after, before, rtol=0, atol=1e-6)
        a, b = _long(), _long()
        b[150] = (b[150] % 900) + 1  # one token far past 77 differs
        fa, fb = text_features(model, _ids(248, [a, b]))
    assert (fa - fb).abs().max() > 1e-4  # position 150 reaches the pooled feature
    assert info(model).length == 248 and info(model).original_length == 77
    if build == "open_clip":
        assert model.context_length == 248 and model.positional_embedding.shape == (248, 32)
        assert model.attn_mask.shape == (248, 248) and torch.isinf(model.attn_mask[0, 1])
        assert model.attn_mask[1, 0] == 0
    else:
        text = getattr(model, "text_model", model)
        assert text.embeddings.position_ids.tolist() == [list(range(248))]
        assert text.config.max_position_embeddings == 248 and text.embeddings.position_embedding.num_embeddings == 248


def test_longclip_sets_the_tokenizer_length():
    import open_clip

    model, tok = tiny_open_clip(), open_clip.get_tokenizer("ViT-B-32")
    longclip(model, tokenizer=tok)
    assert tok("a photo").shape == (1, 248)


def test_longclip_refuses_a_model_that_is_not_clip():
    with pytest.raises(MmlongError, match="Linear is not a CLIP model"):
        longclip(torch.nn.Linear(2, 2))
