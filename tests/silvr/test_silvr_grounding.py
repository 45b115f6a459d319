"""Grounded answering on hand-written evidence: numbers in any spelling, OCR text repair, evidence
units, candidate spans, the choice among same-kind distractors, "Not found", answer text."""

import pytest

from mmlong.silvr.candidates import answer_kind, candidates
from mmlong.silvr.documents import document_units, is_heading
from mmlong.silvr.evidence import units_of
from mmlong.silvr.terms import question_terms
from mmlong.silvr.grounding import GroundingSettings, answer_text, ground, not_found
from mmlong.silvr.numbers import normalize, numbers_in
from mmlong.silvr.segments import Segment, Transcript

S = Segment

# Two sections with a spoken number each, a slide code word in each, a third section with a
# password and a number written as words: every question has same-kind distractors.
LECTURE = Transcript(150.0, tuple(sorted([
    S(0, 50, "Roman History: Overview / Role of the senate / Codeword: PELICAN / Key idea: provinces", "screen"),
    S(1.0, 3.5, "Now let us talk about Roman history, overview.", "speech"),
    S(4.0, 7.0, "The secret number for this section is 472.", "speech"),
    S(10.0, 14.0, "Many students find the legions confusing at the start.", "speech"),
    S(50, 100, "Roman History: Summary / Codeword: WALRUS / Compare aqueducts and trade routes", "screen"),
    S(51.0, 53.5, "Now let us talk about Roman history, summary.", "speech"),
    S(55.0, 58.0, "The secret number for this section is 815.", "speech"),
    S(100, 150, "Music Theory: Overview / Exam password: ORCHID / Key idea: harmony / Course 204 - Week 3", "screen"),
    S(101.0, 104.0, "Now let us talk about music theory, overview.", "speech"),
    S(105.0, 109.0, "Please remember this, the secret project number is nine three nine four.", "speech"),
], key=lambda s: (s.start, s.source))))


@pytest.fixture(scope="module")
def units():
    return units_of(LECTURE)


@pytest.mark.parametrize("text, values", [
    ("the number is nine three nine four.", ["9394"]),
    ("it was 9,394, not 12", ["9394", "12"]),
    ("Nine thousand three hundred and ninety-four", ["9394"]),
    ("four hundred seventy two", ["472"]),
    ("ninety three ninety four", ["9394"]),
    ("the code is 9-3-9-4", ["9394"]),
    ("your locker code is 931-0, or 5-9-37", ["9310", "5937"]),  # ASR grouping a number read digit by digit
    ("the one thing to remember", []),
    ("the secret number is... 3 hundred twenty one.", ["321"]),  # ASR writes the first word as a digit
    ("5 thousand 2 hundred, but 3 apples", ["5200", "3"]),
    ("your locker code is fine five seven two.", ["5572"]),  # ASR's "fine" for a spoken five, in a digit reading
    ("the code is fine fine seven two, or fine-five-seven-two", ["5572", "5572"]),
    ("five seven fine", ["575"]),
    ("a fine one", []),  # elsewhere "fine" is a word: next to one digit word ...
    ("that is fine, two of them", ["2"]),
    ("it was fine. Five seven two", ["572"]),  # ... or across a sentence end
    ("the code is six to eight zero.", ["6280"]),  # "to" for a spoken two inside a digit reading
    ("four for two nine", ["4429"]),
    ("from six to eight weeks", ["6", "8"]),  # but not with fewer than three real digit words ...
    ("code for eight four two", ["842"]),  # ... at a chain's end ...
    ("nine to five, six", ["9", "56"]),  # ... or across a comma
])
def test_numbers_read_the_same_in_digits_and_words(text, values):
    assert [n.value for n in numbers_in(text)] == values


def test_normalize_replaces_numbers_in_place():
    assert normalize("is nine three nine four.") == "is 9394."
    assert normalize("page two and 5,000 more") == "page 2 and 5000 more"


def test_ocr_text_keeps_words_apart():
    pytest.importorskip("wordninja", reason="needs mmlong[ocr]")
    from mmlong.silvr.ocr import tidy

    assert tidy("Exampassword: ORCHID") == "Exam password: ORCHID"
    assert tidy("Roleofgravityin acceleration / supplychains") == "Role of gravity in acceleration / supply chains"
    assert tidy("TheWater Cycle:History / Team name: CoBALT") == "The Water Cycle: History / Team name: COBALT"
    assert tidy("Codeword: PELICAN / chlorophyll") == "Codeword: PELICAN / chlorophyll"  # known words stay


def test_question_terms_weigh_rare_words_and_drop_medium_words(units):
    t = question_terms("What is the secret number mentioned in the section on Roman History: Summary?", units)
    assert set(t.present) == {"secret", "number", "roman", "history", "summary"} and t.absent == ()
    assert t.present["summary"] > t.present["roman"]  # one unit says "summary", three say "roman"
    assert question_terms("What is the room number announced in the lecture?", units).absent == ("room",)
    joined = question_terms("What code word is shown?", units)  # "code word" ~ "Codeword"
    assert {"code", "word"} <= set(joined.present)
    heard = question_terms("What secret project number does the speaker ask us to remembr?", units)
    assert "remembr" in heard.present and heard.aliases["remembr"] == {"remember"}  # one edit away


def test_candidates_and_answer_kinds():
    got = [(c.value, c.kind, c.label) for c in candidates("Exam password: ORCHID", "What is the exam password?")]
    assert got == [("ORCHID", "word", True)]
    spoken = candidates("Please remember this, the secret project number is nine three nine four.", "What number?")
    assert [(c.value, c.kind) for c in spoken] == [("9394", "number")]
    assert all(c.value != "5" for c in candidates("Chapter 5 has code 8341.", "What is the code in chapter 5?"))
    assert [answer_kind(q) for q in ("What secret number is said?", "What is the exam password?",
                                     "What is the archive code?")] == ["number", "word", "any"]


@pytest.mark.parametrize("question, value, time", [
    ("What is the secret number mentioned in the section on Roman History: Summary?", "815", 55.0),
    ("Which secret number does the lecturer give in the part about Roman History: Overview?", "472", 4.0),
    ("What code word is shown on the slides in the section on Roman History: Summary?", "WALRUS", 50.0),
    ("What secret project number does the speaker ask us to remember?", "9394", 105.0),
    ("What is the exam password shown on a slide?", "ORCHID", 100.0),
])
def test_the_right_span_among_same_kind_distractors(units, question, value, time):
    g = ground(question, units)
    assert g.choice is not None, g.reason
    assert (g.choice.candidate.value, g.choice.time) == (value, time)


@pytest.mark.parametrize("question, why", [
    ("What is the secret number mentioned in the section on Music Theory: Summary?", "lacks"),  # no such section
    ("What code word is shown on the slides in the section on Music Theory: Overview?", "lacks"),  # a password there
    ("What is the room number announced in the lecture?", "'room'"),  # no room anywhere
])
def test_not_found_when_nothing_supports_an_answer(units, question, why):
    g = ground(question, units)
    assert g.choice is None and why in g.reason
    assert not_found(g).startswith("Not found in the video: ")


def test_answer_text_cites_the_sentence_and_its_time(units):
    g = ground("What secret project number does the speaker ask us to remember?", units)
    assert answer_text(g.choice) == ('9394 (said at 00:01:45: "Please remember this, the secret project number is '
                                     'nine three nine four.")')
    slide = ground("What is the exam password shown on a slide?", units)
    assert answer_text(slide.choice) == 'ORCHID (on screen at 00:01:40: "Exam password: ORCHID")'
    assert "Week" not in answer_text(slide.choice)  # only the line holding the value is quoted


def test_sentence_time_inside_a_long_asr_segment():
    seg = S(10.0, 20.0, "Most students skip this part. The secret number for this section is 472.", "speech")
    g = ground("What is the secret number?", units_of(Transcript(30.0, (seg,))))
    assert g.choice.time == pytest.approx(10.0 + 10.0 * 30 / len(seg.text))  # where its sentence starts


def test_the_reasoner_breaks_ties_between_candidates(units):
    q = "What secret project number does the speaker ask us to remember?"
    seg = S(0, 4, "Please remember this, the secret project number is 1200 or 9394.", "speech")
    two = units_of(Transcript(10.0, (seg,)))
    prefer_9394 = ground(q, two, lm=lambda items: [0.0 if c == "9394" else -5.0 for _, _, c in items])
    prefer_1200 = ground(q, two, lm=lambda items: [0.0 if c == "1200" else -5.0 for _, _, c in items])
    assert (prefer_9394.choice.candidate.value, prefer_1200.choice.candidate.value) == ("9394", "1200")
    no_lm = ground(q, two, settings=GroundingSettings(lm_weight=0.0), lm=lambda items: 1 / 0)  # never called
    assert no_lm.choice is not None


class _Page:
    def __init__(self, number, text):
        self.number, self.text = number, text


def test_documents_cite_the_page_under_the_right_heading():
    pages = [_Page(1, "Chapter 1: Rivers\nRivers change over time.\nPage 1"),
             _Page(2, "The archive number for this chapter is 8341.\nRivers flood in spring.\nPage 2"),
             _Page(3, "Chapter 2: Glaciers\nThe archive number for this chapter is 5520.\nPage 3"),
             _Page(4, "Glaciers move slowly and carve valleys.\nPage 4")]
    assert is_heading("Chapter 2: Glaciers") and not is_heading("Rivers change over time.")
    transcript, page_of, units = document_units(pages)
    assert [u.focus for u in units if u.title] == ["Chapter 1: Rivers", "Chapter 2: Glaciers"]  # "Page N" repeats
    g = ground("What is the archive number given in the chapter on Rivers?", units)
    assert (g.choice.candidate.value, g.choice.unit.page) == ("8341", 2)
    assert answer_text(g.choice) == '8341 (page 2: "The archive number for this chapter is 8341.")'
    assert ground("What is the archive number in the chapter on Deserts?", units).choice is None


def test_the_reasoner_never_overrules_coverage(units):
    q = "What code word is shown on the slides in the section on Roman History: Summary?"
    likes_pelican = ground(q, units, lm=lambda items: [0.0 if c == "PELICAN" else -9.0 for _, _, c in items])
    assert likes_pelican.choice.candidate.value == "WALRUS"  # PELICAN's slide lacks "summary"


def test_a_section_name_does_not_decide_the_kind_asked_for():
    assert answer_kind("In the section on Astronomy: Key Terms, what secret number is said?") == "number"
    assert answer_kind("Which reference number appears on the slide about Photosynthesis: Key Terms?") == "number"
    assert answer_kind("What is the name of the guest speaker in the part about Numbers?") == "word"


# Sections whose names share words ("Roman History: History" / "Roman History: Summary",
# "Ocean Ecology: Worked Example" / "Ocean Ecology: Summary"), ASR writing "key word" for
# "keyword", and a sentence ASR cut at the pause before its number.
SHARED = Transcript(200.0, tuple(sorted([
    S(0, 50, "Roman History: History / Effect of trade routes / Reference number: 5908", "screen"),
    S(1.0, 4.0, "Now let us talk about Roman history, history.", "speech"),
    S(6.9, 9.2, "The key word for this section is avocado.", "speech"),
    S(50, 100, "Roman History: Summary / Reference number: 4602 / Compare aqueducts and provinces", "screen"),
    S(51.0, 54.0, "Now let us talk about Roman history, summary.", "speech"),
    S(56.0, 58.0, "The keyword for this section is thunder.", "speech"),
    S(100, 150, "Ocean Ecology: Worked Example / Tides and food webs / Kelp forests in practice", "screen"),
    S(101.0, 104.0, "The secret number for this section is...", "speech"),
    S(104.6, 106.0, "Three hundred twenty one.", "speech"),
    S(150, 200, "Ocean Ecology: Summary / Code word: LANTERN / Plankton and tides", "screen"),
], key=lambda s: (s.start, s.source))))


@pytest.mark.parametrize("question, value, time", [
    ("Which keyword does the lecturer say in the part about Roman History: History?", "avocado", 6.9),
    ("Which keyword does the lecturer say in the part about Roman History: Summary?", "thunder", 56.0),
    ("What reference number is shown on the slides in the section on Roman History: History?", "5908", 0.0),
    ("What reference number is shown on the slides in the section on Roman History: Summary?", "4602", 50.0),
    ("In the section on Ocean Ecology: Worked Example, what secret number is said?", "321", 101.0),
    ("What code word is shown on the slides in the section on Ocean Ecology: Summary?", "LANTERN", 150.0),
])
def test_sections_with_shared_words_are_told_apart(question, value, time):
    g = ground(question, units_of(SHARED))
    assert g.choice is not None, g.reason
    assert (g.choice.candidate.value, g.choice.time) == (value, time)


def test_a_section_without_the_value_is_not_found_even_when_a_namesake_has_one():
    g = ground("Which code word appears on the slide about Ocean Ecology: Worked Example?", units_of(SHARED))
    assert g.choice is None and g.best.candidate.value == "LANTERN"  # Ocean Ecology: Summary holds one
    assert "'work'" in g.reason or "'ecology work'" in g.reason  # what the LANTERN slide lacks


def test_a_sentence_cut_at_a_pause_is_one_unit():
    (unit,) = [u for u in units_of(SHARED) if u.segment.start == 101.0]
    assert unit.focus == "The secret number for this section is... Three hundred twenty one."
    assert (unit.segment.start, unit.segment.end) == (101.0, 106.0)


def test_a_phrase_of_the_question_held_elsewhere_rejects_a_namesake_chapter():
    pages = [_Page(1, "Chapter 1: Roman History: History\nThe senate met often.\nPage 1"),
             _Page(2, "Chapter 2: Roman History: Summary\nThe code word for this chapter is NARWHAL.\nPage 2")]
    units = document_units(pages)[2]
    g = ground("What code word is given in the chapter on Roman History: History?", units)
    assert g.choice is None and g.best.candidate.value == "NARWHAL" and g.best.coverage == 1.0
    assert g.reason == "the evidence lacks 'history history', which the part at page 1 holds, and nothing there answers it"
    assert not_found(g, "document").startswith("Not found in the document: the evidence lacks 'history history'")
    assert ground("What code word is given in the chapter on Roman History: Summary?", units).choice.unit.page == 2


@pytest.mark.parametrize("line, question, value", [
    ("Bridge Engineering: Recap / - Load paths and expansion joints / - La broom777 / Course204-Week3",
     "Which lab room is written on the slide?", "777"),  # OCR ran words and digits together, then split them wrong
    ("Bridge Engineering: Field Notes / - Steel girders / -Teamname: SAPPHIRE / Course204-Week10",
     "Which team name appears on screen?", "SAPPHIRE"),  # "team" inside "Teamname"
])
def test_ocr_words_run_together_still_match_the_question(line, question, value):
    g = ground(question, units_of(Transcript(60.0, (S(0.0, 60.0, line, "screen"),))))
    assert g.choice is not None and g.choice.candidate.value == value, g.reason


def test_a_run_on_asr_segment_cites_the_time_of_the_question_words():
    text = ("So when we think about wind loading we should also consider steel girders and the story of load paths "
            "is closely tied to wind loading next to steel girders Either way, the name of our class mascot is pebble.")
    seg = S(170.0, 185.0, text, "speech")
    g = ground("What is our class mascot called?", units_of(Transcript(200.0, (seg,))))
    assert g.choice.candidate.value == "pebble"
    assert g.choice.time == pytest.approx(170.0 + 15.0 * text.index("mascot") / len(text))  # not 170.0


def test_a_value_whose_sentence_does_not_name_what_is_asked_is_refused():
    lines = []
    for i, (title, said) in enumerate([("Roman History: Summary", "The keyword for this section is thunder."),
                                       ("Music Theory: Summary", "The keyword for this section is rainbow."),
                                       ("Plate Tectonics: Applications", "The key ward for this section is water fall.")]):
        t = 60.0 * i
        lines += [S(t, t + 60, f"{title} / Key idea: crustal plates", "screen"),
                  S(t + 1, t + 3, f"Now let us talk about {title}.", "speech"), S(t + 5, t + 7, said, "speech"),
                  S(t + 9, t + 12, "This idea explains the importance of Crystal Plates.", "speech")]
    units = units_of(Transcript(180.0, tuple(sorted(lines, key=lambda s: (s.start, s.source)))))
    q = "In the section on Plate Tectonics: Applications, what is the spoken keyword?"
    g = ground(q, units)  # "key ward" sounds like "keyword": that sentence answers, never "Crystal Plates"
    assert g.choice is not None and g.choice.unit.focus.startswith("The key ward") and g.choice.candidate.value != "Crystal"
    # a section whose sentences never name a keyword, even misheard, has no answer
    units = [u for u in units if not u.focus.startswith("The key ward")]
    assert ground(q, units).choice is None
    alone = GroundingSettings(min_coverage=0.0)  # the coverage check aside, the asked-for check alone refuses it
    g = ground(q, units, settings=alone)
    assert g.choice is None and g.reason == "the evidence does not say 'keyword' next to a value"
    loose = ground(q, units, settings=GroundingSettings(min_coverage=0.0, asked_check=False))
    assert loose.choice is not None and loose.choice.candidate.value == "Crystal"  # what the check prevents
    assert ground("In the section on Music Theory: Summary, what is the spoken keyword?", units).choice.candidate.value \
        == "rainbow"


def test_a_question_word_misheard_in_the_answers_sentence_still_matches():
    # "project" is heard rightly in one section and as "product" in the other; each section's number is found
    lines = [S(0, 60, "Chess Openings: Field Notes / - Pawn structure", "screen"),
             S(2.0, 5.0, "Please remember this, the secret product number is 4238.", "speech"),
             S(60, 120, "Solar Cells: Recap / - Silicon wafers", "screen"),
             S(62.0, 65.0, "Please remember this, the secret project number is 7802.", "speech")]
    units = units_of(Transcript(120.0, tuple(sorted(lines, key=lambda s: (s.start, s.source)))))
    ask = "What secret project number does the speaker ask us to remember in the part about {}?"
    assert ground(ask.format("Chess Openings Field Notes"), units).choice.candidate.value == "4238"
    assert ground(ask.format("Solar Cells Recap"), units).choice.candidate.value == "7802"
    terms = question_terms(ask.format("Chess Openings Field Notes"), units)
    assert terms.aliases["project"] == frozenset({"product"})  # 2 edits in 7 letters, same first letter
    # a word that only shares letters does not: "permit" is not heard as "perfect" (3 edits)
    units2 = units_of(Transcript(10.0, (S(0.0, 3.0, "The perfect number is 28.", "speech"),)))
    assert ground("What permit number is mentioned?", units2).choice is None


def test_a_sentence_asr_went_on_with_after_a_full_stop_is_one_unit():
    lines = (S(60.0, 61.0, "My dog.", "speech"), S(61.2, 64.0, "who you may hear in the background is called maple.", "speech"),
             S(66.0, 68.0, "Keep pollen in mind.", "speech"), S(68.5, 70.0, "Our cat is called Pepper.", "speech"))
    units = units_of(Transcript(70.0, lines))
    assert [u.focus for u in units][:2] == ["My dog. who you may hear in the background is called maple.",
                                            "Keep pollen in mind."]
    assert ground("What's the name of the dog?", units).choice.candidate.value == "maple"  # not the "s" of "what's"


# One lecture, a fact of each kind; the questions word it their own way.
PARAPHRASED = Transcript(120.0, tuple(sorted([
    S(0, 40, "Beekeeping - part 1 / Wi-Fi password: BLUEBIRD / Helpdesk extension: 6494", "screen"),
    S(2.0, 5.0, "The team name we picked for the project is comet.", "speech"),
    S(40, 80, "Beekeeping - part 2 / Quiz room: 1784 / Pollen vs. swarming", "screen"),
    S(42.0, 45.0, "The access code for the lab door is six to eight zero.", "speech"),
    S(48.0, 51.0, "Everyone is called to the front at the end.", "speech"),
    S(80, 120, "Typography - part 1 / Kerning vs. ligatures", "screen"),
    S(82.0, 85.0, "We held a vote on serif fonts last week.", "speech"),
], key=lambda s: (s.start, s.source))))


@pytest.mark.parametrize("question, value", [
    ("What name did the class choose for the project team?", "comet"),  # "class", "choose": wording, no block
    ("Which extension do we call for the helpdesk?", "6494"),  # "call" elsewhere weighs little
    ("In which room is the quiz held?", "1784"),
    ("What room number is given for the quiz?", "1784"),  # "number": the kind, not the subject
    ("Tell me the lab door's access code.", "6280"),  # "to" heard for a spoken two inside the digits
    ("Which Wi-Fi password is displayed?", "BLUEBIRD"),
])
def test_paraphrased_questions_find_their_fact(question, value):
    g = ground(question, units_of(PARAPHRASED))
    assert g.choice is not None and g.choice.candidate.value == value, g.reason


@pytest.mark.parametrize("question, blocking", [
    ("What is the printer password?", ("printer",)),  # names what is asked for
    ("Which parking space number were we assigned?", ()),  # no "number" here: its sentence holds too little
    ("What is the fire alarm code?", ("alarm",)),  # modifies "code"
    ("What is the access code in the section on Astronomy?", ("astronomy",)),  # a capitalised name
])
def test_absent_words_that_name_or_modify_what_is_asked_block_an_answer(question, blocking):
    """An absent word that names, modifies or is a name blocks; others leave too little of the question held."""
    units = units_of(PARAPHRASED)
    assert question_terms(question, units).blocking == blocking
    assert ground(question, units).choice is None


# Facts told value first, a fact explained by the next sentence, slides with dashes and "#".
TOLD_OTHERWISE = Transcript(120.0, tuple(sorted([
    S(0, 40, "Genetics - part 1 / Door code \u2014 BRAMBLE / Printer queue #9680", "screen"),
    S(2.0, 5.0, "Marzipan is what we named the class hamster.", "speech"),
    S(6.0, 8.0, "Remember the number 2796.", "speech"),
    S(8.5, 10.5, "You will need it for the quiz.", "speech"),
    S(40, 80, "Genetics - part 2 / Alleles vs. mutations", "screen"),
    S(42.0, 46.0, "6656 is the number of the bus that goes to the field trip.", "speech"),
    S(50.0, 53.0, "The number of alleles matters less than you think.", "speech"),
], key=lambda s: (s.start, s.source))))


@pytest.mark.parametrize("question, value", [
    ("What did we name the class hamster?", "Marzipan"),  # a capitalised subject before "is"
    ("Which number will we need for the quiz?", "2796"),  # the next sentence says what it is for
    ("What's the printer queue number?", "9680"),  # "number" names the kind: the line needs not say it
    ("Which code opens the door?", "BRAMBLE"),  # "opens" is wording; "BRAMBLE" is the value, no contrast
    ("Which bus goes to the field trip?", "6656"),
])
def test_facts_told_otherwise_are_found(question, value):
    g = ground(question, units_of(TOLD_OTHERWISE))
    assert g.choice is not None and g.choice.candidate.value == value, g.reason


@pytest.mark.parametrize("question, why", [
    ("What is the name of the class goldfish?", "speaks of 'class hamster'"),  # another thing of the class
    ("Which train goes to the field trip?", "mentions 'train'"),  # the noun after "which" is absent
])
def test_a_question_about_another_thing_is_not_found(question, why):
    units = units_of(TOLD_OTHERWISE)
    assert ground(question, units).choice is None
    g = ground(question, units, settings=GroundingSettings(min_held=0.0))  # each check alone refuses it too
    assert g.choice is None and why in g.reason


def test_a_modifier_across_a_word_about_the_medium_still_blocks_and_label_spans_end_on_a_word():
    lines = (S(0.0, 3.0, "There are 8,209 seats in the new lecture hall.", "speech"),
             S(5.0, 8.0, "Use the word lunar to unlock the bonus question.", "speech"),
             S(9.0, 12.0, "The mascot of the club is a parrot named Sherlock.", "speech"))
    units = units_of(Transcript(20.0, lines))
    assert ground("How many seats does the new lecture hall have?", units).choice.candidate.value == "8209"
    g = ground("How many seats are in the old lecture hall?", units)  # "lecture" is a word about the medium
    assert g.choice is None and g.terms.blocking == ("old",)
    assert ground("Which word unlocks the bonus question?", units).choice.candidate.value == "lunar"  # not "lunar to"
    assert "a parrot named" not in [c.value for c in candidates(lines[2].text, "What is the mascot?")]
