"""Moved to :mod:`mmlong.tokens.reduce`; this import path works for one release, with a DeprecationWarning."""

from mmlong._lazy import moved

moved(__name__, "mmlong.tokens.reduce")
