"""Driving frames from a webcam, a video file or the demo motion, behind one ``Source`` contract.

Everything a source returns is RGB uint8 (H, W, 3); sources know nothing of what happens downstream.
"""

from __future__ import annotations

from avatarify_app.capture.base import Source
from avatarify_app.capture.video_file import VideoFileSource
from avatarify_app.capture.webcam import CameraInfo, WebcamSource, list_cameras
from avatarify_app.config import SourceSpec
from avatarify_app.errors import InputError


def create_source(spec: SourceSpec) -> Source:
    """The source ``spec`` describes, not yet opened. Raises ``InputError`` for a video without a path."""
    if spec.kind == "camera":
        return WebcamSource(spec.camera, spec.width, spec.height, spec.fps)
    if spec.kind == "video":
        if spec.path is None:
            raise InputError("choose a video file to play as the camera")
        return VideoFileSource(spec.path, loop=spec.loop)
    if spec.kind == "demo":
        from avatarify_app.capture.demo_source import DemoSource

        return DemoSource(fps=spec.fps)
    raise InputError(f"unknown source kind {spec.kind!r}: expected camera, video or demo")


__all__ = ["CameraInfo", "Source", "VideoFileSource", "WebcamSource", "create_source", "list_cameras"]
