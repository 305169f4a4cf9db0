"""Entry point of the bundled app (PyInstaller runs this file as ``__main__``)."""

import multiprocessing

from avatarify_app.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # a frozen app must handle multiprocessing's child start-up itself
    raise SystemExit(main())
