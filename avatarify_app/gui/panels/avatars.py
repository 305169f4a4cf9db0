"""The avatar gallery: the bundled portraits plus the user's own, added by file dialog or drag-and-drop."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from PySide6.QtCore import QSize, QStandardPaths, Qt, Signal
from PySide6.QtGui import QColor, QDragEnterEvent, QDropEvent, QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from avatarify_app.frames import MessageLevel, UserMessage
from avatarify_app.gui.bridge import ControllerBridge
from avatarify_app.gui.thumbnails import THUMBNAIL_SIZE, ThumbnailLoader
from avatarify_app.pipeline.avatars import IMAGE_SUFFIXES, bundled_avatars
from avatarify_app.pipeline.controller import Controller
from avatarify_app.pipeline.events import AvatarChanged

logger = logging.getLogger(__name__)

PATH_ROLE = Qt.ItemDataRole.UserRole


def default_user_avatar_dir() -> Path:
    """Where avatars the user adds are copied: <app data>/avatars (not created here)."""
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(base) / "avatars"


class AvatarGallery(QWidget):
    """Thumbnails of every avatar; clicking one asks the controller to use it.

    Added images are copied into ``user_dir``. An image the controller refuses (no face: an ERROR
    message with key ``"avatar"``) is taken out of the gallery again and its copy deleted; the
    message itself is shown by the window.
    """

    avatar_added = Signal(object)
    """``Path`` of an image just copied into the user folder (not yet accepted by the engine)."""
    problem = Signal(object)
    """``UserMessage`` about a file refused before it reached the controller (not an image, no copy)."""

    def __init__(
        self,
        controller: Controller,
        bridge: ControllerBridge,
        user_dir: Path,
        thumbnails: ThumbnailLoader,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._controller = controller
        self.user_dir = user_dir
        self._thumbnails = thumbnails
        self._unconfirmed: Path | None = None  # just added; removed again if the engine refuses it
        self._awaiting_thumbnails: set[str] = set()
        self.list = QListWidget()
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setFlow(QListView.Flow.LeftToRight)
        self.list.setWrapping(False)
        self.list.setMovement(QListView.Movement.Static)
        self.list.setIconSize(QSize(THUMBNAIL_SIZE, THUMBNAIL_SIZE))
        self.list.setFixedHeight(THUMBNAIL_SIZE + 48)
        self.list.setToolTip(
            "Click an avatar to use it (keys 1-9, A / D). Drop image files here to add them."
        )
        self.list.itemClicked.connect(self._on_item_clicked)
        self.add_button = QPushButton("Add avatar…")
        self.add_button.setToolTip("Copy an image of a face into your avatar folder and use it")
        self.add_button.clicked.connect(self.choose_file)
        buttons = QVBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addStretch(1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        self.setAcceptDrops(True)
        thumbnails.ready.connect(self._on_thumbnail)
        bridge.avatar_changed.connect(self._on_avatar_changed)
        bridge.message_posted.connect(self._on_message)
        for path in [*bundled_avatars(), *self._user_avatars()]:
            self._add_item(path)

    # -- queries ------------------------------------------------------------------------------------
    def paths(self) -> list[Path]:
        return [self.list.item(i).data(PATH_ROLE) for i in range(self.list.count())]

    @property
    def thumbnails_pending(self) -> int:
        """How many thumbnails are still being made."""
        return len(self._awaiting_thumbnails)

    def current_path(self) -> Path | None:
        item = self.list.currentItem()
        return item.data(PATH_ROLE) if item is not None else None

    # -- commands -----------------------------------------------------------------------------------
    def choose(self, row: int) -> None:
        """Use the avatar in ``row`` (0-based; out of range does nothing)."""
        if 0 <= row < self.list.count():
            self.list.setCurrentRow(row)
            self._controller.set_avatar(self.list.item(row).data(PATH_ROLE))

    def step(self, delta: int) -> None:
        """Use the previous (-1) or next (+1) avatar, wrapping around."""
        count = self.list.count()
        if count:
            self.choose((max(self.list.currentRow(), 0) + delta) % count)

    def choose_file(self) -> None:
        pattern = " ".join(f"*{suffix}" for suffix in IMAGE_SUFFIXES)
        name, _ = QFileDialog.getOpenFileName(self, "Add an avatar", "", f"Images ({pattern})")
        if name:
            self.add_file(Path(name))

    def add_file(self, source: Path) -> Path | None:
        """Copy ``source`` into the user folder, show it and use it. Returns the copy (None on failure,
        reported as a message)."""
        if source.suffix.lower() not in IMAGE_SUFFIXES:
            self._report(f"{source.name} is not an image file (expected JPEG, PNG, BMP, WebP or TIFF).")
            return None
        try:
            self.user_dir.mkdir(parents=True, exist_ok=True)
            target = _unique_path(self.user_dir, source.name)
            shutil.copyfile(source, target)
        except OSError as exc:
            self._report(f"Could not copy {source.name} into {self.user_dir}: {exc.strerror}.")
            return None
        logger.info("added avatar %s as %s", source, target)
        item = self._add_item(target)
        self.list.setCurrentItem(item)
        self._unconfirmed = target
        self.avatar_added.emit(target)
        self._controller.set_avatar(target)
        return target

    # -- drag and drop ------------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802  (Qt's name)
        if any(Path(url.toLocalFile()).suffix.lower() in IMAGE_SUFFIXES for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802  (Qt's name)
        files = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()]
        for path in files:
            self.add_file(path)
        event.acceptProposedAction()

    # -- events -------------------------------------------------------------------------------------
    def _on_item_clicked(self, item: QListWidgetItem) -> None:
        self._controller.set_avatar(item.data(PATH_ROLE))

    def _on_avatar_changed(self, event: AvatarChanged) -> None:
        if event.path is None:
            return
        if self._unconfirmed is not None and _same_file(event.path, self._unconfirmed):
            self._unconfirmed = None
        for row in range(self.list.count()):
            if _same_file(self.list.item(row).data(PATH_ROLE), event.path):
                self.list.setCurrentRow(row)
                return
        self.list.setCurrentItem(self._add_item(event.path))

    def _on_message(self, message: UserMessage) -> None:
        if message.key != "avatar" or message.level is not MessageLevel.ERROR or self._unconfirmed is None:
            return
        refused, self._unconfirmed = self._unconfirmed, None
        for row in range(self.list.count()):
            if _same_file(self.list.item(row).data(PATH_ROLE), refused):
                self.list.takeItem(row)
                break
        refused.unlink(missing_ok=True)
        logger.info("removed the refused avatar %s", refused)
        current = self._controller.settings.avatar
        for row in range(self.list.count()):
            if current is not None and _same_file(self.list.item(row).data(PATH_ROLE), current):
                self.list.setCurrentRow(row)

    def _on_thumbnail(self, path: str, image: QImage) -> None:
        self._awaiting_thumbnails.discard(path)
        if image.isNull():
            return
        for row in range(self.list.count()):
            item = self.list.item(row)
            if str(item.data(PATH_ROLE)) == path:
                item.setIcon(QIcon(QPixmap.fromImage(image)))

    # -- helpers ------------------------------------------------------------------------------------
    def _add_item(self, path: Path) -> QListWidgetItem:
        placeholder = QPixmap(THUMBNAIL_SIZE, THUMBNAIL_SIZE)
        placeholder.fill(QColor(60, 60, 66))
        item = QListWidgetItem(QIcon(placeholder), _title(path))
        item.setData(PATH_ROLE, path)
        item.setToolTip(str(path))
        self.list.addItem(item)
        self._awaiting_thumbnails.add(str(path))
        self._thumbnails.request(path)
        return item

    def _user_avatars(self) -> list[Path]:
        if not self.user_dir.is_dir():
            return []
        return sorted(p for p in self.user_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)

    def _report(self, text: str) -> None:
        self.problem.emit(UserMessage(MessageLevel.ERROR, text, key="avatar"))


def _title(path: Path) -> str:
    return path.stem.replace("_", " ").replace("-", " ").title()


def _unique_path(folder: Path, name: str) -> Path:
    target = folder / name
    stem, suffix, n = target.stem, target.suffix, 2
    while target.exists():
        target = folder / f"{stem}-{n}{suffix}"
        n += 1
    return target


def _same_file(a: Path, b: Path) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return Path(a) == Path(b)
