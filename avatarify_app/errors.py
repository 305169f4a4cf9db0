"""Exceptions that carry a sentence a person can act on.

Each message says what happened, what was expected and what was found. The controller and the CLI
turn them into one-line messages; an unexpected exception goes to the log with its traceback.
"""


class AvatarifyError(Exception):
    """Base class: the message is written for the user, not for a developer."""


class InputError(AvatarifyError):
    """A file the user named is missing, unreadable or of the wrong kind."""


class NoFaceError(AvatarifyError):
    """An image that must show a face (the avatar, the neutral frame) shows none."""


class CheckpointError(AvatarifyError):
    """A model checkpoint is missing, damaged or not the kind expected."""


class DeviceError(AvatarifyError):
    """A camera, microphone, virtual camera or compute device is missing or busy."""


class OutputError(AvatarifyError):
    """A file or device we write to refuses the data (not writable, disk full)."""
