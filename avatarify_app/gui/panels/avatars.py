"""The avatar gallery: the bundled portraits plus the user's own, added by file dialog or drag-and-drop."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QFile, QPoint, QSize, QStandardPaths, Qt, Signal
from PySide6.QtGui import QColor, QDragEnterEvent, QDropEvent, QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from avatarify_app.config import IMAGE_SUFFIXES
from avatarify_app.frames import MessageLevel, UserMessage
from avatarify_app.gui.bridge import ControllerBridge
from avatarify_app.gui.thumbnails import THUMBNAIL_SIZE, ThumbnailLoader
from avatarify_app.gui.widgets import pictures_folder
from avatarify_app.pipeline.controller import Controller
from avatarify_app.pipeline.events import AvatarChanged
from avatarify_app.pipeline.faces import avatar_files

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
        self.move_to_trash: Callable[[str], bool] = QFile.moveToTrash  # tests keep the real trash clean
        self._unconfirmed: Path | None = None  # just added; removed again if the engine refuses it
        self._awaiting_thumbnails: set[str] = set()
        self.list = QListWidget()
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setFlow(QListView.Flow.LeftToRight)
        self.list.setWrapping(False)
        self.list.setMovement(QListView.Movement.Static)
        self.list.setIconSize(QSize(THUMBNAIL_SIZE, THUMBNAIL_SIZE))
        self.list.setFixedHeight(THUMBNAIL_SIZE + 48)
        # One cell per avatar; names too long for it end in "…" (the tooltip has the file).
        self.list.setGridSize(QSize(THUMBNAIL_SIZE + 20, THUMBNAIL_SIZE + 30))
        self.list.setUniformItemSizes(True)
        self.list.setWordWrap(False)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        # The selection is a frame, not a tint over the picture (a gray photo must stay gray).
        self.list.setStyleSheet(
            "QListWidget::item:selected {"
            " background: transparent; color: palette(text); border: 2px solid #3d8fd1; }"
            "QListWidget::item:hover { background: rgba(255, 255, 255, 0.08); }"
        )
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._on_context_menu)
        self.list.setToolTip(
            "Click an avatar to use it (keys 1-9, A / D). Drop image files here to add them; "
            "right-click one you added to rename or remove it."
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
        for path in avatar_files(self.user_dir):
            self._add_item(path)
        self._select(controller.settings.avatar)  # the avatar in use, from the start (not the first)

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

    def is_removable(self, path: Path) -> bool:
        """Avatars the user added (in ``user_dir``) can be renamed and removed; bundled ones cannot."""
        try:
            return Path(path).resolve().parent == self.user_dir.resolve()
        except OSError:
            return False

    def rename(self, path: Path, name: str) -> Path | None:
        """Give an added avatar a new name (the file in ``user_dir``, its suffix kept). Returns the new
        file, or None when the name is empty, taken or cannot be used (reported as a message)."""
        name = name.strip()
        if not self.is_removable(path) or not name:
            return None
        target = self.user_dir / f"{name}{Path(path).suffix}"
        if "/" in name or "\\" in name or target.exists():
            self._report(f"Cannot rename to “{name}”: choose a name not used yet, without slashes.")
            return None
        try:
            Path(path).rename(target)
        except OSError as exc:
            self._report(f"Could not rename {Path(path).name}: {exc.strerror}.")
            return None
        self._thumbnails.forget(path)
        item = self._item(path)
        if item is not None:
            item.setData(PATH_ROLE, target)
            item.setText(_title(target))
            item.setToolTip(str(target))
        current = self._controller.settings.avatar
        if current is not None and _same_file(current, path):
            self._controller.set_avatar(target)
        logger.info("renamed avatar %s to %s", path, target)
        return target

    def remove(self, path: Path) -> bool:
        """Take an added avatar out of the gallery and move its file to the trash (deleted where there
        is no trash). The avatar in use makes way for the first one. True when it was removed."""
        if not self.is_removable(path):
            return False
        if not self.move_to_trash(str(path)):
            try:
                Path(path).unlink()
            except OSError as exc:
                self._report(f"Could not remove {Path(path).name}: {exc.strerror}.")
                return False
        self._thumbnails.forget(path)
        item = self._item(path)
        if item is not None:
            self.list.takeItem(self.list.row(item))
        current = self._controller.settings.avatar
        if current is not None and _same_file(current, path) and self.list.count():
            self.choose(0)
        logger.info("removed avatar %s", path)
        return True

    def choose_file(self) -> None:
        pattern = " ".join(f"*{suffix}" for suffix in IMAGE_SUFFIXES)
        name, _ = QFileDialog.getOpenFileName(self, "Add an avatar", pictures_folder(), f"Images ({pattern})")
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
    def _on_context_menu(self, position: QPoint) -> None:
        item = self.list.itemAt(position)
        if item is None or not self.is_removable(item.data(PATH_ROLE)):
            return
        path = item.data(PATH_ROLE)
        menu = QMenu(self)
        menu.addAction("Rename…", lambda: self._ask_rename(path))
        menu.addAction("Remove", lambda: self.remove(path))
        menu.exec(self.list.viewport().mapToGlobal(position))

    def _ask_rename(self, path: Path) -> None:
        name, ok = QInputDialog.getText(self, "Rename avatar", "New name:", text=Path(path).stem)
        if ok:
            self.rename(path, name)

    def _on_item_clicked(self, item: QListWidgetItem) -> None:
        self._controller.set_avatar(item.data(PATH_ROLE))

    def _on_avatar_changed(self, event: AvatarChanged) -> None:
        if event.path is None:
            return
        if self._unconfirmed is not None and _same_file(event.path, self._unconfirmed):
            self._unconfirmed = None
        item = self._item(event.path)
        self.list.setCurrentItem(item if item is not None else self._add_item(event.path))

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
        self._select(self._controller.settings.avatar)

    def _on_thumbnail(self, path: str, image: QImage) -> None:
        self._awaiting_thumbnails.discard(path)
        if image.isNull():
            return
        item = self._item(Path(path))
        if item is not None:
            item.setIcon(_icon(QPixmap.fromImage(image)))

    # -- helpers ------------------------------------------------------------------------------------
    def _add_item(self, path: Path) -> QListWidgetItem:
        placeholder = QPixmap(THUMBNAIL_SIZE, THUMBNAIL_SIZE)
        placeholder.fill(QColor(60, 60, 66))
        item = QListWidgetItem(_icon(placeholder), _title(path))
        item.setData(PATH_ROLE, path)
        item.setToolTip(str(path))
        self.list.addItem(item)
        self._awaiting_thumbnails.add(str(path))
        self._thumbnails.request(path)
        return item

    def _item(self, path: Path) -> QListWidgetItem | None:
        for row in range(self.list.count()):
            item = self.list.item(row)
            if _same_file(item.data(PATH_ROLE), path):
                return item
        return None

    def _select(self, path: Path | None) -> None:
        item = self._item(path) if path is not None else None
        if item is not None:
            self.list.setCurrentItem(item)

    def _report(self, text: str) -> None:
        self.problem.emit(UserMessage(MessageLevel.ERROR, text, key="avatar"))


def _icon(pixmap: QPixmap) -> QIcon:
    """An icon that looks the same selected (Qt tints the selected mode's picture by default)."""
    icon = QIcon(pixmap)
    icon.addPixmap(pixmap, QIcon.Mode.Selected)
    return icon


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
