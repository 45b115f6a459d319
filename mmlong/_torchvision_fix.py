"""Make ``import torchvision`` work beside CPU torch (the ``clip`` extra's torchvision==0.28.0).

torchvision 0.28.0 is the only build whose metadata requires torch==2.13.0, so it is the one pip
can install without replacing the CPU torch; but it is a CUDA build, and its compiled ``_C.so``
fails to load without ``libtorch_cuda.so``. torchvision's Python side then registers fake kernels
for operators that were never defined, and ``import torchvision`` (and with it every transformers
model module, which imports torchvision whenever it is installed) raises
``operator torchvision::nms does not exist``.

The fix declares the schemas of the 14 operators ``_C.so`` would have defined, with no kernels,
before torchvision is first imported. Transforms, models, transformers' torchvision processors,
timm and open_clip then work; only the compiled ops (nms, roi_align, ...) raise when called.

:func:`install` (called first thing by ``mmlong/__init__.py``) puts an import hook on
``sys.meta_path`` so ``import mmlong`` stays free of torch: the first lookup of ``torchvision``
runs :func:`declare_missing`, which first tries to load torchvision's own ``_C.so`` and declares
only the schemas still missing afterwards (none where the build loads, e.g. with CUDA torch).
"""

from __future__ import annotations

import importlib.machinery
import os
import sys

__all__ = ["SCHEMAS", "install", "declare_missing"]

# operator name -> schema (arguments and returns), as torchvision 0.28.0's _C.so defines them
SCHEMAS = {
    "nms": "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "roi_align": "(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, SymInt pooled_width, "
                 "int sampling_ratio, bool aligned) -> Tensor",
    "_roi_align_backward": "(Tensor grad, Tensor rois, float spatial_scale, SymInt pooled_height, "
                           "SymInt pooled_width, SymInt batch_size, SymInt channels, SymInt height, SymInt width, "
                           "int sampling_ratio, bool aligned) -> Tensor",
    "qroi_align": "(Tensor input, Tensor rois, float input_scale, int input_zero_point, float rois_scale, "
                  "int rois_zero_point, float spatial_scale, SymInt pooled_height, SymInt pooled_width, "
                  "int sampling_ratio, bool aligned) -> Tensor",
    "ps_roi_align": "(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, SymInt pooled_width, "
                    "int sampling_ratio) -> (Tensor, Tensor)",
    "_ps_roi_align_backward": "(Tensor grad, Tensor rois, Tensor channel_mapping, float spatial_scale, "
                              "SymInt pooled_height, SymInt pooled_width, int sampling_ratio, SymInt batch_size, "
                              "SymInt channels, SymInt height, SymInt width) -> Tensor",
    "roi_pool": "(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, SymInt pooled_width) "
                "-> (Tensor, Tensor)",
    "_roi_pool_backward": "(Tensor grad, Tensor rois, Tensor argmax, float spatial_scale, SymInt pooled_height, "
                          "SymInt pooled_width, SymInt batch_size, SymInt channels, SymInt height, SymInt width) "
                          "-> Tensor",
    "ps_roi_pool": "(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, SymInt pooled_width) "
                   "-> (Tensor, Tensor)",
    "_ps_roi_pool_backward": "(Tensor grad, Tensor rois, Tensor channel_mapping, float spatial_scale, "
                             "SymInt pooled_height, SymInt pooled_width, SymInt batch_size, SymInt channels, "
                             "SymInt height, SymInt width) -> Tensor",
    "deform_conv2d": "(Tensor input, Tensor weight, Tensor offset, Tensor mask, Tensor bias, SymInt stride_h, "
                     "SymInt stride_w, SymInt pad_h, SymInt pad_w, SymInt dilation_h, SymInt dilation_w, "
                     "SymInt groups, SymInt offset_groups, bool use_mask) -> Tensor",
    "_deform_conv2d_backward": "(Tensor grad, Tensor input, Tensor weight, Tensor offset, Tensor mask, "
                               "Tensor bias, SymInt stride_h, SymInt stride_w, SymInt pad_h, SymInt pad_w, "
                               "SymInt dilation_h, SymInt dilation_w, SymInt groups, SymInt offset_groups, "
                               "bool use_mask) -> (Tensor, Tensor, Tensor, Tensor, Tensor)",
    "_cuda_version": "() -> int",
}

_LIBRARY = None  # the torch.library.Library holding our declarations (kept alive for the process)


def _registered(name: str) -> bool:
    import torch

    try:
        torch._C._get_schema(f"torchvision::{name}", "")
    except RuntimeError:
        return False
    return True


def _load_own_ops(package_dirs) -> None:
    """Try torchvision's ``_C`` library the way torchvision does; a CUDA build fails on CPU torch."""
    import torch

    for folder in package_dirs or ():
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = os.path.join(folder, "_C" + suffix)
            if os.path.exists(path):
                try:
                    torch.ops.load_library(path)
                except (OSError, RuntimeError):
                    pass
                return


def declare_missing(package_dirs=None) -> list[str]:
    """Declare (schema only) every torchvision operator in :data:`SCHEMAS` not yet registered.

    Returns the names declared: all 14 on CPU torch with the CUDA torchvision 0.28.0 build,
    none where torchvision's own ``_C.so`` loads.
    """
    global _LIBRARY
    import torch

    if package_dirs is None:
        spec = importlib.machinery.PathFinder.find_spec("torchvision")
        package_dirs = spec.submodule_search_locations if spec is not None else ()
    _load_own_ops(package_dirs)
    missing = [name for name in SCHEMAS if not _registered(name)]
    if missing:
        if _LIBRARY is None:
            _LIBRARY = torch.library.Library("torchvision", "FRAGMENT")
        for name in missing:
            _LIBRARY.define(name + SCHEMAS[name])
    return missing


class _BeforeTorchvision:
    """``sys.meta_path`` hook: the first lookup of ``torchvision`` declares the missing schemas first."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname == "torchvision":
            if self in sys.meta_path:
                sys.meta_path.remove(self)
            spec = importlib.machinery.PathFinder.find_spec(fullname, path)
            if spec is not None:
                declare_missing(spec.submodule_search_locations)
        return None  # the ordinary finders import it


def install() -> None:
    """Arrange for :func:`declare_missing` to run before torchvision is first imported (idempotent)."""
    if "torchvision" in sys.modules or any(isinstance(f, _BeforeTorchvision) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _BeforeTorchvision())
