"""The real-model measurement helpers: per-layer attention sweep, end to end, RoPE extension, prose."""

import pytest
import torch

from mmlong.errors import MmlongError
from mmlong.sparse.measure import attention_sweep, end_to_end, extend_rope, prose_ids, prose_length


def test_sweep_dense_pattern_is_exact_on_every_layer(tiny_llama):
    model, ids = tiny_llama
    rows = attention_sweep(model, ids, "dense")
    assert [r["layer"] for r in rows] == [0, 1]
    for r in rows:
        assert r["recall"] == pytest.approx(1.0, abs=1e-5) and r["density"] == pytest.approx(1.0)
        assert r["dense_heads"] == 4 and len(r["head_recall"]) == 4


def test_sweep_sparse_recall_below_one_and_full_mass_exact(tiny_llama):
    model, ids = tiny_llama
    part = attention_sweep(model, ids, {"type": "block_mass", "p": 0.5, "block": 32, "samples": 4})
    full = attention_sweep(model, ids, {"type": "block_mass", "p": 1.0, "block": 32, "samples": 4})
    assert all(0.3 < r["recall"] < 0.999 and r["density"] < 1.0 for r in part)
    assert all(r["recall"] == pytest.approx(1.0, abs=1e-5) for r in full)
    only = attention_sweep(model, ids, "dense", layers={1})
    assert [r["layer"] for r in only] == [1]


def test_end_to_end_agreement(tiny_llama):
    model, ids = tiny_llama
    exact = end_to_end(model, ids, {"type": "block_mass", "p": 1.0, "block": 32, "samples": 4})
    assert exact["agreement"] == 1.0 and exact["dense_s"] > 0 and exact["sparse_s"] > 0
    assert exact["cos_last_hidden"] > 0.99999 and exact["sparse_calls"] == 2
    rough = end_to_end(model, ids, {"type": "a_shape", "n_init": 4, "n_local": 8})
    assert rough["cos_last_hidden"] < 0.9999  # the sparse path really ran
    assert model.config._attn_implementation == "sdpa"  # removed again


def test_extend_rope_yarn_changes_positions_beyond_the_context():
    import transformers as T

    cfg = T.LlamaConfig(vocab_size=10, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=128)
    model = T.LlamaForCausalLM._from_config(cfg).eval()
    x = torch.zeros(1, 1, 32)
    pos = torch.arange(512)[None]
    cos0, _ = model.model.rotary_emb(x, pos)
    assert extend_rope(model, 100, "yarn") == 1.0  # within the context: unchanged
    assert extend_rope(model, 512, "yarn") == 4.0
    rp = model.config.rope_parameters
    assert rp["rope_type"] == "yarn" and rp["factor"] == 4.0 and rp["original_max_position_embeddings"] == 128
    assert model.config.max_position_embeddings == 512
    cos1, _ = model.model.rotary_emb(x, pos)
    assert not torch.allclose(cos0, cos1)
    with pytest.raises(MmlongError, match="unknown RoPE extension"):
        extend_rope(model, 1024, "ntk-by-parts")


class _ByteTok:
    name_or_path = "bytes"

    def __call__(self, text, return_tensors=None):
        class R:
            input_ids = torch.tensor([list(text.encode()[:200000])])
        return R()


def test_prose_is_the_python_docs_and_ranges_are_checked():
    tok = _ByteTok()
    n = prose_length(tok)
    assert n == 200000  # the topics text is longer than the cut
    ids = prose_ids(tok, 64, start=10)
    assert ids.shape == (1, 64)
    assert bytes(ids[0].tolist()).isascii()
    with pytest.raises(MmlongError, match="do not fit"):
        prose_ids(tok, 64, start=n - 10)
