"""Generated test and benchmark data: ``mmlong data lecture`` (see :mod:`mmlong.data.lecture`).

Modules: :mod:`~mmlong.data.text` (vocabulary), :mod:`~mmlong.data.plan` (timing and
facts), :mod:`~mmlong.data.slides` (PIL rendering), :mod:`~mmlong.data.speech`
(espeak-ng), :mod:`~mmlong.data.mp4` (H.264 + AAC), :mod:`~mmlong.data.cli` (the command).
"""
