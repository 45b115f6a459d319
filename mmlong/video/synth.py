"""Moved to :mod:`mmlong.data.synth_video`; this import path works for one release, with a DeprecationWarning."""

from mmlong._lazy import moved

moved(__name__, "mmlong.data.synth_video")
