"""mmlong.video.skip_nonref: which packets a decoder may drop before a target."""

from __future__ import annotations

from mmlong.video.skip_nonref import NonRefSkip


class _SkipLog:
    """A codec context stand-in that records the discard level each packet was decoded with."""

    def __init__(self):
        self.skip_frame = "DEFAULT"


def test_nonref_skip_rule_on_a_hand_built_gop():
    """Display I0 B1 B2 B3 P4 B5 B6 B7 P8 in decode order, target pts 5: only pictures before
    the target with a later-shown packet already demuxed may be dropped."""
    ctx = _SkipLog()
    rule = NonRefSkip(ctx)
    levels = {}
    for pts in [0, 4, 2, 1, 3, 8, 6, 5, 7]:
        rule.before(pts, 5.0 + 1e-6)
        levels[pts] = ctx.skip_frame
    assert [p for p, level in levels.items() if level == "NONREF"] == [2, 1, 3]
    rule.before(None, 5.0)  # no pts: always decoded
    assert ctx.skip_frame == "DEFAULT"


def test_a_new_rule_resets_a_skipping_decoder():
    """After a seek the decoder is reused: the first packet must not inherit NONREF."""
    ctx = _SkipLog()
    ctx.skip_frame = "NONREF"
    NonRefSkip(ctx).before(0, 10.0)
    assert ctx.skip_frame == "DEFAULT"
