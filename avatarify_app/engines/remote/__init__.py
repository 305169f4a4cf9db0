"""The remote engine: an ``avatarify serve`` worker on another machine, over WebRTC (docs/remote.md).

Importing this package loads neither aiortc nor aiohttp; connecting does.
"""

from avatarify_app.engines.remote.client import REFUSED, RemoteEngine, RemoteStats
from avatarify_app.engines.remote.transport import DEFAULT_PORT, IceSettings

__all__ = ["DEFAULT_PORT", "REFUSED", "IceSettings", "RemoteEngine", "RemoteStats"]
