"""Downloading a registry checkpoint: resumable (HTTP Range into ``<file>.part``), verified, atomic.

The transfer writes ``<models_dir>/<file>.part``. A dropped connection leaves it there; the next
attempt (in the same call, or a later ``avatarify models fetch``) asks the server for the rest with
``Range: bytes=N-`` and appends; a server that ignores the Range header sends the whole file again,
which then overwrites the part. A complete file must match the registry's size and md5 (or, with no
md5 recorded, load as a FOMM checkpoint); then ``os.replace`` moves it into place, so the final name
never holds a partial or unverified file. A file that fails verification is renamed ``<file>.bad``.
Uses only urllib.
"""

from __future__ import annotations

import http.client
import logging
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from avatarify_app import __version__
from avatarify_app.errors import AvatarifyError, CheckpointError, InputError
from avatarify_app.modelstore.registry import ModelEntry, disk_error
from avatarify_app.modelstore.verify import check_loadable, file_md5, inspect_model

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int | None], None]
"""Called with (bytes of the file on disk so far, total bytes or None when the server does not say)."""

CHUNK_BYTES = 1 << 16
_CONTENT_RANGE_RE = re.compile(r"bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)")


class DownloadError(AvatarifyError):
    """No address gave a verified file; the message lists what each one did."""


@dataclass(frozen=True, slots=True)
class FetchResult:
    """``resumed_from``: bytes already in the part file when the successful transfer began;
    ``url`` is None when the file was already present and verified."""

    entry: ModelEntry
    path: Path
    url: str | None
    resumed_from: int = 0


class _Retry(Exception):
    """The transfer stopped part-way; the part file keeps what arrived."""


class _GiveUp(Exception):
    """This address will not give the file (HTTP error, bad address, wrong contents)."""


class _DiskError(Exception):
    """The part file cannot be written (read-only folder, full disk): no address can help."""

    def __init__(self, doing: str, path: Path, error: OSError) -> None:
        super().__init__(f"cannot {doing} {path}: {error}")
        self.doing, self.path, self.error = doing, path, error


def part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def bad_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".bad")


def fetch_model(
    entry: ModelEntry,
    models_dir: Path,
    urls: Sequence[str] | None = None,
    *,
    on_progress: ProgressCallback | None = None,
    timeout_s: float = 30.0,
    attempts: int = 3,
    force: bool = False,
    root: Path | None = None,
) -> FetchResult:
    """Download ``entry`` into ``models_dir`` from ``urls`` (default: the registry's), in order.

    ``attempts``: tries per address in a row that add no byte to the part file (a transfer that
    drops after making progress is resumed at once). ``timeout_s`` bounds each connect and read.
    An existing file that verifies is kept (``force`` downloads anyway). Raises ``DownloadError``
    listing every address's failure (the part file stays for the next run to resume), and
    ``InputError`` when there is no address to try or the existing file is not the registry's.
    """
    models_dir = Path(models_dir)
    dest = models_dir / entry.file
    if dest.exists() and not force:
        status = inspect_model(entry, models_dir)
        if status.md5_ok is False:
            raise InputError(
                f"{dest} exists but its md5 is not the registry's: move it away (or pass --force) "
                "to download a fresh copy"
            )
        logger.info("%s already present", dest)
        return FetchResult(entry, dest, url=None)
    addresses = list(urls) if urls else list(entry.urls)
    if not addresses:
        raise InputError(
            f"no download address is known for {entry.name}: download {entry.file} yourself, then run "
            f"`avatarify models import PATH` (or give an address with --url)"
        )
    try:
        models_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise disk_error("create the models folder", models_dir, exc) from exc
    part = part_path(dest)
    failures: list[str] = []
    for url in addresses:
        resumed_from = part.stat().st_size if part.exists() else 0
        try:
            _download(url, part, on_progress, timeout_s, attempts)
            _verify(entry, part, dest, url, root)
            os.replace(part, dest)
        except _GiveUp as exc:
            failures.append(f"{url}: {exc}")
            continue
        except _DiskError as exc:  # the models folder, not the address: no other address helps
            raise disk_error(exc.doing, exc.path, exc.error) from exc.error
        except OSError as exc:
            raise disk_error("write", part, exc) from exc
        logger.info("downloaded %s from %s", dest, url)
        return FetchResult(entry, dest, url, resumed_from)
    kept = f"; {part.stat().st_size} bytes are kept in {part} for the next try" if part.exists() else ""
    raise DownloadError(f"could not download {entry.name}: " + "; ".join(failures) + kept)


def _download(
    url: str, part: Path, on_progress: ProgressCallback | None, timeout_s: float, attempts: int
) -> None:
    """Transfer ``url`` into ``part`` until complete, resuming after drops; raises ``_GiveUp``."""
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in ("http", "https"):
        raise _GiveUp(f"not an http(s) address (scheme {scheme!r})")
    fruitless = 0
    while True:
        before = part.stat().st_size if part.exists() else 0
        try:
            _transfer_once(url, part, on_progress, timeout_s)
            return
        except _Retry as exc:
            after = part.stat().st_size if part.exists() else 0
            fruitless = 0 if after > before else fruitless + 1
            logger.info("transfer from %s stopped at %d bytes (%s)", url, after, exc)
            if fruitless >= attempts:
                raise _GiveUp(f"{exc} ({attempts} tries in a row added nothing)") from exc


def _transfer_once(url: str, part: Path, on_progress: ProgressCallback | None, timeout_s: float) -> None:
    """One HTTP request: the rest of the file from the part's current size, appended to it."""
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": f"avatarify-app/{__version__}"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
        logger.info("resuming %s at byte %d", url, offset)
    try:
        response = urllib.request.urlopen(request, timeout=timeout_s)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:
            _on_range_refused(exc, part, offset)  # returns when the part is already complete
            return
        if exc.code >= 500:
            raise _Retry(f"server error {exc.code} {exc.reason}") from exc
        raise _GiveUp(f"HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise _Retry(f"cannot connect: {reason}") from exc
    with response:
        start, total = _response_span(response, offset)
        done = start
        try:
            f = part.open("r+b" if part.exists() else "wb")
        except OSError as exc:
            raise _DiskError("write", part, exc) from exc
        with f:
            f.seek(start)
            f.truncate()
            if on_progress is not None:
                on_progress(done, total)
            while True:
                try:
                    chunk = response.read(CHUNK_BYTES)
                except http.client.IncompleteRead as exc:
                    f.write(exc.partial)
                    raise _Retry(f"connection closed after {done + len(exc.partial)} bytes") from exc
                except OSError as exc:  # reset, timeout
                    raise _Retry(f"connection lost after {done} bytes: {exc}") from exc
                if not chunk:
                    break
                try:
                    f.write(chunk)
                except OSError as exc:
                    raise _DiskError("write", part, exc) from exc
                done += len(chunk)
                if on_progress is not None:
                    on_progress(done, total)
    if total is not None and done < total:
        raise _Retry(f"connection closed after {done} of {total} bytes")


def _response_span(response: http.client.HTTPResponse, offset: int) -> tuple[int, int | None]:
    """Where this response's bytes start in the file, and the file's total size if known."""
    length = response.headers.get("Content-Length")
    if response.status == 206:
        match = _CONTENT_RANGE_RE.match(response.headers.get("Content-Range", ""))
        if match is None or match.group(1) is None:
            raise _GiveUp(f"unreadable Content-Range {response.headers.get('Content-Range')!r}")
        start = int(match.group(1))
        if start > offset:
            raise _GiveUp(f"server sent bytes from {start}, asked for {offset}")
        total = int(match.group(3)) if match.group(3) != "*" else None
        return start, total
    if offset:
        logger.info("server ignored the Range request: downloading the whole file again")
    return 0, int(length) if length is not None and length.isdigit() else None


def _on_range_refused(exc: urllib.error.HTTPError, part: Path, offset: int) -> None:
    """416 to ``bytes=offset-``: the part is complete when the server's size equals it; otherwise the
    part is longer than the remote file (stale), so it is dropped and the transfer starts over."""
    match = _CONTENT_RANGE_RE.match(exc.headers.get("Content-Range", "") if exc.headers else "")
    if match is not None and match.group(3) == str(offset):
        return
    part.unlink()
    raise _Retry(f"the server refused to resume at byte {offset}: starting over") from exc


def _verify(entry: ModelEntry, part: Path, dest: Path, url: str, root: Path | None) -> None:
    """Check the downloaded file; a wrong one is renamed ``<file>.bad`` and ``_GiveUp`` raised."""
    size = part.stat().st_size
    problem = None
    if entry.size is not None and size != entry.size:
        problem = f"it has {size} bytes, expected {entry.size}"
    elif entry.md5 is not None:
        md5 = file_md5(part)
        if md5 != entry.md5:
            problem = f"wrong checksum: md5 {md5}, expected {entry.md5}"
    else:
        try:
            check_loadable(part, entry.config_path(root))
        except (CheckpointError, InputError) as exc:
            problem = f"it is not a FOMM checkpoint ({exc})"
    if problem is None:
        return
    bad = bad_path(dest)
    os.replace(part, bad)
    logger.warning("download of %s from %s refused: %s; kept as %s", entry.name, url, problem, bad)
    raise _GiveUp(f"refused: {problem}; the file was kept as {bad}")
