"""Official scorers on hand-written cases: MMNeedle (format-strict), LongVideoBench, WebArena strings."""

import random

from mmlong.eval.metrics import (clean_answer, lvb_parse, must_include, needle_clean, needle_gt, needle_multi,
                                 needle_single, string_match)


def test_needle_gt_is_one_based_and_negatives_are_zeros():
    assert needle_gt(0, 1, 2) == "1, 2, 3"
    assert needle_gt(-1, -1, -1) == "0, 0, 0"
    assert needle_gt([2, 0], [0, 1], [1, 1]) == "3, 1, 2; 1, 2, 2"


def test_needle_single_format_strict_exact_match():
    gt = "2, 1, 3"
    assert needle_single(gt, "2, 1, 3") == {"exist": 1, "index": 1, "exact": 1}
    assert needle_single(gt, " 2, 1, 3.\n") == {"exist": 1, "index": 1, "exact": 1}  # newline, spaces, final '.'
    assert needle_single(gt, "2,1,3") == {"exist": 1, "index": 0, "exact": 0}  # no space: index field is "2,1,3"
    assert needle_single(gt, "(2, 1, 3)") == {"exist": 1, "index": 0, "exact": 0}
    assert needle_single(gt, "2, 3, 1") == {"exist": 1, "index": 1, "exact": 0}
    assert needle_single(gt, "-1") == {"exist": 0, "index": 0, "exact": 0}
    assert needle_single(gt, None) == {"exist": None, "index": None, "exact": None}  # excluded, not wrong


def test_needle_single_negative():
    assert needle_single("0, 0, 0", "-1")["exist"] == 1 and needle_single("0, 0, 0", "-1")["exact"] == 1
    assert needle_single("0, 0, 0", "-1.")["exact"] == 1
    assert needle_single("0, 0, 0", "1, 1, 1")["exist"] == 0


def test_needle_clean_order():
    assert needle_clean("\n 1, 2, 3. ") == "1, 2, 3"
    assert needle_clean("..1, 2, 3..") == "1, 2, 3"


def test_needle_multi_official_rules():
    gt = "1, 1, 2; 3, 2, 2"
    s = needle_multi(gt, "1, 1, 2;3, 2, 2")  # "; " split, then each part stripped and re-joined
    assert s["exact"] == 0 and s["index"] == 0  # ";3" is not split on "; "
    s = needle_multi(gt, "1, 1, 2; 3, 2, 1")
    assert (s["exist"], s["index"], s["exact"], s["first_index"], s["first_exact"]) == (1, 1, 0, 1, 1)
    assert s["all_index"] == [1, 1] and s["all_exact"] == [1, 0]
    s = needle_multi(gt, "1, 1, 2")  # per-needle lists cover the shorter list
    assert s["all_exact"] == [1] and s["index"] == 0
    neg = "0, 0, 0; 0, 0, 0"
    for absent in ("-1", "-1; -1", "-1, -1", "-1, -1, -1; -1, -1, -1", "-1-1"):
        assert needle_multi(neg, absent)["exist"] == 1, absent
    assert needle_multi(neg, "-1; 2, 1, 1")["exist"] == 0
    assert needle_multi(gt, "-1; -1")["exist"] == 0


def test_lvb_parse_prefixes_and_first_letter():
    rng = random.Random(0)
    assert lvb_parse("The best answer is C.", 5, rng) == ("C", True)
    assert lvb_parse("D. A book", 4, rng) == ("D", True)  # not "A"
    assert lvb_parse("(B)", 4, rng) == ("B", True)
    assert lvb_parse("The answer is E", 5, rng) == ("E", True)
    letter, ok = lvb_parse("no idea at all here", 4, random.Random(1))
    assert not ok and letter in "ABCD"
    assert lvb_parse("no idea at all here", 4, random.Random(1)) == (letter, False)  # seeded: reproducible
    assert lvb_parse(None, 4, random.Random(1))[1] is False


def test_webarena_clean_answer_and_must_include():
    assert clean_answer('"Carnegie Mellon"') == "carnegie mellon"
    assert clean_answer("'x'") == "x"
    assert must_include("Carnegie Mellon", "I go to carnegie mellon university") == 1.0
    assert must_include("0", "there are 10 items") == 0.0  # one-token reference: token match, not substring
    assert must_include("10", "there are 10 items.") == 1.0
    assert must_include("Pittsburgh", "pittsburgh.") == 1.0  # final period is its own token
    assert must_include("PS4", "the ps4s") == 0.0
    assert must_include("16500", "It was $16500.") == 1.0


def test_string_match_products_alternatives_and_unscored():
    refs = {"must_include": ["Playstation 4 |OR| PS4", "Carnegie Mellon"]}
    assert string_match(refs, "A PS4, from Carnegie Mellon") == (1.0, [])
    assert string_match(refs, "A PS4") == (0.0, [])
    assert string_match({"exact_match": "Emma"}, '"emma"') == (1.0, [])
    assert string_match({"must_exclude": ["bad"]}, "all good") == (1.0, [])
    assert string_match({"one_of": ["x", "y"]}, "why") == (1.0, [])
    assert string_match({"fuzzy_match": ["x"]}, "x") == (1.0, ["fuzzy_match"])
    assert string_match({}, "anything") == (1.0, [])
