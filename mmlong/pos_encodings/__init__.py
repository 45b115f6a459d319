"""Multimodal rotary position schemes as pure functions, plus the patch into a model.

    >>> from mmlong.pos_encodings import position_ids, frequencies, schemes
    >>> sorted(schemes())[:3]
    ['hope', 'interleaved', 'mrope']

Each rule's formula and a worked example are in ``positions.py``; ``registry.py`` lists the schemes.
"""

from mmlong.pos_encodings.api import frequencies, position_ids, schemes
from mmlong.pos_encodings.context import PosContext
from mmlong.pos_encodings.options import PosOptions

__all__ = ["position_ids", "frequencies", "schemes", "PosContext", "PosOptions"]
