"""Renders one ``Form`` of the provisioning flow generically from its fields."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QCompleter,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from hub_app.provisioning import Field, Form

from .texts import field_label, message_text, network_details, step_hint, step_title, tr

#: fields that the wizard turns into its buttons instead of showing them
BUTTON_FIELDS = {"confirm_network": "confirm", "wait_lan": "retry"}


class ErrorLabel(QLabel):
    """An error or warning in plain words, with the next step; hidden when empty."""

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setAccessibleName(tr("Error"))
        font = self.font()
        font.setBold(True)
        self.setFont(font)
        self.hide()

    def show_text(self, text: str) -> None:
        self.setText(text)
        self.setAccessibleDescription(text)
        self.setVisible(bool(text))


class SecretEdit(QWidget):
    """A masked line edit with a Show / Hide button."""

    def __init__(self, name: str, label: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.edit = QLineEdit(self)
        self.edit.setObjectName(f"field_{name}")
        self.edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.edit.setAccessibleName(label)
        self.toggle = QToolButton(self)
        self.toggle.setObjectName(f"show_{name}")
        self.toggle.setCheckable(True)
        self.toggle.setText(tr("Show"))
        self.toggle.setAccessibleName(tr("Show {label}").format(label=label.lower()))
        self.toggle.toggled.connect(self._on_toggled)
        layout.addWidget(self.edit, 1)
        layout.addWidget(self.toggle)
        self.setFocusProxy(self.edit)

    def _on_toggled(self, shown: bool) -> None:
        self.edit.setEchoMode(QLineEdit.EchoMode.Normal if shown else QLineEdit.EchoMode.Password)
        self.toggle.setText(tr("Hide") if shown else tr("Show"))


class FormView(QWidget):
    """The widgets of one form: heading, hint, base error, then one row per field."""

    def __init__(self, form: Form, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.form = form
        self.setObjectName(f"form_{form.step_id}")
        placeholders = dict(form.description_placeholders)
        outer = QVBoxLayout(self)
        self.title = QLabel(step_title(form.step_id), self)
        self.title.setObjectName("step_title")
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        self.title.setFont(font)
        self.title.setAccessibleName(self.title.text())
        outer.addWidget(self.title)
        hint = step_hint(form.step_id, placeholders)
        if hint:
            hint_label = QLabel(hint, self)
            hint_label.setObjectName("step_hint")
            hint_label.setWordWrap(True)
            outer.addWidget(hint_label)
        self.base_error = ErrorLabel("error_base", self)
        base_key = form.errors.get("base")
        if base_key:
            self.base_error.show_text(message_text(base_key, placeholders))
        outer.addWidget(self.base_error)
        self.warning_labels: list[QLabel] = []
        for key in form.warnings.values():
            warning = ErrorLabel("warning", self)
            warning.setAccessibleName(tr("Warning"))
            warning.show_text(message_text(key, placeholders))
            self.warning_labels.append(warning)
            outer.addWidget(warning)
        self.layout_form = QFormLayout()
        outer.addLayout(self.layout_form)
        outer.addStretch(1)
        self.inputs: dict[str, QWidget] = {}
        self.field_errors: dict[str, ErrorLabel] = {}
        self._network_info: QLabel | None = None
        hidden = BUTTON_FIELDS.get(form.step_id)
        for field in form.fields:
            if field.name == hidden:
                continue
            self._add_field(field, placeholders)

    # ----------------------------------------------------------------- building
    def _add_field(self, field: Field, placeholders: dict[str, str]) -> None:
        label = field_label(field.name)
        widget: QWidget
        if field.kind == "secret":
            secret = SecretEdit(field.name, label, self)
            if field.max_length:
                secret.edit.setMaxLength(field.max_length)
            widget = secret
        elif field.kind == "bool":
            box = QCheckBox(label, self)
            box.setObjectName(f"field_{field.name}")
            box.setAccessibleName(label)
            box.setChecked(bool(field.default))
            widget = box
        elif field.kind == "choice":
            widget = self._choice(field, label)
        else:
            edit = QLineEdit(self)
            edit.setObjectName(f"field_{field.name}")
            edit.setAccessibleName(label)
            if field.default is not None:
                edit.setText(str(field.default))
            if field.max_length:
                edit.setMaxLength(field.max_length)
            if field.suggestions:
                completer = QCompleter(list(field.suggestions), edit)
                completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
                edit.setCompleter(completer)
            widget = edit
        self.inputs[field.name] = widget
        if field.kind == "bool":
            self.layout_form.addRow(widget)
        else:
            row_label = QLabel(label + ":", self)
            row_label.setBuddy(widget.focusProxy() or widget)
            self.layout_form.addRow(row_label, widget)
        if field.name == "ssid" and self._network_info is not None:
            self.layout_form.addRow("", self._network_info)
        error = ErrorLabel(f"error_{field.name}", self)
        key = self.form.errors.get(field.name)
        if key:
            error.show_text(message_text(key, placeholders))
        self.field_errors[field.name] = error
        self.layout_form.addRow("", error)

    def _choice(self, field: Field, label: str) -> QComboBox:
        combo = QComboBox(self)
        combo.setObjectName(f"field_{field.name}")
        combo.setAccessibleName(label)
        combo.setEditable(field.allow_custom)
        combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        for choice in field.choices:
            details = network_details(choice.info)
            text = choice.label if field.allow_custom or not details else \
                f"{choice.label} — {details}"
            combo.addItem(text, choice.value)
            combo.setItemData(combo.count() - 1, details or choice.label,
                              Qt.ItemDataRole.ToolTipRole)
            combo.setItemData(combo.count() - 1, f"{choice.label}, {details}",
                              Qt.ItemDataRole.AccessibleDescriptionRole)
        default = field.default
        index = combo.findData(default) if default is not None else -1
        if index >= 0:
            combo.setCurrentIndex(index)
        elif default is not None and field.allow_custom:
            combo.setEditText(str(default))
        if field.name == "ssid":
            info = QLabel(self)
            info.setObjectName("network_details")
            info.setWordWrap(True)
            self._network_info = info

            def update(_index: int = 0) -> None:
                position = combo.findText(combo.currentText())
                data = combo.itemData(position, Qt.ItemDataRole.ToolTipRole) \
                    if position >= 0 else tr("not in the list: a hidden network?")
                info.setText(str(data or ""))

            combo.currentIndexChanged.connect(update)
            combo.editTextChanged.connect(lambda _text: update())
            update()
        return combo

    # ----------------------------------------------------------------- reading
    def values(self) -> dict[str, Any]:
        """What the user entered, by field name (the flow's ``user_input``)."""
        out: dict[str, Any] = {}
        for field in self.form.fields:
            widget = self.inputs.get(field.name)
            if widget is None:
                continue
            if isinstance(widget, SecretEdit):
                out[field.name] = widget.edit.text()
            elif isinstance(widget, QCheckBox):
                out[field.name] = widget.isChecked()
            elif isinstance(widget, QComboBox):
                out[field.name] = self._combo_value(widget)
            elif isinstance(widget, QLineEdit):
                out[field.name] = widget.text()
        return out

    @staticmethod
    def _combo_value(combo: QComboBox) -> str | None:
        if combo.isEditable():
            text = combo.currentText()
            index = combo.findText(text)
            if index >= 0:
                return str(combo.itemData(index))
            return text or None
        data = combo.currentData()
        return None if data is None else str(data)

    def first_input(self) -> QWidget | None:
        """The input to focus first: the one with an error, else the first one."""
        for name, error in self.field_errors.items():
            if error.isVisibleTo(self) and name in self.inputs:
                return self.inputs[name]
        return next(iter(self.inputs.values()), None)
