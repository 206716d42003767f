"""What every hub-app bundle (Linux, Windows, macOS specs) includes and leaves out."""

from __future__ import annotations

from collections.abc import Callable

#: packages found by import (hublight.app is imported by name, the UI behind the command line)
PACKAGES = ("hub_app", "hublight", "hublight_sim")

#: never in the app: tests, the tester kit, firmware parts that only run on MicroPython
NOT_IN_APP = ("hub_app.testing", "hublight.esp32")

#: Qt modules the app does not use (it uses QtCore, QtGui, QtWidgets, QtSvg), and other weight
EXCLUDES = [
    *NOT_IN_APP,
    "tkinter",
    "pytest",
    "_pytest",
    "pytestqt",
    "amqtt",
    "mypy",
    "mypyc",
    "ast_serialize",
    "librt",
    "pydantic",
    "pydantic_core",
    "setuptools",
    "pkg_resources",
    "PySide6.QtNetwork",
    "PySide6.QtQml",
    "PySide6.QtQuick",
    "PySide6.QtQuickWidgets",
    "PySide6.QtQuickControls2",
    "PySide6.QtOpenGL",
    "PySide6.QtOpenGLWidgets",
    "PySide6.QtPrintSupport",
    "PySide6.QtSql",
    "PySide6.QtTest",
    "PySide6.QtXml",
    "PySide6.QtConcurrent",
    "PySide6.QtDBus",
    "PySide6.QtDesigner",
    "PySide6.QtHelp",
    "PySide6.QtUiTools",
    "PySide6.QtNetworkAuth",
    "PySide6.QtPdf",
    "PySide6.QtPdfWidgets",
    "PySide6.QtMultimedia",
    "PySide6.QtWebEngineCore",
    "PySide6.QtCharts",
    "PySide6.QtStateMachine",
]

#: libraries and plugin folders dropped from the bundle (PyInstaller's Qt hook is generous)
DROPPED_PARTS = (
    "libQt6Qml",
    "libQt6Quick",
    "libQt6Pdf",
    "libQt6Designer",
    "libQt6Network",
    "libQt6VirtualKeyboard",
    "plugins/designer",
    "plugins/qmltooling",
    "plugins/sqldrivers",
    "plugins/printsupport",
    "plugins/networkinformation",
    "plugins/tls",
    "plugins/wayland-graphics-integration-server",
    "plugins/egldeviceintegrations",
    "libQt6EglFS",
    "platforms/libqeglfs",
    "platforms/libqlinuxfb",
    "platforms/libqminimalegl",
    "platforms/libqvkkhrdisplay",
    "platforms/libqvnc",
    "plugins/platforminputcontexts/libqtvirtualkeyboard",
    "Qt/qml/",
    "Qt/translations/qtwebengine",
)


def hidden_imports(collect_submodules: Callable[..., list[str]]) -> list[str]:
    """Every module of our packages except the ones that are never in the app."""
    names: list[str] = []
    for package in PACKAGES:
        names += collect_submodules(
            package, filter=lambda name: not name.startswith(NOT_IN_APP)
        )
    return names


def keep_binary(destination: str) -> bool:
    """False for the Qt parts in DROPPED_PARTS (checked on the bundle path, `/` separated)."""
    path = destination.replace("\\", "/")
    return not any(part in path for part in DROPPED_PARTS)
