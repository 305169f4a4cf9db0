"""``avatarify models list|import|fetch``: the FOMM checkpoints the fomm engine can use."""

from __future__ import annotations

import argparse
import functools
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from avatarify_app.modelstore import (
    MODELS_DIR_ENV,
    default_models_dir,
    disk_error,
    fetch_model,
    find_entry,
    import_checkpoint,
    inspect_model,
    load_registry,
)
from avatarify_app.modelstore.liveportrait import default_folder, import_folder, inspect_folder


def register(subparsers: argparse._SubParsersAction) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--models-dir",
        type=Path,
        default=None,
        help=f"checkpoint folder (default: ${MODELS_DIR_ENV}, else models/ of the app)",
    )
    parser = subparsers.add_parser(
        "models",
        help="list, import or download FOMM checkpoints",
        description="FOMM checkpoints for the fomm engine. The weights are CC BY-NC 4.0 (non-commercial) "
        "and are not shipped with the app: import a file you have, or fetch one.",
    )
    actions = parser.add_subparsers(dest="models_command", metavar="ACTION", required=True)

    listing = actions.add_parser("list", parents=[common], help="the registry's checkpoints and their state")
    listing.add_argument("--no-verify", action="store_true", help="skip the md5 check (about 1 s per file)")
    listing.set_defaults(func=_disk_errors_as_messages(run_list))

    importing = actions.add_parser(
        "import", parents=[common], help="check a checkpoint file you have and put it in the models folder"
    )
    importing.add_argument(
        "path", type=Path, help="the .pth.tar file (fomm), or the liveportrait folder of five files"
    )
    importing.add_argument("--name", help="which registry entry it is (default: found by md5 or file name)")
    importing.add_argument("--copy", action="store_true", help="copy even where a hard link is possible")
    importing.add_argument("--force", action="store_true", help="replace a different file of the same name")
    importing.set_defaults(func=_disk_errors_as_messages(run_import))

    fetching = actions.add_parser(
        "fetch", parents=[common], help="download a checkpoint (resumes an interrupted download)"
    )
    fetching.add_argument("name", help="registry name, e.g. vox-adv-cpk")
    fetching.add_argument("--url", action="append", help="download from this address (repeatable)")
    fetching.add_argument("--force", action="store_true", help="download even if a good copy is present")
    fetching.set_defaults(func=_disk_errors_as_messages(run_fetch))


def _disk_errors_as_messages(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Any ``OSError`` the model store did not word itself becomes one line naming the file."""

    @functools.wraps(run)
    def guarded(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except OSError as exc:
            path = Path(exc.filename) if exc.filename else default_models_dir(args.models_dir)
            raise disk_error("use", path, exc) from exc

    return guarded


def run_list(args: argparse.Namespace) -> int:
    models_dir = default_models_dir(args.models_dir)
    statuses = [inspect_model(e, models_dir, verify=not args.no_verify) for e in load_registry()]
    rows = [("name", "present", "md5 ok", "path")]
    for s in statuses:
        if not s.present:
            md5 = "-"
        elif s.md5_ok is None:
            md5 = "skipped" if args.no_verify and s.entry.md5 else "unknown"
        else:
            md5 = "yes" if s.md5_ok else "NO"
        rows.append((s.entry.name, "yes" if s.present else "no", md5, str(s.path)))
    for status in inspect_folder(default_folder(models_dir)):  # the LivePortrait folder, file by file
        name = f"liveportrait/{status.file.part} ({status.file.licence})"
        rows.append(
            (name, "yes" if status.path else "no", "unknown" if status.path else "-", str(status.path or ""))
        )
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths, strict=True)) + "  " + row[3])
    return 0


def run_import(args: argparse.Namespace) -> int:
    models_dir = default_models_dir(args.models_dir)
    if Path(args.path).is_dir():  # a LivePortrait download: its folder of five files
        imported = import_folder(args.path, models_dir, copy=args.copy, force=args.force)
        print(f"liveportrait: imported into {imported.folder}")
        for released, path, md5, method in imported.files:
            print(f"  {path.name}  md5 {md5}  ({method}; licence: {released.licence})")
        return 0
    result = import_checkpoint(
        args.path, models_dir, load_registry(), name=args.name, copy=args.copy, force=args.force
    )
    print(f"{result.entry.name}: {result.verdict.value}")
    print(f"{result.path} ({result.method})")
    return 0


def run_fetch(args: argparse.Namespace) -> int:
    models_dir = default_models_dir(args.models_dir)
    entry = find_entry(load_registry(), args.name)
    if args.url or entry.urls:
        print(f"{entry.name}: licence {entry.licence}", file=sys.stderr)
    bar = ProgressLine(entry.name, sys.stderr)
    try:
        result = fetch_model(entry, models_dir, args.url, on_progress=bar.update, force=args.force)
    finally:
        bar.close()
    if result.url is None:
        print(f"{result.path} is already present and verified")
    else:
        resumed = f", resumed at {result.resumed_from} bytes" if result.resumed_from else ""
        print(f"{result.path} (verified; from {result.url}{resumed})")
    return 0


class ProgressLine:
    """A one-line progress bar on ``stream``, redrawn at most ten times a second."""

    def __init__(self, label: str, stream: TextIO, min_interval_s: float = 0.1) -> None:
        self.label, self.stream, self.min_interval_s = label, stream, min_interval_s
        self._t_start = time.monotonic()
        self._t_drawn = 0.0
        self._first: int | None = None
        self._drawn = False

    def update(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        if self._first is None:
            self._first, self._t_start = done, now
        if now - self._t_drawn < self.min_interval_s and done != total:
            return
        self._t_drawn = now
        rate = (done - self._first) / max(now - self._t_start, 1e-3) / 1e6
        mb = done / 1e6
        if total:
            width = 24
            filled = int(width * done / total)
            text = f"{self.label} [{'#' * filled}{'.' * (width - filled)}] {100 * done / total:3.0f}% "
            text += f"{mb:.1f}/{total / 1e6:.1f} MB {rate:.1f} MB/s"
        else:
            text = f"{self.label} {mb:.1f} MB {rate:.1f} MB/s"
        self.stream.write("\r" + text.ljust(78))
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
