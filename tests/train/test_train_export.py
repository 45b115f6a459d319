"""mmlong.train.export: what mmlong.json records."""

from __future__ import annotations

import json

from mmlong.pos_encodings.options import PosOptions, Stretch
from mmlong.train.export import _plain


def test_option_dataclasses_are_recorded_as_dicts_that_parse_back():
    text = json.dumps({"stretch": Stretch(8, 2, True), "gamma": 1.5}, default=_plain)
    recorded = json.loads(text)
    assert recorded == {"stretch": {"keep": 8, "ratio": 2, "temporal_only": True}, "gamma": 1.5}
    assert PosOptions.from_kwargs(**recorded).stretch == Stretch(8, 2, True)
