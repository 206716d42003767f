"""Settings: backend choice with a connection test, TLS files, discovery interface, remembered
Wi-Fi networks (passwords in the keyring)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from hub_app.hub import Hub, HubSettings
from hub_app.hub.settings import EmbeddedSettings, MqttSettings

Runner = Callable[[Coroutine[Any, Any, Any], str], None]


class SettingsDialog(QDialog):
    """Edits a copy of ``hub.settings``; OK applies it (the backend restarts if it changed)."""

    def __init__(self, hub: Hub, run: Runner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.hub = hub
        self._run = run
        self.setWindowTitle(self.tr("Settings"))
        self.setAccessibleName(self.tr("Settings"))
        settings = hub.settings
        tabs = QTabWidget()
        tabs.setAccessibleName(self.tr("Settings sections"))

        backend = QWidget()
        form = QFormLayout(backend)
        self.backend_choice = QComboBox()
        self.backend_choice.setAccessibleName(self.tr("Backend"))
        for key, label in (("embedded", self.tr("Built-in broker (recommended)")),
                           ("mqtt", self.tr("External MQTT broker")),
                           ("aws", self.tr("AWS IoT Core")),
                           ("lan", self.tr("Direct on the LAN (no broker)"))):
            self.backend_choice.addItem(label, key)
        self.backend_choice.setCurrentIndex(
            max(0, self.backend_choice.findData(settings.backend)))
        self.embedded_port = QSpinBox()
        self.embedded_port.setRange(0, 65535)
        self.embedded_port.setSpecialValueText(self.tr("any free port"))
        self.embedded_port.setValue(settings.embedded.port)
        self.embedded_port.setAccessibleName(self.tr("Built-in broker port"))
        self.host = QLineEdit(settings.mqtt.host)
        self.host.setAccessibleName(self.tr("Broker host"))
        self.port = QSpinBox()
        self.port.setRange(1, 65535)
        self.port.setValue(settings.mqtt.port)
        self.port.setAccessibleName(self.tr("Broker port"))
        self.username = QLineEdit(settings.mqtt.username)
        self.username.setAccessibleName(self.tr("User name"))
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText(self.tr("unchanged"))
        self.password.setAccessibleName(self.tr("Password (kept in the keyring)"))
        self.tls = QCheckBox(self.tr("Use TLS"))
        self.tls.setChecked(settings.mqtt.tls)
        self.tls.setAccessibleName(self.tr("Use TLS"))
        self.ca_file = self._file_row(settings.mqtt.ca_file, self.tr("CA certificate"))
        self.cert_file = self._file_row(settings.mqtt.cert_file, self.tr("Client certificate"))
        self.key_file = self._file_row(settings.mqtt.key_file, self.tr("Client key"))
        self.test_button = QPushButton(self.tr("Test connection"))
        self.test_button.setAccessibleName(self.tr("Test the connection"))
        self.test_button.clicked.connect(self.test_connection)
        self.test_result = QLabel("")
        self.test_result.setWordWrap(True)
        self.test_result.setAccessibleName(self.tr("Connection test result"))
        form.addRow(self.tr("Backend"), self.backend_choice)
        form.addRow(self.tr("Built-in broker port"), self.embedded_port)
        form.addRow(self.tr("Host"), self.host)
        form.addRow(self.tr("Port"), self.port)
        form.addRow(self.tr("User name"), self.username)
        form.addRow(self.tr("Password"), self.password)
        form.addRow("", self.tls)
        form.addRow(self.tr("CA certificate"), self.ca_file[0])
        form.addRow(self.tr("Client certificate"), self.cert_file[0])
        form.addRow(self.tr("Client key"), self.key_file[0])
        form.addRow(self.test_button, self.test_result)
        tabs.addTab(backend, self.tr("Backend"))

        discovery = QWidget()
        dform = QFormLayout(discovery)
        self.interface = QComboBox()
        self.interface.setEditable(True)
        self.interface.setAccessibleName(self.tr("Network interface for discovery"))
        self.interface.addItem(self.tr("All interfaces"), "")
        try:
            from hub_app.discovery import list_interfaces

            for item in list_interfaces():
                name = getattr(item, "name", str(item))
                self.interface.addItem(str(name), str(name))
        except Exception:  # listing interfaces is best effort
            pass
        current = settings.discovery_interfaces[0] if settings.discovery_interfaces else ""
        index = self.interface.findData(current)
        if index < 0:
            self.interface.addItem(current, current)
            index = self.interface.count() - 1
        self.interface.setCurrentIndex(index)
        dform.addRow(self.tr("Find lights on"), self.interface)
        tabs.addTab(discovery, self.tr("Discovery"))

        networks = QWidget()
        nlayout = QVBoxLayout(networks)
        nlayout.addWidget(QLabel(self.tr(
            "Wi-Fi passwords the set-up wizard may reuse. They are kept in your system keyring.")))
        self.networks = QListWidget()
        self.networks.setAccessibleName(self.tr("Remembered Wi-Fi networks"))
        self.networks.addItems(list(settings.remembered_networks))
        nlayout.addWidget(self.networks)
        row = QHBoxLayout()
        self.new_ssid = QLineEdit()
        self.new_ssid.setPlaceholderText(self.tr("Network name"))
        self.new_ssid.setAccessibleName(self.tr("Network name to remember"))
        self.new_password = QLineEdit()
        self.new_password.setEchoMode(QLineEdit.EchoMode.Password)
        self.new_password.setPlaceholderText(self.tr("Password"))
        self.new_password.setAccessibleName(self.tr("Password of the network"))
        add = QPushButton(self.tr("Remember"))
        add.setAccessibleName(self.tr("Remember this network"))
        add.clicked.connect(self._remember)
        forget = QPushButton(self.tr("Forget selected"))
        forget.setAccessibleName(self.tr("Forget the selected network"))
        forget.clicked.connect(self._forget)
        row.addWidget(self.new_ssid)
        row.addWidget(self.new_password)
        row.addWidget(add)
        nlayout.addLayout(row)
        nlayout.addWidget(forget)
        tabs.addTab(networks, self.tr("Wi-Fi networks"))

        layout = QVBoxLayout(self)
        layout.addWidget(tabs)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._apply)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.backend_choice.currentIndexChanged.connect(self._update_enabled)
        self.tls.toggled.connect(self._update_enabled)
        self._update_enabled()
        self.resize(560, 480)

    def _file_row(self, value: str, what: str) -> tuple[QWidget, QLineEdit]:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        edit = QLineEdit(value)
        edit.setAccessibleName(what)
        browse = QPushButton(self.tr("Browse…"))
        browse.setAccessibleName(self.tr("Choose the file: %1").replace("%1", what))

        def choose() -> None:
            pattern = self.tr("PEM files (*.pem *.crt *.key);;All files (*)")
            name, _ = QFileDialog.getOpenFileName(self, what, "", pattern)
            if name:
                edit.setText(name)

        browse.clicked.connect(choose)
        row.addWidget(edit, 1)
        row.addWidget(browse)
        return box, edit

    def _update_enabled(self) -> None:
        external = self.backend_choice.currentData() == "mqtt"
        self.embedded_port.setEnabled(self.backend_choice.currentData() == "embedded")
        for widget in (self.host, self.port, self.username, self.password, self.tls):
            widget.setEnabled(external)
        for box, _edit in (self.ca_file, self.cert_file, self.key_file):
            box.setEnabled(external and self.tls.isChecked())

    def chosen(self) -> HubSettings:
        current = self.hub.settings
        interface = self.interface.currentData()
        if interface is None:
            interface = self.interface.currentText().strip()
        return replace(
            current,
            backend=self.backend_choice.currentData(),
            embedded=replace(current.embedded or EmbeddedSettings(),
                             port=self.embedded_port.value()),
            mqtt=replace(current.mqtt or MqttSettings(), host=self.host.text().strip(),
                         port=self.port.value(), username=self.username.text().strip(),
                         tls=self.tls.isChecked(), ca_file=self.ca_file[1].text().strip(),
                         cert_file=self.cert_file[1].text().strip(),
                         key_file=self.key_file[1].text().strip()),
            discovery_interfaces=(interface,) if interface else (),
        )

    def _password(self) -> str | None:
        return self.password.text() or None

    def test_connection(self) -> None:
        self.test_result.setText(self.tr("Testing…"))
        self.test_button.setEnabled(False)

        async def go() -> None:
            try:
                result = await self.hub.test_connection(self.chosen(), self._password())
                text = result.message + (f" {result.next_step}" if result.next_step else "")
                self.test_result.setText(("✓ " if result.ok else "✗ ") + text)
            finally:
                self.test_button.setEnabled(True)

        self._run(go(), self.tr("test the connection"))

    def _remember(self) -> None:
        ssid, password = self.new_ssid.text().strip(), self.new_password.text()
        if not ssid or not password:
            return
        self._run(self.hub.remember_network(ssid, password), self.tr("remember the network"))
        if not self.networks.findItems(ssid, self._exact()):
            self.networks.addItem(ssid)
        self.new_ssid.clear()
        self.new_password.clear()

    @staticmethod
    def _exact() -> Any:
        from PySide6.QtCore import Qt

        return Qt.MatchFlag.MatchExactly

    def _forget(self) -> None:
        item = self.networks.currentItem()
        if item is None:
            return
        self._run(self.hub.forget_network(item.text()), self.tr("forget the network"))
        self.networks.takeItem(self.networks.row(item))

    def _apply(self) -> None:
        self._run(self.hub.apply_settings(self.chosen(), broker_password=self._password()),
                  self.tr("apply the settings"))
        self.accept()
