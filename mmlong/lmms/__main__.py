"""``python -m mmlong.lmms ...``: lmms-eval's own CLI, with mmlong's tasks on its include path.

::

    python -m mmlong.lmms tasks-dir                      # the folder of mmlong's lmms-eval task YAMLs
    python -m mmlong.lmms --model mmlong --model_args pretrained=tiny-vniah:hope --tasks vniah_synth \\
        --output_path runs/                              # = lmms-eval ... --include_path <that folder>
    python -m mmlong.lmms tasks list                     # = lmms-eval tasks list --include-path <that folder>

Everything else is passed to lmms-eval unchanged; ``--include_path`` (``--include-path`` for
``tasks``) is added when not given. Importing mmlong first also declares the operator
schemas a CPU install's pinned torchvision cannot load, which plain ``lmms-eval`` (it imports
torchvision through transformers before any plugin) does not.
"""

from __future__ import annotations

import sys

import mmlong  # noqa: F401  (first: the torchvision fix, before lmms-eval imports transformers)
from mmlong.lmms import TASKS_DIR


def lmms_eval_argv(argv: list[str]) -> list[str]:
    """lmms-eval's arguments with mmlong's task folder added.

    Examples: ``["--model", "mmlong"]`` -> ``["--model", "mmlong", "--include_path", TASKS_DIR]``;
    ``["tasks", "list"]`` -> ``["tasks", "list", "--include-path", TASKS_DIR]``; an argument
    list that names an include path already is returned as it is.
    """
    flag = "--include-path" if argv[:1] == ["tasks"] else "--include_path"
    if any(a.split("=")[0] in ("--include_path", "--include-path") for a in argv):
        return list(argv)
    if not argv or argv[0] not in ("tasks",) and not argv[0].startswith("-") and argv[0] != "eval":
        return list(argv)  # other subcommands (models, version, ...) take no include path
    return [*argv, flag, str(TASKS_DIR)]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["tasks-dir"]:
        print(TASKS_DIR)
        return 0
    from mmlong.lmms import require_lmms_eval

    require_lmms_eval()
    from lmms_eval.cli.dispatch import main as lmms_main

    sys.argv = ["lmms-eval", *lmms_eval_argv(argv)]
    lmms_main()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
