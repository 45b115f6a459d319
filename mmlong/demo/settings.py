"""The settings panel of the demo page -> one :class:`AskSettings` per question.

The page's controls hold raw values (a radio's string, a dropdown's "off" or "16k", a number
box that may be empty); :func:`from_page` turns them into an :class:`AskSettings`: the route,
the position scheme, the load-time options (``prefill``, ``reduce``) and one
:class:`~mmlong.video.settings.FrameSettings` for the direct route. The controls' defaults
come from :func:`page_defaults`, which reads them off ``FrameSettings()``, so the page has no
second copy of the frame defaults::

    st = from_page("direct", "hope", "16k", 1.0, 128, "off", "temporal")
    st.frames                 # FrameSettings(fps=1.0, max_frames=128, budget=16384)
    st.load_opts()            # {"reduce": "temporal"}: changing it reloads the pipeline

The max-frames slider always holds a number; at the default cap for the chosen budget (64,
or 768 with a budget: :func:`default_cap`) it means "not set", so the page and ``mmlong ask``
with the same choices resolve the same settings. The page moves the slider to the new default
cap when the budget is switched on or off.

Nothing here imports gradio or torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mmlong.errors import MmlongError
from mmlong.video.settings import BUDGET_MAX_FRAMES, FrameSettings

__all__ = ["AskSettings", "from_page", "page_defaults", "default_cap", "routes_for", "BUDGETS", "REDUCE_CHOICES",
           "OFF", "prefill_choices", "MAX_FRAMES_SLIDER"]

BUDGETS = ("4k", "8k", "16k", "32k", "64k")  # the budget dropdown's choices (besides "off" and custom values)
REDUCE_CHOICES = ("off", "temporal", "temporal+budget:4096", "relevance:0.25")
OFF = "off"  # what the dropdowns show for "not set"
MAX_FRAMES_SLIDER = (2, BUDGET_MAX_FRAMES)  # range of the max-frames slider
_UNSET = (None, "", OFF)


@dataclass(frozen=True)
class AskSettings:
    """What the settings panel chose for one question.

    Attributes:
        route: ``"silvr"`` (language route: OCR + speech -> text LLM) or ``"direct"`` (frames -> VLM).
        pos: the position scheme (direct route; changing it re-patches the loaded model).
        prefill: sparse prefill method (direct route, load-time), or None.
        reduce: visual token reduction (direct route, load-time), or None.
        frames: which frames of a video the direct route shows the model.
    """

    route: str = "silvr"
    pos: str = "native"
    prefill: str | None = None
    reduce: str | None = None
    frames: FrameSettings = field(default_factory=FrameSettings)

    def load_opts(self) -> dict:
        """Load-time options of ``mmlong.load`` (they select a pipeline: changing one reloads it).

        Only the direct route takes them; the language route gets none.
        """
        if self.route != "direct":
            return {}
        return {k: v for k, v in (("prefill", self.prefill), ("reduce", self.reduce)) if v is not None}


def routes_for(model: str) -> tuple[str, ...]:
    """Routes a model can serve: the default (text-only) model has only the language route."""
    return ("silvr",) if model == "default" else ("direct", "silvr")


def page_defaults() -> dict:
    """The settings controls' initial values, read off ``FrameSettings()`` (budget "off" when it has none)."""
    d = FrameSettings()
    return {"pos": AskSettings.pos, "budget": OFF if d.budget is None else str(d.budget), "fps": d.rate,
            "max_frames": d.frame_cap, "prefill": OFF, "reduce": OFF}


def default_cap(budget: Any) -> int:
    """The frame cap FrameSettings gives for the budget dropdown's value (64 off, 768 on; 64 if invalid)."""
    try:
        return FrameSettings(budget=_text(budget)).frame_cap
    except MmlongError:
        return FrameSettings().frame_cap


def prefill_choices() -> list[str]:
    """The sparse prefill dropdown's choices: "off" and the methods ``mmlong.load(prefill=...)`` accepts."""
    from mmlong.sparse.patch import METHODS

    return [OFF, *METHODS]


def _text(value: Any) -> str | None:
    if value in _UNSET or (isinstance(value, str) and value.strip().lower() in ("", OFF, "none")):
        return None
    return str(value).strip()


def _number(value: Any, cast, what: str):
    if value in (None, ""):
        return None
    try:
        return cast(float(value))
    except (TypeError, ValueError):
        raise MmlongError(f"{what} must be a number, got {value!r}") from None


def from_page(route: Any = None, pos: Any = None, budget: Any = None, fps: Any = None, max_frames: Any = None,
              prefill: Any = None, reduce: Any = None, *, routes: tuple[str, ...] = ("silvr",)) -> AskSettings:
    """The :class:`AskSettings` for the raw values of the page's controls (in the panel's order).

    ``None``, ``""`` and ``"off"`` mean "not set": the :class:`FrameSettings` default (fps,
    frame cap, no budget) or no load option; ``route`` defaults to ``routes[0]``. The frame
    controls are the direct route's: on the language route they are not read.

    Raises:
        MmlongError: a value the frame settings refuse (e.g. budget "lots", fps 0), one line.
    """
    route = _text(route) or routes[0]
    frames = FrameSettings()
    if route == "direct":
        cap = _number(max_frames, int, "max frames")
        frames = FrameSettings.of(None, budget=_text(budget), fps=_number(fps, float, "frames per second"))
        if cap is not None and cap != frames.frame_cap:  # the slider at the default cap means "not set"
            frames = FrameSettings.of(frames, max_frames=cap)
    return AskSettings(route=route, pos=_text(pos) or AskSettings.pos, prefill=_text(prefill), reduce=_text(reduce),
                       frames=frames)
