"""mmlong inside lmms-eval (0.7.3): the ``mmlong`` model and mmlong's tasks as lmms-eval tasks.

Installed with the ``lmms`` extra, mmlong registers an lmms-eval model through the Python
entry-point group ``lmms_eval.models`` (:func:`manifest`), so lmms-eval's own CLI runs its
tasks with mmlong's position schemes, token budgets, reduction and sparse prefill::

    lmms-eval --model mmlong \\
        --model_args pretrained=Qwen/Qwen2.5-VL-7B-Instruct,pos=hope,budget=64k,reduce=temporal,prefill=mminference \\
        --tasks videomme --output_path runs/

mmlong's ``mmneedle``, ``videowebarena_qa`` and ``vniah_synth`` are lmms-eval task YAMLs in
:data:`TASKS_DIR` (lmms-eval 0.7.3 finds tasks outside its own folder only through
``--include_path``)::

    lmms-eval --include_path "$(python -m mmlong.lmms tasks-dir)" --model mmlong \\
        --model_args pretrained=tiny-vniah:hope --tasks vniah_synth --output_path runs/

The model is :class:`mmlong.lmms.model.MmlongLMMS`; the task glue is :mod:`mmlong.lmms.bridge`.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["TASKS_DIR", "MODEL_ID", "INSTALL", "manifest", "require_lmms_eval"]

TASKS_DIR = Path(__file__).resolve().parent / "tasks"  # lmms-eval --include_path for mmlong's tasks
MODEL_ID = "mmlong"  # lmms-eval --model name
# lmms-eval's own requirements pin av<16 and wandb==0.25.0 (and pull torchvision): it goes in without them
INSTALL = "pip install 'mmlong[lmms]' && pip install --no-deps lmms-eval==0.7.3"


def require_lmms_eval():
    """``import lmms_eval``, or a one-line error saying how to install it next to mmlong's pins."""
    try:
        import lmms_eval
    except ImportError as exc:
        from mmlong.errors import MmlongError

        raise MmlongError(f"the lmms-eval plugin needs lmms-eval ({exc.name or exc} is missing): {INSTALL}") from None
    return lmms_eval


def manifest():
    """The ``lmms_eval.models`` entry point: the ``mmlong`` model's lmms-eval manifest.

    lmms-eval calls this while it builds its model registry (``import lmms_eval.models``), so
    lmms-eval is importable here; the model class itself is imported only when it is used.
    """
    from lmms_eval.models.registry_v2 import ModelManifest

    return ModelManifest(model_id=MODEL_ID, simple_class_path="mmlong.lmms.model.MmlongLMMS")
