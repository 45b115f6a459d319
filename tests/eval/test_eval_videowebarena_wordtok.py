"""The data-free word tokenizer against NLTK's behaviour, and the official VideoWebArena references."""

import json
from pathlib import Path

import pytest

from mmlong.eval.metrics import clean_answer, must_include
from mmlong.eval.tasks.videowebarena import default_data_dir
from mmlong.eval.tasks.videowebarena_wordtok import sent_tokenize, treebank_tokenize, word_tokenize

DATA = default_data_dir()


def _alternatives():
    out = []
    for f in sorted(Path(DATA).glob("test_*.raw.json")):
        for t in json.loads(f.read_text()):
            for v in t["intermediate_eval"]["reference_answers"]["must_include"]:
                out += v.split(" |OR| ")
    return out


def test_treebank_matches_nltk_docstring_example():
    s = "Good muffins cost $3.88 (roughly 3,36 euros)\nin New York.  Please buy me\ntwo of them.\nThanks."
    assert treebank_tokenize(s) == ["Good", "muffins", "cost", "$", "3.88", "(", "roughly", "3,36", "euros", ")", "in",
                                    "New", "York.", "Please", "buy", "me", "two", "of", "them.", "Thanks", "."]
    # with sentence splitting first (word_tokenize), every sentence-final period is its own token
    assert word_tokenize(s)[-11:] == ["York", ".", "Please", "buy", "me", "two", "of", "them", ".", "Thanks", "."]


def test_treebank_quotes_contractions_punctuation():
    assert treebank_tokenize('He said "hi" -- can\'t stop.') == ["He", "said", "``", "hi", "''", "--", "ca", "n't",
                                                                  "stop", "."]
    assert treebank_tokenize("@byteblaze posted #1; ok?") == ["@", "byteblaze", "posted", "#", "1", ";", "ok", "?"]
    assert treebank_tokenize("https://www.cmu.edu/") == ["https", ":", "//www.cmu.edu/"]
    assert treebank_tokenize("16500.00") == ["16500.00"]


def test_sentence_rules():
    assert sent_tokenize("I live in pittsburgh. then home.") == ["I live in pittsburgh.", "then home."]
    assert sent_tokenize("Dr. Smith arrived. Mr. X left!") == ["Dr. Smith arrived.", "Mr. X left!"]
    assert sent_tokenize('he said "ok." then') == ['he said "ok."', "then"]  # closing quote stays left
    assert sent_tokenize("we saw 3. then 4 more") == ["we saw 3. then 4 more"]  # number before lower case
    assert sent_tokenize("wait... then go") == ["wait... then go"]  # ellipsis
    assert word_tokenize("the answer is pittsburgh. it is") == ["the", "answer", "is", "pittsburgh", ".", "it", "is"]


@pytest.mark.skipif(DATA is None, reason="shared/data/videowebarena not present")
def test_official_references_token_counts_and_acceptance():
    alts = _alternatives()
    assert len(alts) == 547
    # NLTK (punkt + NLTKWordTokenizer) treats 191 of the 547 alternatives as one token; so do we.
    assert sum(len(word_tokenize(clean_answer(a))) == 1 for a in alts) == 191
    for a in alts:  # an answer that states the reference in a sentence is accepted
        assert must_include(a, f"The answer is {a}.") == 1.0, a
        assert must_include(a, f"ANSWER: {a}") == 1.0, a


def test_matches_installed_nltk_when_available():
    nltk_tok = pytest.importorskip("nltk.tokenize")
    from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer

    from mmlong.eval.tasks.videowebarena_wordtok import ABBREVIATIONS

    params = PunktParameters()
    params.abbrev_types = set(ABBREVIATIONS)
    punkt, words = PunktSentenceTokenizer(params), nltk_tok.NLTKWordTokenizer()
    texts = ["The answer is Pittsburgh. Then we went home.", "It costs $16,500.00 (roughly).",
             "He said \"hello\" and 'bye'. Dr. Smith isn't here; can't go--ok?", "J. K. Rowling wrote it. Mr. X agreed!"]
    if DATA is not None:
        texts += _alternatives() + [a.lower() for a in _alternatives()]
    for t in texts:
        assert word_tokenize(t) == [w for s in punkt.tokenize(t) for w in words.tokenize(s)], t
