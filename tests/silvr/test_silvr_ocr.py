"""OCR text repair on hand-written recogniser output: capitals read small, I read as L, run-together words."""

import pytest

pytest.importorskip("wordninja", reason="needs mmlong[ocr]")

from mmlong.silvr.ocr import split_word, tidy  # noqa: E402


@pytest.mark.parametrize("read, repaired", [
    ("Exam password: SEQuolA", "Exam password: SEQUOIA"),  # small u, o and an l for I among capitals
    ("Code word: GLRAFFE", "Code word: GIRAFFE"),  # one L read for an I: the only English word
    ("Team name: CoBALT", "Team name: COBALT"),
    ("Mascot: BlsON", "Mascot: BISON"),
])
def test_misread_capitals_are_put_back(read, repaired):
    assert tidy(read) == repaired


@pytest.mark.parametrize("word", [
    "LLAMA",  # an English word as read stays
    "QZLRT",  # no choice of L's as I's makes a word: never an invented word
    "PELICAN", "SQL", "Ultrasound", "chlorophyll",
])
def test_words_that_need_no_repair_stay(word):
    assert tidy(word) == word


def test_a_word_with_an_inner_capital_is_not_split_and_a_compound_is():
    assert split_word("SEQuoIA") == "SEQuoIA"
    assert split_word("Exampassword") == "Exam password"
    assert split_word("supplychains") == "supply chains"
