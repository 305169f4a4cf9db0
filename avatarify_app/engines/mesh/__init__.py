"""The ``mesh`` engine: real time on a laptop CPU, no downloaded weights."""

from avatarify_app.engines.mesh.engine import MeshEngine

__all__ = ["MeshEngine"]
