"""Where the settings keep an engine choice's secrets (a worker's token, a TURN password): the OS's
keyring (``keyring``: the Windows Credential Manager, the macOS Keychain, the Secret Service on a Linux
desktop) when it works, else the settings file, with a warning."""

from __future__ import annotations

import contextlib
import logging

logger = logging.getLogger(__name__)

SERVICE = "avatarify"


class KeyringSecrets:
    """Secrets in the OS's keyring, under ``SERVICE`` and a key such as ``"remote/token"``. Every
    call answers False / None where there is no keyring (a server, a desktop without one)."""

    def available(self) -> bool:
        try:
            import keyring
            from keyring.backends import fail

            return not isinstance(keyring.get_keyring(), fail.Keyring)
        except Exception:  # a broken keyring set-up is no keyring
            logger.debug("no keyring", exc_info=True)
            return False

    def get(self, key: str) -> str | None:
        if not self.available():
            return None
        try:
            import keyring

            return keyring.get_password(SERVICE, key)
        except Exception:
            logger.warning("the keyring could not be read (%s); see the log", key, exc_info=True)
            return None

    def set(self, key: str, value: str) -> bool:
        """Keep ``value`` (remove the key for ""); False when the keyring cannot."""
        if not self.available():
            return False
        try:
            import keyring
            from keyring.errors import PasswordDeleteError

            if value:
                keyring.set_password(SERVICE, key, value)
            else:
                with contextlib.suppress(PasswordDeleteError):  # there was none
                    keyring.delete_password(SERVICE, key)
            return True
        except Exception:
            logger.warning("the keyring refused %s", key, exc_info=True)
            return False
