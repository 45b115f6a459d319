"""Template vocabulary for synthetic lectures: topics, bullets, narration, facts.

Everything here is plain text built from small fixed word lists with a seeded
:class:`random.Random`, so a lecture is reproducible from its seed. The lists obey two
rules that keep the planted facts single-source (checked by ``tests/data``):

* no topic word, bullet or narration template contains a digit, a cardinal number word
  (:data:`NUMBER_WORDS`), the word "secret" or the word "code";
* no :data:`CODE_WORDS` entry occurs in any topic word or template.

So the only spoken numbers are the secret-number sentences (:func:`speech_fact`) and the
only code words are the slide bullets (:func:`slide_fact`). Two more fact kinds are planted
only when asked for (:data:`KINDS`): a spoken keyword (:func:`keyword_fact`, a word of
:data:`KEYWORDS`, never shown) and a reference number on a slide (:func:`reference_fact`,
four digits, never spoken); the same rules hold for their words.
"""

from __future__ import annotations

import random

__all__ = ["SUBJECTS", "ASPECTS", "CODE_WORDS", "KEYWORDS", "NUMBER_WORDS", "KINDS", "number_words", "bullets",
           "narration", "intro", "speech_fact", "slide_fact", "keyword_fact", "reference_fact"]

#: Lecture subjects, each with six key terms (lower case noun phrases).
SUBJECTS: dict[str, tuple[str, ...]] = {
    "Photosynthesis": ("chlorophyll", "light energy", "carbon dioxide", "glucose", "leaf tissue", "sunlight"),
    "Plate Tectonics": (
        "crustal plates", "mantle flow", "earthquakes",
        "volcanoes", "ocean ridges", "mountain building",
    ),
    "Neural Networks": (
        "hidden layers", "activation functions", "training data",
        "gradient descent", "overfitting", "weights",
    ),
    "Supply and Demand": ("market price", "consumer demand", "supply curves", "equilibrium", "scarcity", "elasticity"),
    "The Water Cycle": ("evaporation", "condensation", "rainfall", "groundwater", "river basins", "cloud formation"),
    "Cell Biology": ("cell membranes", "mitochondria", "protein synthesis", "the nucleus", "enzymes", "cell division"),
    "Classical Mechanics": ("inertia", "momentum", "friction", "kinetic energy", "gravity", "acceleration"),
    "Computer Memory": ("cache lines", "main memory", "virtual addresses", "page tables", "latency", "bandwidth"),
    "Roman History": ("the senate", "the legions", "trade routes", "aqueducts", "provinces", "civil law"),
    "Music Theory": ("scales", "harmony", "rhythm", "chord progressions", "melody", "tempo"),
    "Climate Science": (
        "greenhouse gases", "ocean currents", "polar ice",
        "solar radiation", "weather records", "feedback loops",
    ),
    "Organic Chemistry": (
        "carbon chains", "functional groups", "reaction rates",
        "catalysts", "molecular shape", "solvents",
    ),
    "Public Health": ("vaccination", "disease spread", "clean water", "nutrition", "health records", "prevention"),
    "Databases": ("tables", "indexes", "query plans", "transactions", "joins", "schema design"),
    "Human Memory": ("attention", "short term memory", "recall", "sleep", "rehearsal", "forgetting"),
    "Renewable Energy": (
        "solar panels", "wind turbines", "battery storage",
        "power grids", "efficiency", "hydro power",
    ),
    "Linear Algebra": ("vectors", "matrices", "eigenvalues", "linear maps", "projections", "orthogonal bases"),
    "Ocean Ecology": ("plankton", "coral reefs", "food webs", "kelp forests", "tides", "nutrient cycles"),
    "Computer Networks": ("routers", "packet loss", "congestion control", "addresses", "protocols", "throughput"),
    "Urban Planning": (
        "public transit", "zoning rules", "housing density",
        "green space", "traffic flow", "street design",
    ),
    "Probability": ("random variables", "expected value", "variance", "conditional events", "sampling", "likelihood"),
    "Genetics": ("genes", "mutations", "inheritance", "protein coding", "chromosomes", "gene expression"),
    "Astronomy": ("galaxies", "star formation", "telescopes", "planetary orbits", "dark matter", "redshift"),
    "Philosophy of Mind": (
        "consciousness", "perception", "mental states",
        "free will", "personal identity", "intentions",
    ),
}

#: Section aspects; a slide title is ``"{subject}: {aspect}"``.
ASPECTS: tuple[str, ...] = (
    "Overview", "Key Terms", "History", "Applications", "Common Mistakes", "Worked Example",
    "Measurement", "Open Questions", "Practical Tips", "Comparison", "Limitations", "Summary",
)  # fmt: skip

#: Slide-only code words (upper case, never spoken, never in the vocabulary above).
CODE_WORDS: tuple[str, ...] = (
    "PELICAN", "WALRUS", "GIRAFFE", "LANTERN", "MEADOW", "COMPASS", "FALCON", "HARBOR", "JUNIPER", "KESTREL",
    "MARIGOLD", "NECTAR", "OTTER", "PARROT", "QUARTZ", "RAVEN", "SAFFRON", "TULIP", "VIOLIN", "WALNUT",
    "ZEPHYR", "BADGER", "CACTUS", "DOLPHIN", "BEACON", "FERRET", "GLACIER", "HAZEL", "IGLOO", "JAGUAR",
    "KOALA", "LEMUR", "MAGPIE", "NUTMEG", "ORCHID", "PANDA", "QUILL", "ROBIN", "SPARROW", "TOUCAN",
    "UMBRELLA", "VELVET", "WILLOW", "YAK", "ZEBRA", "ANCHOR", "BISON", "CANYON", "DRAGONFLY", "FLAMINGO",
    "GECKO", "HERON", "IBIS", "JASMINE", "KIWI", "LYNX", "MOOSE", "NARWHAL", "OSPREY", "PUFFIN",
)  # fmt: skip

#: Spoken-only keywords (lower case, never shown, never in the vocabulary above or in CODE_WORDS).
KEYWORDS: tuple[str, ...] = (
    "buttercup", "cinnamon", "daffodil", "evergreen", "firefly", "granite", "horizon", "lavender", "moonlight",
    "nightingale", "peppermint", "rainbow", "snowflake", "thunder", "sunflower", "blueberry", "seashell", "waterfall",
    "windmill", "pinecone", "starfish", "teapot", "honeybee", "candle", "lemonade", "bamboo", "pumpkin", "mango",
    "avocado", "carousel",
)  # fmt: skip

#: Fact kinds: (source, value) -> what is planted. The default lecture plants the first two.
KINDS: tuple[str, ...] = ("speech_number", "slide_word", "speech_word", "slide_number")

_ONES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
         "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen")
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")

#: Cardinal number words; none occur in slides or in narration other than the fact sentences.
NUMBER_WORDS: frozenset[str] = frozenset(_ONES + _TENS[2:] + ("hundred", "thousand"))

_BULLETS = (
    "Effect of {t1} on {t2}", "Compare {t1} and {t2}", "Key idea: {t1}", "Role of {t1} in {t2}",
    "Measure {t1} carefully", "Common error: ignoring {t1}", "Example: {t1} in practice",
    "Link {t1} to {t2}", "The importance of {t1}", "{T1} versus {t2}",
)  # fmt: skip
_NARRATION = (
    "Let us look at how {t1} relates to {t2}.",
    "Many students find {t1} confusing at the start.",
    "Notice the subtle link between {t1} and {t2}.",
    "A good way to remember {t1} is to connect it with {t2}.",
    "Researchers often measure {t1} before studying {t2}.",
    "Keep in mind the difference between {t1} and {t2}.",
    "We will come back to {t1} later in the course.",
    "This idea explains the importance of {t1}.",
    "Try to picture {t1} as a simple diagram.",
    "In practice, {t1} and {t2} usually appear together.",
    "Ask yourself what would change without {t1}.",
    "The textbook gives a careful treatment of {t2}.",
)


def number_words(n: int) -> str:
    """Spell ``0 <= n < 1000`` in words without hyphens or "and": 472 -> "four hundred seventy two"."""
    if not 0 <= n < 1000:
        raise ValueError(f"number_words takes 0..999, got {n}")
    words = []
    if n >= 100:
        words += [_ONES[n // 100], "hundred"]
        n %= 100
        if n == 0:
            return " ".join(words)
    if n >= 20:
        words.append(_TENS[n // 10])
        if n % 10:
            words.append(_ONES[n % 10])
    else:
        words.append(_ONES[n])
    return " ".join(words)


def _fill(template: str, terms: tuple[str, ...], rng: random.Random) -> str:
    t1, t2 = rng.sample(terms, 2)
    return template.format(t1=t1, t2=t2, T1=t1[0].upper() + t1[1:])


def bullets(subject: str, rng: random.Random, count: int) -> list[str]:
    """``count`` distinct bullet lines about ``subject``."""
    templates = rng.sample(_BULLETS, count)
    return [_fill(t, SUBJECTS[subject], rng) for t in templates]


def narration(subject: str, rng: random.Random, count: int) -> list[str]:
    """``count`` narration sentences about ``subject`` (distinct templates while they last)."""
    order = rng.sample(_NARRATION, len(_NARRATION))
    return [_fill(order[i % len(order)], SUBJECTS[subject], rng) for i in range(count)]


def intro(title: str) -> str:
    """The sentence opening a section; it speaks the slide title so questions can name it."""
    return f"Now let us talk about {title}."


def speech_fact(number: int) -> str:
    """The spoken-only fact sentence, e.g. "The secret number for this section is, four hundred seventy two.".

    The comma makes espeak-ng pause before the number. Without it Whisper tiny.en merges
    "is" with the hundreds ("is nine hundred" -> "is one hundred"): on 60 random numbers
    it heard 44 right without the pause and 59 with it.
    """
    return f"The secret number for this section is, {number_words(number)}."


def slide_fact(word: str) -> str:
    """The slide-only fact bullet, e.g. "Code word: PELICAN"."""
    return f"Code word: {word}"


def keyword_fact(word: str) -> str:
    """The spoken-only keyword sentence, e.g. "The keyword for this section is, lavender."."""
    return f"The keyword for this section is, {word}."


def reference_fact(number: int) -> str:
    """The slide-only number bullet, e.g. "Reference number: 4127"."""
    return f"Reference number: {number}"
