"""A reference forward of the authors' Long-CLIP on its raw state dict (two position tables), for tests.

Plain tensor code, independent of open_clip and transformers: the text encoder adds
``mask1 * positional_embedding + mask2 * positional_embedding_res`` (mask1 = 1 on rows < keep),
runs causal pre-LN blocks with QuickGELU MLPs, pools at the largest token id and projects; the
image encoder is the OpenAI ViT (class token, ``ln_pre``, blocks, ``ln_post`` on the class token).
"""

import torch
import torch.nn.functional as F


def _block(state, prefix, x, heads, mask):
    g = lambda name: state[prefix + name]  # noqa: E731
    h = F.layer_norm(x, x.shape[-1:], g("ln_1.weight"), g("ln_1.bias"), 1e-5)
    q, k, v = (h @ g("attn.in_proj_weight").t() + g("attn.in_proj_bias")).chunk(3, -1)
    B, T, W = q.shape
    split = lambda t: t.reshape(B, T, heads, W // heads).transpose(1, 2)  # noqa: E731
    att = (split(q) @ split(k).transpose(-1, -2)) / (W // heads) ** 0.5
    if mask is not None:
        att = att + mask
    o = (att.softmax(-1) @ split(v)).transpose(1, 2).reshape(B, T, W)
    x = x + o @ g("attn.out_proj.weight").t() + g("attn.out_proj.bias")
    h = F.layer_norm(x, x.shape[-1:], g("ln_2.weight"), g("ln_2.bias"), 1e-5)
    h = h @ g("mlp.c_fc.weight").t() + g("mlp.c_fc.bias")
    h = h * torch.sigmoid(1.702 * h)  # QuickGELU
    return x + h @ g("mlp.c_proj.weight").t() + g("mlp.c_proj.bias")


def _layers(state, prefix):
    return 1 + max(int(k[len(prefix):].split(".")[0]) for k in state if k.startswith(prefix))


def text_features(state, ids, heads, keep=20):
    n = state["positional_embedding"].shape[0]
    mask1 = (torch.arange(n) < keep).float().unsqueeze(1)
    pos = mask1 * state["positional_embedding"] + (1 - mask1) * state["positional_embedding_res"]
    x = state["token_embedding.weight"][ids] + pos[: ids.shape[1]]
    causal = torch.full((ids.shape[1],) * 2, float("-inf")).triu(1)
    for i in range(_layers(state, "transformer.resblocks.")):
        x = _block(state, f"transformer.resblocks.{i}.", x, heads, causal)
    x = F.layer_norm(x, x.shape[-1:], state["ln_final.weight"], state["ln_final.bias"], 1e-5)
    return x[torch.arange(len(ids)), ids.argmax(-1)] @ state["text_projection"]


def image_features(state, pixels, heads):
    w = state["visual.conv1.weight"]
    x = F.conv2d(pixels, w, stride=w.shape[-1]).flatten(2).transpose(1, 2)
    cls = state["visual.class_embedding"].expand(len(x), 1, -1)
    x = torch.cat([cls, x], 1) + state["visual.positional_embedding"]
    x = F.layer_norm(x, x.shape[-1:], state["visual.ln_pre.weight"], state["visual.ln_pre.bias"], 1e-5)
    for i in range(_layers(state, "visual.transformer.resblocks.")):
        x = _block(state, f"visual.transformer.resblocks.{i}.", x, heads, None)
    x = F.layer_norm(x[:, 0], x.shape[-1:], state["visual.ln_post.weight"], state["visual.ln_post.bias"], 1e-5)
    return x @ state["visual.proj"]
