"""The official VideoWebArena QA prompt pieces (``video_frame_intent_understanding.json``).

Intro, template and answer phrase, the two in-context examples, and the helpers that put
images right after their ``[FRAME-k]`` markers in a prompt given as parts (strings and image
indices, see :class:`~mmlong.eval.tasks.base.Request` ``parts``).
"""

from __future__ import annotations

import re
from pathlib import Path

from mmlong.errors import MmlongError
from mmlong.eval.tasks.base import join_parts

INTRO = ("You are an autonomous intelligent agent that extracts information from videos. You will be given a list of "
         "frames sampled from a video and its audio transcription. You will be given a question and you need to "
         "answer it based on the video provided.")
TEMPLATE = "VIDEO:\n{video}\nAUDIO:\n{audio}\nQUESTION:\n{objective}"
ANSWER_PHRASE = "ANSWER:"

# The two in-context examples of the official prompt, copied from
# agent/prompts/jsons/video_frame_intent_understanding.json in github.com/ljang0/videowebarena
# (MIT licence): (name, user text, answer). Each shows the 5 frames
# agent/prompts/video_frame_examples/frame_<name>_{0..4}.jpg of that repository.
EXAMPLES = (
    ("shopping",
     ("VIDEO:\n [FRAME-1] [FRAME-2] [FRAME-3] [FRAME-4] [FRAME-5] \nAUDIO:\n Hi everyone, welcome to a tutorial on "
     "the One Stop Market. Today this is just a general tutorial video and how to get around on things. So one thing "
     "you need to get to an item is simply click on the title or the image. And as you can see here is going to take "
     "me to the title. From here I can edit the quantity, add the cart, add to my wish list, add to my comparisons, "
     "and I can access through views here. Similarly if I go to this I will be very similar, this one has 12 views so "
     "I can see 12 views, I can also leave my own review at the bottom here. And then if I want to add items to my "
     "cart and just click add to cart, if I want to add to my wish list I can click the red heart button. Similarly I "
     "add a cart, sometimes you are going to get prompted with an option to add items details before I add the cart. "
     "Other times it is not going to be an option like here, add to your comparison page here as well. And so if I "
     "want to go to different sections I can go here, let's go to Xbox One, let's go and have a look. There are also "
     "subsections within categories, so these are also categories, so accessories is also a category. Let's find the "
     "most expensive item. And you can do this by sorting my price and then flipping the arrow, it says to my cart, "
     "let's get it in black, and then similarly you can go to my cart here. I'm going to go to view it on a cart and "
     "we can see that our cart is here and if I want to go back to the One Stop Market this is how things go. So I "
     "hope this helps and thanks for watching.\nQUESTION:\n What is the first item that gets added to the cart on "
     "the one-start market"),
     "ANSWER: Elmwood Inn Fine Teas, Orange Vanilla Caffeine-free Fruit Infusion, 16-Ounce Pouch"),
    ("reddit",
     ("VIDEO:\n [FRAME-1] [FRAME-2] [FRAME-3] [FRAME-4] [FRAME-5] \nAUDIO:\n I wanted to make a quick tutorial on how "
     "to use the reddit site. So let's say I wanted to make a response to a comment under one of the top posts under "
     "the r/technology forum. So I can click under this forums link here. Scroll down to technology. And let's say I "
     "wanted to view its comments so I can click here. And then look at all those comments. And I can see that this "
     "is the top comment here. And let's say I wanted to reply great comment. So I can get a quick preview. I can "
     "post it. And then now it shows me that I have successfully made a comment under this single comment. Right."
     "\nQUESTION:\n What is the name of the author of the post that the person in the video commented on?"),
     "ANSWER: Sorin61"),
)
EXAMPLE_FRAMES = 5  # frames per example


def example_frame_paths(folder: str | Path) -> list[Path]:
    """The official example frames in ``folder`` in prompt order: frame_shopping_0.jpg ... frame_reddit_4.jpg."""
    paths = [Path(folder) / f"frame_{name}_{i}.jpg" for name, _, _ in EXAMPLES for i in range(EXAMPLE_FRAMES)]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        more = " ..." if len(missing) > 3 else ""
        raise MmlongError(f"examples={folder}: missing {', '.join(missing[:3])}{more}; pass a folder with the "
                          "official agent/prompts/video_frame_examples/frame_*.jpg, or examples=text")
    return paths


def examples_parts(with_frames: bool) -> list:
    """The in-context examples (each example's text, then its answer) as prompt parts.

    With ``with_frames`` example k's ``[FRAME-j]`` markers are followed by image index
    ``k * EXAMPLE_FRAMES + j - 1`` (the official frame files in order); otherwise one string.
    """
    n = EXAMPLE_FRAMES
    if with_frames:
        head = f"Here are {len(EXAMPLES)} examples; each [FRAME-k] marker is followed by that frame:"
    else:
        head = f"Here are {len(EXAMPLES)} examples (their frames are not shown):"
    parts: list = [f"{head}\n\n"]
    for k, (_, text, answer) in enumerate(EXAMPLES):
        block = f"EXAMPLE {k + 1}:\n{text}\n{answer}" + ("\n\n" if k + 1 < len(EXAMPLES) else "")
        parts += attach_frames(block, k * n) if with_frames else [block]
    return join_parts(parts + ["\n\nNow answer the question about the video:"])


def attach_frames(text: str, first: int) -> list:
    """Parts with an image index after each ``[FRAME-k]`` marker: ``first + k - 1``.

    Example: ``attach_frames("VIDEO: [FRAME-1] [FRAME-2] end", 10)`` ->
    ``["VIDEO: [FRAME-1]", 10, " [FRAME-2]", 11, " end"]``.
    """
    parts: list = []
    pos = 0
    for m in re.finditer(r"\[FRAME-(\d+)\]", text):
        parts += [text[pos:m.end()], first + int(m.group(1)) - 1]
        pos = m.end()
    return parts + [text[pos:]] if pos < len(text) else parts
