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
def tiny_llama():
    """A random-weight 2-layer Llama causal LM (4 query heads, 2 key/value heads, SDPA) and (1, 300) ids."""
    import transformers as T

    cfg = T.LlamaConfig(vocab_size=100, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024)
    torch.manual_seed(0)
    model = T.LlamaForCausalLM._from_config(cfg, attn_implementation="sdpa").eval()
    return model, torch.randint(0, 100, (1, 300))
