"""Released-format Long-CLIP checkpoints: written here from a random tiny model in the authors' key layout,
loaded into open_clip and transformers, compared with a reference forward of the two-table formula."""

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("open_clip")

import longclip_reference as ref  # noqa: E402

from mmlong.errors import MmlongError  # noqa: E402
from mmlong.vision import convert_to_transformers, load_longclip, stretch_positional_embedding  # noqa: E402
from mmlong.vision.features import image_features, text_features  # noqa: E402
from mmlong.vision.tiny import tiny_open_clip  # noqa: E402

HEADS = 2  # the tiny model's heads (released models follow width // 64)


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """A longclip-*.pt lookalike: OpenAI keys + positional_embedding / _res (248 rows, rows >= 20 differ)."""
    model = tiny_open_clip(width=32, layers=2, seed=3)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    pe = stretch_positional_embedding(state["positional_embedding"])
    g = torch.Generator().manual_seed(1)
    state["positional_embedding"] = pe
    state["positional_embedding_res"] = pe + torch.randn(pe.shape, generator=g)  # as if fine-tuned
    state["positional_embedding_res"][:20] = 0.0  # never read (mask2 is 0 there)
    path = tmp_path_factory.mktemp("ckpt") / "longclip-T.pt"
    torch.save(state, path)
    return path, state


def _inputs():
    g = torch.Generator().manual_seed(2)
    ids = torch.zeros(3, 248, dtype=torch.long)
    for i, n in enumerate((6, 120, 240)):  # short text and text far past 77 tokens
        ids[i, 0], ids[i, 1:n - 1], ids[i, n - 1] = 998, torch.randint(1, 990, (n - 2,), generator=g), 999
    return ids, torch.randn(2, 3, 32, 32, generator=g)


@pytest.mark.parametrize("library", ["open_clip", "transformers"])
def test_released_checkpoint_matches_the_two_table_reference(released, library):
    path, state = released
    ids, pixels = _inputs()
    model = load_longclip(path, library=library, heads=HEADS)
    with torch.no_grad():
        want_t, want_i = ref.text_features(state, ids, HEADS), ref.image_features(state, pixels, HEADS)
        got_t, got_i = text_features(model, ids), image_features(model, pixels)
    torch.testing.assert_close(got_t, want_t, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(got_i, want_i, rtol=1e-4, atol=1e-5)
    with torch.no_grad():  # the _res table really is read past row 20
        broken = dict(state, positional_embedding_res=state["positional_embedding"])
        assert (ref.text_features(broken, ids, HEADS)[1:] - want_t[1:]).abs().max() > 1e-3


def test_converted_folder_is_a_plain_transformers_clip(released, tmp_path):
    import json

    import transformers

    path, state = released
    out = convert_to_transformers(path, tmp_path / "hf", heads=HEADS)
    config = json.loads((out / "config.json").read_text())
    # nothing mmlong-specific: the stock CLIPModel class, no remote code, 248 text positions
    assert config["architectures"] == ["CLIPModel"] and config["model_type"] == "clip" and "auto_map" not in config
    assert config["text_config"]["max_position_embeddings"] == 248
    assert config["text_config"]["hidden_act"] == config["vision_config"]["hidden_act"] == "quick_gelu"
    model = transformers.CLIPModel.from_pretrained(out).eval()
    ids, pixels = _inputs()
    with torch.no_grad():
        got_t = model.get_text_features(input_ids=ids).pooler_output
        got_i = model.get_image_features(pixel_values=pixels).pooler_output
        torch.testing.assert_close(got_t, ref.text_features(state, ids, HEADS), rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(got_i, ref.image_features(state, pixels, HEADS), rtol=1e-4, atol=1e-5)


def test_loads_into_a_given_open_clip_model(released):
    path, state = released
    model = tiny_open_clip(width=32, layers=2, seed=9)  # 77 positions, other weights
    load_longclip(path, model=model, heads=HEADS)
    assert model.context_length == 248 and model.attn_mask.shape == (248, 248)
    ids, _ = _inputs()
    with torch.no_grad():
        torch.testing.assert_close(text_features(model, ids), ref.text_features(state, ids, HEADS),
                                   rtol=1e-4, atol=1e-5)


def test_bad_checkpoints_fail_in_one_line(released, tmp_path):
    _, state = released
    with pytest.raises(MmlongError, match=r"unexpected key\(s\) in the Long-CLIP checkpoint: text.extra"):
        load_longclip(dict(state, **{"text.extra": torch.zeros(1)}))
    with pytest.raises(MmlongError, match="lacks ln_final.weight"):
        load_longclip({k: v for k, v in state.items() if k != "ln_final.weight"})
    (tmp_path / "junk.pt").write_text("not a checkpoint")
    with pytest.raises(MmlongError, match="not a readable state dict"):
        load_longclip(tmp_path / "junk.pt")
    with pytest.raises(MmlongError, match="does not fit CLIP: missing"):
        load_longclip(state, model=tiny_open_clip(layers=3), heads=HEADS)


SENTENCES = ["A red bus waits at the corner.", "Don't   stop: the café's naïve résumé costs $3.50!!",
             "red circle, blue square, green triangle, white square.", "a long caption " * 120]


def test_converted_folder_ships_clips_tokenizer_at_248(tmp_path):
    """A checkpoint with CLIP's 49408-token vocabulary: AutoTokenizer reads the folder (no download),
    allows 248 tokens and gives open_clip's ids (the 360-token sentence truncated, end token last)."""
    import transformers
    from open_clip.tokenizer import SimpleTokenizer

    model = tiny_open_clip(width=32, layers=1, vocab=49408, seed=4)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    state["positional_embedding"] = stretch_positional_embedding(state["positional_embedding"])
    out = convert_to_transformers(state, tmp_path / "hf", heads=HEADS)
    tok = transformers.AutoTokenizer.from_pretrained(out)
    assert tok.model_max_length == 248
    want = SimpleTokenizer(context_length=248)(SENTENCES)
    for s, row in zip(SENTENCES, want):
        got = tok(s, truncation=True)["input_ids"]
        assert got == [int(i) for i in row if i != 0]
    assert len(tok(SENTENCES[-1], truncation=True)["input_ids"]) == 248
    batch = tok(SENTENCES[:2], padding="max_length", return_tensors="pt")["input_ids"]
    hf = transformers.CLIPModel.from_pretrained(out).eval()
    with torch.no_grad():  # padding with <|endoftext|> (hub) or 0 (open_clip) gives the same features
        torch.testing.assert_close(hf.get_text_features(input_ids=batch).pooler_output,
                                   hf.get_text_features(input_ids=want[:2]).pooler_output, rtol=0, atol=1e-5)


def test_a_model_with_another_vocabulary_gets_no_tokenizer(released, tmp_path):
    path, _ = released  # vocabulary of 1000 ids: CLIP's BPE would not fit it
    out = convert_to_transformers(path, tmp_path / "hf", heads=HEADS)
    assert (out / "config.json").is_file() and not (out / "tokenizer_config.json").exists()
