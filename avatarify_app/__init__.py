"""avatarify-app: animate a still portrait with your webcam face in real time."""

__version__ = "0.1.0"
