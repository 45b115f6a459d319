"""SiLVR's language route: video -> timestamped text (OCR, ASR, captions) -> a text LLM.

See ``route.py`` for the pipeline, ``context.py`` for adaptive granularity.
"""

from mmlong.silvr.route import SilvrConfig, SilvrPipeline
from mmlong.silvr.segments import Segment, Transcript

__all__ = ["SilvrConfig", "SilvrPipeline", "Segment", "Transcript"]
