"""Sampling policies: name -> the planner function that turns frame settings into frame times and a size.

A policy decides, from a video's metadata, the model's vision settings and a
:class:`~mmlong.video.settings.FrameSettings`, which frames to decode and at what size
(:class:`~mmlong.tokens.planner.Plan`). Add one by writing a planner function
``(meta, info, settings, **estimate) -> Plan`` and one line here; targets are imported on use.
"""

from __future__ import annotations

POLICIES: dict[str, str] = {
    "mmlong": "mmlong.tokens.planner:plan_mmlong",  # real timestamps: exact 1/fps spacing, segment centres when capped
    "qwen-vl-utils": "mmlong.tokens.qwen_sampling:plan_qwen_vl_utils",  # qwen-vl-utils' frames, sizes and second_per_grid_ts
    "lmms-eval": "mmlong.tokens.lmms_sampling:plan_lmms_eval",  # lmms-eval's simple Qwen2.5-VL wrapper: 2 fps, 32 + last
    "lmms-eval-chat": "mmlong.tokens.lmms_sampling:plan_lmms_eval_chat",  # lmms-eval 0.7.3's chat wrapper: nframes 32
}
