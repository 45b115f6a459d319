"""Released Long-CLIP checkpoints at the real architectures: ViT-B/16 loaded into both libraries
(random weights in the released layout, no download), ViT-L/14 key and shape mapping on the meta device."""

import pytest

torch = pytest.importorskip("torch")
open_clip = pytest.importorskip("open_clip")

from mmlong.vision import load_longclip, stretch_positional_embedding  # noqa: E402
from mmlong.vision.checkpoint import _hf_config, merge_tables, openai_shapes, openai_to_hf  # noqa: E402
from mmlong.vision.features import image_features, text_features  # noqa: E402

B16 = dict(embed_dim=512, text_width=512, text_layers=12, text_heads=8, context=248, vocab=49408, vision_width=768,
           vision_layers=12, vision_heads=12, patch=16, image_size=224, mlp=2048)
L14 = dict(embed_dim=768, text_width=768, text_layers=12, text_heads=12, context=248, vocab=49408, vision_width=1024,
           vision_layers=24, vision_heads=16, patch=14, image_size=224, mlp=3072)


def _released(state):
    """An OpenAI-layout state made into the released layout: two 248-row tables, rows >= 20 differing."""
    pe = stretch_positional_embedding(state["positional_embedding"])
    out = dict(state)
    out["positional_embedding"] = pe
    out["positional_embedding_res"] = pe + 0.01 * torch.randn(pe.shape, generator=torch.Generator().manual_seed(0))
    return out


def test_vit_b16_release_loads_into_open_clip_and_transformers_with_the_same_features():
    torch.manual_seed(0)
    base = open_clip.create_model("ViT-B-16-quickgelu")  # random weights, OpenAI key layout
    state = _released({k: v.detach() for k, v in base.state_dict().items() if k != "attn_mask"})
    del base
    assert openai_shapes(merge_tables(state)) == B16
    oc = load_longclip(state)
    hf = load_longclip(state, library="transformers")
    ids = torch.zeros(2, 248, dtype=torch.long)
    ids[0, :6] = torch.tensor([49406, 320, 1125, 539, 320, 49407])
    ids[1, 0], ids[1, 1:199], ids[1, 199] = 49406, torch.randint(300, 40000, (198,)), 49407  # past token 77
    pixels = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        t_oc, t_hf = text_features(oc, ids), text_features(hf, ids)
        i_oc, i_hf = image_features(oc, pixels), image_features(hf, pixels)
    torch.testing.assert_close(t_hf, t_oc, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(i_hf, i_oc, rtol=1e-4, atol=1e-4)
    assert oc.context_length == 248 and hf.config.text_config.max_position_embeddings == 248
    table = oc.positional_embedding.detach()  # rows < 20 from the first table, the rest from _res
    torch.testing.assert_close(table[:20], state["positional_embedding"][:20])
    torch.testing.assert_close(table[20:], state["positional_embedding_res"][20:])


def test_vit_l14_release_maps_every_key_at_its_shape():
    from open_clip.model import CLIP

    cfg = open_clip.get_model_config("ViT-L-14-quickgelu")
    with torch.device("meta"):  # shapes only: no memory, no weights
        base = CLIP(**cfg)
        state = {k: v for k, v in base.state_dict().items() if k != "attn_mask"}
        state["positional_embedding"] = torch.empty(248, 768)
        state["positional_embedding_res"] = torch.empty(248, 768)
        merged = merge_tables(state)
        shapes = openai_shapes(merged)
        assert shapes == L14
        import transformers as tf

        hf = tf.CLIPModel(_hf_config(shapes))
    want = {k: tuple(v.shape) for k, v in hf.state_dict().items() if not k.endswith("position_ids")}
    got = {k: tuple(v.shape) for k, v in openai_to_hf(merged).items()}
    assert got == want
