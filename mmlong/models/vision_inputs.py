"""Qwen-VL model inputs without transformers' processors (numpy patchify + the tokenizer).

transformers' Qwen video processors need torchvision, which mmlong cannot install beside CPU
torch, so mmlong builds ``pixel_values`` / ``*_grid_thw`` itself. :func:`patchify` reproduces
``Qwen2VLImageProcessorPil`` exactly (PIL bicubic resize to :func:`smart_resize` dims, rescale,
normalize, patch layout) and applies the same layout to videos.

Patch layout, worked example: a 2-frame 56x84 clip with patch p=14, merge m=2, tps=2 has
grid (g_t, g_h, g_w) = (1, 4, 6). The frames (T=2, H, W, C) are viewed as
(g_t, tps, g_h/m, m, p, g_w/m, m, p, C) = (1, 2, 2, 2, 14, 3, 2, 14, 3) and permuted to
(g_t, g_h/m, g_w/m, m_h, m_w, C, tps, p_h, p_w), giving 1*4*6 = 24 rows of 3*2*14*14 = 1176
values; rows 0-3 are the 2x2 patches of merged token (0, 0), so the LLM sees 24/4 = 6 tokens.

Frame pixels: :class:`VisionSpec` limits are per image / per video frame, as in the Qwen2-VL
processors. Video frames use ``video_min_pixels`` / ``video_max_pixels`` when set.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
from typing import Any, Callable, Sequence

import numpy as np

from mmlong.errors import MmlongError
from mmlong.models.families import family_of
from mmlong.models.prompt import IMAGE_PAD, VIDEO_PAD, chat_parts, encode, image_parts, video_parts

__all__ = ["VisionSpec", "smart_resize", "patchify", "is_image", "load_images", "build_inputs", "build_batch",
           "model_inputs"]

OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
HALF = (0.5, 0.5, 0.5)


@dataclasses.dataclass(frozen=True)
class VisionSpec:
    """Vision preprocessing settings (one per model).

    Attributes:
        patch_size: ViT patch side (14 for Qwen2/2.5-VL, 16 for Qwen3-VL).
        merge_size: spatial merge (2): merge^2 patches become one LLM token.
        temporal_patch_size: frames per temporal patch (2).
        min_pixels, max_pixels: pixel range of a resized image (per image).
        image_mean, image_std: per-channel normalization (RGB).
        video_min_pixels, video_max_pixels: pixel range of one resized video frame; None uses
            the image range. mmlong's defaults are the per-frame caps of the reference
            ``qwen-vl-utils`` (128..768 tokens' worth per frame for Qwen2/2.5), not the
            processors' whole-video budgets: long-video token budgets are set by the caller.
    """

    patch_size: int
    merge_size: int
    temporal_patch_size: int
    min_pixels: int
    max_pixels: int
    image_mean: tuple[float, ...]
    image_std: tuple[float, ...]
    video_min_pixels: int | None = None
    video_max_pixels: int | None = None

    @property
    def factor(self) -> int:
        """Resized sides are multiples of this (patch_size * merge_size)."""
        return self.patch_size * self.merge_size

    def image_hw(self, height: int, width: int) -> tuple[int, int]:
        """Resized (h, w) of an image."""
        return smart_resize(height, width, self.factor, self.min_pixels, self.max_pixels)

    def video_hw(self, height: int, width: int) -> tuple[int, int]:
        """Resized (h, w) of every frame of a video."""
        lo = self.video_min_pixels if self.video_min_pixels is not None else self.min_pixels
        hi = self.video_max_pixels if self.video_max_pixels is not None else self.max_pixels
        return smart_resize(height, width, self.factor, lo, hi)

    @classmethod
    def for_family(cls, family: Any) -> "VisionSpec":
        """Defaults of the released processors: Qwen2/2.5-VL patch 14, images 56*56..28*28*1280,
        CLIP mean/std, frames 128*28*28..768*28*28; Qwen3-VL patch 16, images 65536..16777216,
        mean/std 0.5, frames 4096..768*32*32 (its shortest_edge; the per-frame token cap)."""
        if family_of(family).default_patch_size == 16:
            return cls(16, 2, 2, 65536, 16777216, HALF, HALF, 4096, 768 * 32 * 32)
        return cls(14, 2, 2, 56 * 56, 28 * 28 * 1280, OPENAI_CLIP_MEAN, OPENAI_CLIP_STD,
                   128 * 28 * 28, 768 * 28 * 28)

    @classmethod
    def from_pretrained(cls, name_or_path: str, **hub_kwargs: Any) -> "VisionSpec":
        """Read ``preprocessor_config.json`` (+ ``video_preprocessor_config.json``) of a model.

        Files are resolved by ``transformers.utils.cached_file`` (hub id or local dir,
        ``hub_kwargs`` such as ``revision`` / ``cache_dir`` passed on). Defaults come from
        ``config.json``'s family (or patch size 16 -> Qwen3-VL). ``min_pixels``/``max_pixels``
        keys win over ``size`` as in the processors. A Qwen3-VL video config's ``size`` is a
        whole-video budget; mmlong uses ``shortest_edge`` as the per-frame minimum and
        ``min(longest_edge, max_video_tokens * factor^2)`` as the per-frame maximum.
        """
        image_cfg = _read_json(name_or_path, "preprocessor_config.json", hub_kwargs)
        video_cfg = _read_json(name_or_path, "video_preprocessor_config.json", hub_kwargs)
        model_cfg = _read_json(name_or_path, "config.json", hub_kwargs)
        if image_cfg is None and video_cfg is None:
            raise MmlongError(f"no preprocessor_config.json found for {name_or_path!r}; pass a Qwen-VL model dir or a "
                              "hub id that is in the HF cache (HF_HUB_OFFLINE=1 blocks downloads)")
        try:
            base = cls.for_family(family_of(model_cfg.get("model_type", "")) if model_cfg else "")
        except MmlongError:
            patch = (image_cfg or video_cfg).get("patch_size", 14)
            base = cls.for_family("qwen3_vl" if patch == 16 else "qwen2_vl")
        cfg = image_cfg or video_cfg
        lo, hi = _pixel_range(cfg, base.min_pixels, base.max_pixels)
        spec = cls(int(cfg.get("patch_size", base.patch_size)), int(cfg.get("merge_size", base.merge_size)),
                   int(cfg.get("temporal_patch_size", base.temporal_patch_size)), lo, hi,
                   tuple(cfg.get("image_mean", base.image_mean)), tuple(cfg.get("image_std", base.image_std)),
                   base.video_min_pixels, base.video_max_pixels)
        if video_cfg is not None:
            vlo, vhi = _pixel_range(video_cfg, spec.video_min_pixels, spec.video_max_pixels)
            if "Qwen3VL" in str(video_cfg.get("video_processor_type", "")) or spec.patch_size == 16:
                vhi = min(vhi, int(video_cfg.get("max_video_tokens", 768)) * spec.factor**2)
            spec = dataclasses.replace(spec, video_min_pixels=vlo, video_max_pixels=vhi)
        return spec


def _read_json(name_or_path: str, filename: str, hub_kwargs: dict) -> dict | None:
    from transformers.utils import cached_file

    path = cached_file(name_or_path, filename, _raise_exceptions_for_missing_entries=False,
                       _raise_exceptions_for_connection_errors=False, **hub_kwargs)
    if path is None:
        return None
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def _pixel_range(cfg: dict, lo: int | None, hi: int | None) -> tuple[int, int]:
    size = cfg.get("size") or {}
    lo = cfg.get("min_pixels") or size.get("shortest_edge") or lo
    hi = cfg.get("max_pixels") or size.get("longest_edge") or hi
    return int(lo), int(hi)


def smart_resize(height: int, width: int, factor: int = 28, min_pixels: int = 56 * 56,
                 max_pixels: int = 14 * 14 * 4 * 1280) -> tuple[int, int]:
    """Resize target (h, w): multiples of ``factor``, area within [min, max], aspect kept.

    Identical to ``transformers.models.qwen2_vl.image_processing_qwen2_vl.smart_resize``,
    e.g. ``smart_resize(64, 64, 28, 56*56, 28*28*1280) == (56, 56)``.

    Raises:
        MmlongError: aspect ratio above 200.
    """
    if max(height, width) / min(height, width) > 200:
        raise MmlongError(f"aspect ratio {max(height, width) / min(height, width):.0f} of a {height}x{width} "
                          "image is above 200; crop or pad it first")
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def patchify(frames: Any, spec: VisionSpec, *, resized_hw: tuple[int, int] | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
    """Resize, normalize and flatten frames into Qwen-VL patches.

    Args:
        frames: uint8 (T, H, W, 3) frames, or one (H, W, 3) image (T = 1).
        spec: the vision settings.
        resized_hw: target (h, w), multiples of ``spec.factor``; default ``spec.image_hw(H, W)``.

    Returns:
        pixel_values: float32 (g_t*g_h*g_w, 3*tps*p*p), rows in the processors' order.
        grid_thw: int64 (3,) = (ceil(T/tps), h/p, w/p). T is padded to a multiple of tps by
            repeating the last frame (an image becomes tps identical frames).
    """
    arr = np.asarray(frames)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[-1] != 3 or arr.dtype != np.uint8 or arr.shape[0] == 0:
        raise MmlongError(f"frames must be uint8 (T, H, W, 3) RGB, got {arr.dtype} {arr.shape}; convert with np.uint8")
    p, m, tps = spec.patch_size, spec.merge_size, spec.temporal_patch_size
    rh, rw = resized_hw if resized_hw is not None else spec.image_hw(arr.shape[1], arr.shape[2])
    if rh % spec.factor or rw % spec.factor:
        raise MmlongError(f"resized size {rh}x{rw} is not a multiple of {spec.factor}; use smart_resize")
    if (rh, rw) != arr.shape[1:3]:
        arr = _resize_frames(arr, rh, rw)
    if pad := -arr.shape[0] % tps:
        arr = np.concatenate([arr, np.repeat(arr[-1:], pad, axis=0)])
    gt, gh, gw = arr.shape[0] // tps, rh // p, rw // p
    n = gt * gh * gw
    # Patch layout on the uint8 pixels (a quarter of the bytes), then one table lookup per channel.
    u = arr.reshape(gt, tps, gh // m, m, p, gw // m, m, p, 3)
    u = np.ascontiguousarray(u.transpose(0, 2, 5, 3, 6, 8, 1, 4, 7)).reshape(n, 3, tps * p * p)  # (.., C, tps, p, p)
    lut = _normalize_table(tuple(spec.image_mean), tuple(spec.image_std))
    out = np.empty((n, 3, tps * p * p), np.float32)
    for c in range(3):
        np.take(lut[c], u[:, c], out=out[:, c])
    return out.reshape(n, 3 * tps * p * p), np.array([gt, gh, gw], np.int64)


def _resize_frames(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """PIL bicubic resize of (T, H, W, 3) frames, as the processors do; frames in parallel threads
    (PIL releases the GIL while resizing; the result does not depend on the thread count)."""
    from concurrent.futures import ThreadPoolExecutor

    from PIL import Image

    def one(f):
        return np.asarray(Image.fromarray(f).resize((width, height), Image.BICUBIC))

    workers = min(8, os.cpu_count() or 1, len(frames))
    if workers <= 1:
        return np.stack([one(f) for f in frames])
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return np.stack(list(pool.map(one, frames)))


@functools.lru_cache(maxsize=8)
def _normalize_table(mean: tuple, std: tuple) -> np.ndarray:
    """(3, 256) float32: channel c of pixel value v, normalized with the PIL processor's arithmetic
    (float64 rescale by 1/255 -> float32, then (x - mean) / std in float32), so the lookup is
    bit-identical to computing it per pixel."""
    x = (np.arange(256, dtype=np.float64) * (1 / 255)).astype(np.float32)
    return np.ascontiguousarray(((x[:, None] - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)).T)


def _image_array(img: Any) -> np.ndarray:
    if hasattr(img, "getbands"):  # PIL: composite transparency on white, as transformers does
        from PIL import Image

        if "A" in img.getbands() or img.info.get("transparency") is not None:
            rgba = img.convert("RGBA")
            img = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
        return np.asarray(img.convert("RGB"))
    return np.asarray(img)


def _is_single_clip(v: Any) -> bool:
    return hasattr(v, "frames") or (isinstance(v, tuple) and len(v) == 2 and getattr(v[0], "ndim", 0) == 4)


def _clip(v: Any) -> tuple[np.ndarray, np.ndarray]:
    frames, times = (v.frames, v.timestamps) if hasattr(v, "frames") else v
    frames = np.asarray(frames)
    times = np.asarray(times if times is not None else [], dtype=np.float64).reshape(-1)
    if frames.ndim != 4 or len(times) != len(frames):
        raise MmlongError(f"a video needs (T, H, W, 3) frames and T timestamps, got {frames.shape} frames and "
                          f"{len(times)} timestamps")
    if not np.all(np.isfinite(times)) or np.any(np.diff(times) < 0):
        raise MmlongError("video timestamps must be finite and non-decreasing seconds; fix the clip's .timestamps")
    return frames, times


def is_image(x: Any) -> bool:
    """A PIL image or a (H, W, C) array."""
    return hasattr(x, "getbands") or (isinstance(x, np.ndarray) and x.ndim == 3)


def _as_list(x: Any, single: Callable[[Any], bool]) -> list:
    return [] if x is None else [x] if single(x) else list(x)


def load_images(images: Any) -> list:
    """``images`` as a list of PIL images / arrays: one or a list of paths, ``file://`` / ``data:`` /
    http(s) URLs (:func:`mmlong.media_sources.local_path`), PIL images or (H, W, C) arrays.

    A path is opened with PIL and converted to RGB. Raises a one-line error naming the item
    when a path is missing or not an image, or an item is something else.
    """
    import os

    from mmlong.media_sources import label, local_path

    if images is None:
        return []
    items = [images] if isinstance(images, (str, os.PathLike)) or is_image(images) else list(images)
    out = []
    for i, item in enumerate(items):
        if is_image(item):
            out.append(item)
            continue
        if not isinstance(item, (str, os.PathLike)):
            raise MmlongError(f"image {i} is a {type(item).__name__}; pass a file path, a PIL image or a uint8 "
                              "(H, W, 3) array")
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(local_path(item, "image")) as im:
                out.append(im.convert("RGB"))
        except FileNotFoundError:
            raise MmlongError(f"image {label(item)} does not exist; pass the path of an image file") from None
        except (UnidentifiedImageError, IsADirectoryError, PermissionError, OSError) as exc:
            raise MmlongError(f"image {label(item)} cannot be read as an image ({type(exc).__name__}); pass a "
                              "PNG, JPEG, WebP, ... file") from None
    return out


def build_inputs(family: Any, tokenizer: Any, spec: VisionSpec | None, text: str | Sequence, *, images: Any = None,
                 videos: Any = None, system: str | None = None, add_generation_prompt: bool = True) -> dict:
    """Model inputs for one ChatML user turn: ``images``, then ``videos``, then ``text``.

    ``text`` may also be *interleaved content*: a list of strings, images and clips in the
    order the model should read them (the HF chat template's content list), e.g.
    ``[img0, "subtitle one", img1, "Which option?"]``. Strings are joined to the vision
    blocks with nothing in between, as the Qwen-VL chat templates render a content list;
    ``images`` / ``videos`` given as well come first.

    Args:
        family: family name / model / config (see :func:`~mmlong.models.families.family_of`).
        tokenizer: the model's tokenizer (only ``encode`` and ``convert_tokens_to_ids`` are used).
        spec: vision settings; None uses ``VisionSpec.for_family(family)``.
        text: the user's question, or an interleaved content list (see above).
        images: image file paths, PIL images or uint8 (H, W, 3) arrays (one or a list; see :func:`load_images`).
        videos: clips with ``.frames`` uint8 (T, H, W, 3) and ``.timestamps`` (T,) seconds, or
            ``(frames, timestamps)`` tuples (one or a list).
        system: system message; None = family default, "" = none.
        add_generation_prompt: end with ``<|im_start|>assistant\\n``.

    Returns:
        ``input_ids`` / ``attention_mask`` / ``mm_token_type_ids`` long (1, L) (types 0 text,
        1 image, 2 video); with images ``pixel_values`` float32 (N, 3*tps*p*p) and
        ``image_grid_thw`` long (n, 3), in the order the images appear; with videos
        ``pixel_values_videos``, ``video_grid_thw`` and ``video_timestamps`` (a list, per video,
        of the padded frame times in seconds; not a model kwarg, see :func:`model_inputs`); for
        qwen2_5_vl ``second_per_grid_ts`` float32 (n,) = the clip's ``second_per_grid_ts`` when
        set (a qwen-vl-utils plan), else tps * mean frame interval ((t_last - t_first) / (T - 1)
        over the unpadded frames, so variable-frame-rate clips get their average rate; 0.5 s for
        a 1-frame clip).
    """
    import torch

    fam = family_of(family)
    spec = spec if spec is not None else VisionSpec.for_family(fam)
    content = [*load_images(images), *_as_list(videos, _is_single_clip)]
    content += [text] if isinstance(text, str) else list(text)
    tps, out, parts = spec.temporal_patch_size, {}, []
    img_pv, img_grid, vid_pv, vid_grid, spgs, stamps = [], [], [], [], [], []
    for item in content:
        if isinstance(item, str):
            parts.append(item)
        elif _is_single_clip(item):
            frames, times = _clip(item)
            pv, grid = patchify(frames, spec, resized_hw=spec.video_hw(*frames.shape[1:3]))
            padded = np.concatenate([times, np.repeat(times[-1:], -len(times) % tps)]).tolist()
            vid_pv.append(pv), vid_grid.append(grid), stamps.append(padded)
            interval = (times[-1] - times[0]) / (len(times) - 1) if len(times) > 1 else 0.5
            told = getattr(item, "second_per_grid_ts", None)  # a qwen-vl-utils plan's nominal value
            spgs.append(float(told) if told else tps * float(interval))
            parts += video_parts(fam, grid, spec.merge_size, padded, tps)
        elif is_image(item):
            pv, grid = patchify(_image_array(item), spec)
            img_pv.append(pv), img_grid.append(grid)
            parts += image_parts(grid, spec.merge_size)
        else:
            raise MmlongError(f"content items must be text, images (PIL / uint8 HxWx3) or clips, got "
                              f"{type(item).__name__}; convert it or pass it via images=/videos=")
    if img_pv:
        out["pixel_values"] = torch.from_numpy(np.concatenate(img_pv))
        out["image_grid_thw"] = torch.from_numpy(np.stack(img_grid))
    if vid_pv:
        out["pixel_values_videos"] = torch.from_numpy(np.concatenate(vid_pv))
        out["video_grid_thw"] = torch.from_numpy(np.stack(vid_grid))
        if fam.name == "qwen2_5_vl":
            out["second_per_grid_ts"] = torch.tensor(spgs, dtype=torch.float32)
        out["video_timestamps"] = stamps
    parts = chat_parts(fam, "", parts, system=system, add_generation_prompt=add_generation_prompt)
    ids = torch.tensor([encode(parts, tokenizer)], dtype=torch.long)
    types = torch.zeros_like(ids)
    types[ids == tokenizer.convert_tokens_to_ids(IMAGE_PAD)] = 1
    types[ids == tokenizer.convert_tokens_to_ids(VIDEO_PAD)] = 2
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "mm_token_type_ids": types, **out}


_SEQ_PAD = {"input_ids": None, "attention_mask": 0, "mm_token_type_ids": 0}
_CONCAT = ("pixel_values", "image_grid_thw", "pixel_values_videos", "video_grid_thw", "second_per_grid_ts")


def build_batch(items: Sequence[dict], pad_token_id: int, padding_side: str = "left") -> dict:
    """Pad and stack :func:`build_inputs` dicts into one batch.

    Sequence tensors (1, L_i) become (B, max L) padded on ``padding_side`` (ids with
    ``pad_token_id``, mask and types with 0); vision tensors and ``video_timestamps`` are
    concatenated in item order, which is the order the model consumes them.

    Raises:
        MmlongError: empty list, bad padding_side, or an unknown key.
    """
    import torch

    if not items or padding_side not in ("left", "right"):
        raise MmlongError("build_batch needs a non-empty list and padding_side 'left' or 'right'")
    known = set(_SEQ_PAD) | set(_CONCAT) | {"video_timestamps"}
    if extra := {k for it in items for k in it} - known:
        raise MmlongError(f"build_batch cannot batch keys {sorted(extra)}; pass build_inputs() dicts")
    width = max(it["input_ids"].shape[1] for it in items)
    out: dict = {}
    for key, fill in _SEQ_PAD.items():
        rows = []
        for it in items:
            row = it[key]
            pad = row.new_full((1, width - row.shape[1]), pad_token_id if fill is None else fill)
            rows.append(torch.cat([pad, row] if padding_side == "left" else [row, pad], dim=1))
        out[key] = torch.cat(rows)
    for key in _CONCAT:
        if parts := [it[key] for it in items if key in it]:
            out[key] = torch.cat(parts)
    if stamps := [s for it in items for s in it.get("video_timestamps", [])]:
        out["video_timestamps"] = stamps
    return out


def model_inputs(inputs: dict) -> dict:
    """``inputs`` without mmlong's non-tensor extras (``video_timestamps``), ready for ``model(**...)``."""
    return {k: v for k, v in inputs.items() if k != "video_timestamps"}
