"""Errors of video operations; each becomes a per-operation ``failed`` result."""

from __future__ import annotations


class VideoError(Exception):
    """An operation could not run; the message is shown to the caller."""


class InvalidInputError(VideoError):
    """The input file is missing, empty, too large, corrupt or not a video."""


class PathNotAllowedError(VideoError):
    """A path resolves outside its configured root."""
