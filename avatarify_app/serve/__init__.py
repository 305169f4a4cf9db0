"""The worker of the remote engine (``avatarify serve``): WebRTC sessions around local engines."""
