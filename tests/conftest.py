"""Shared test setup: offline mode, deterministic threads, tiny configs."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _cpu_by_default(request, monkeypatch):
    """mmlong.load picks CPU in every test not marked gpu, so the CPU suite compares CPU with CPU on a GPU machine."""
    if request.node.get_closest_marker("gpu") is None:
        monkeypatch.setattr("mmlong.api._default_device", lambda: "cpu")


# Token ids used by hand-built layouts (match the tiny byte-level tokenizer's specials).
TEXT, VSTART, VEND, IMG, VID = 7, 259, 260, 261, 262


def make_config(family: str = "qwen2_5_vl", *, head_dim: int = 32, theta: float = 1e4, sections=None,
                rope_type: str = "default", max_pos: int = 4096, **rope_extra):
    """A tiny transformers config of ``family`` (no weights), built offline."""
    import transformers as T

    q3 = family.startswith("qwen3")
    n = head_dim // 2
    hw = round(n * 20 / 64)
    sections = list(sections or ([n - 2 * hw, hw, hw] if q3 else [n // 4, 3 * n // 8, n - n // 4 - 3 * n // 8]))
    rope = {"rope_type": rope_type, "rope_theta": theta, "mrope_section": sections, **rope_extra}
    text = dict(hidden_size=4 * head_dim, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2, head_dim=head_dim, vocab_size=300, rope_parameters=rope,
                max_position_embeddings=max_pos, bos_token_id=None, eos_token_id=258, pad_token_id=256)
    ids = dict(image_token_id=IMG, video_token_id=VID, vision_start_token_id=VSTART, vision_end_token_id=VEND)
    if family == "qwen2_vl":
        return T.Qwen2VLConfig(text_config=text, vision_config=dict(depth=2, embed_dim=64, hidden_size=4 * head_dim,
                               num_heads=2, mlp_ratio=2, patch_size=14, spatial_merge_size=2, temporal_patch_size=2), **ids)
    if family == "qwen2_5_vl":
        return T.Qwen2_5_VLConfig(text_config=text, vision_config=dict(depth=2, hidden_size=64, out_hidden_size=4 * head_dim,
                                  num_heads=2, intermediate_size=128, tokens_per_second=2, window_size=56,
                                  fullatt_block_indexes=[1], spatial_merge_size=2, patch_size=14, temporal_patch_size=2), **ids)
    if family == "qwen3_vl":
        return T.Qwen3VLConfig(text_config=text, vision_config=dict(depth=2, hidden_size=64, out_hidden_size=4 * head_dim,
                               num_heads=2, intermediate_size=128, patch_size=16, spatial_merge_size=2, temporal_patch_size=2,
                               num_position_embeddings=64, deepstack_visual_indexes=[0]), **ids)
    raise ValueError(family)


@pytest.fixture
def config_factory():
    return make_config
