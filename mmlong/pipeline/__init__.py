"""Pipelines: what ``mmlong.load`` returns."""

from mmlong.pipeline.direct import Pipeline

__all__ = ["Pipeline"]
