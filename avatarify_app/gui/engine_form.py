"""The form an engine that needs more than a file asks for (``Needs.FORM``: the remote engine's worker
address, token and fingerprint): one line edit per labelled field of its choice record."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QWidget

from avatarify_app.pipeline.engine_setup import (
    EngineChoice,
    EngineInfo,
    choice_as_text,
    choice_fields,
    is_secret,
)


class EngineForm(QDialog):
    """Asks for the labelled fields of ``info``'s choice, filled in from ``choice``. A secret field
    (a token) shows dots, with a note when ``keyring_available`` is False (it will be kept in the
    settings file). ``values()`` gives the texts typed, by field name."""

    def __init__(
        self,
        info: EngineInfo,
        choice: EngineChoice,
        parent: QWidget | None = None,
        *,
        keyring_available: bool = True,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(info.short_label)
        self.edits: dict[str, QLineEdit] = {}
        form = QFormLayout(self)
        tip = QLabel(info.tip)
        tip.setWordWrap(True)
        form.addRow(tip)
        current = choice_as_text(choice)
        for f in choice_fields(info.choice):
            label = f.metadata.get("label")
            if not label:
                continue
            edit = QLineEdit(current.get(f.name, ""))
            edit.setPlaceholderText(f.metadata.get("metavar") or "")
            edit.setToolTip(f.metadata.get("help", ""))
            self.edits[f.name] = edit
            form.addRow(label, edit)
            if is_secret(f):
                edit.setEchoMode(QLineEdit.EchoMode.Password)
                if not keyring_available:
                    note = QLabel(
                        f"This computer has no keyring: the {label.lower()} is kept in the settings file."
                    )
                    note.setWordWrap(True)
                    form.addRow(note)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def values(self) -> dict[str, str]:
        return {name: edit.text().strip() for name, edit in self.edits.items()}
