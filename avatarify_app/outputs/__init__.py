"""Sinks for the live pipeline (virtual camera, recorder) and the MP4 writer they and ``render`` share."""
