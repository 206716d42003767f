"""The diagnostics window of one light (``DiagnosticsWindow``), for support staff."""

from .models import ConfigModel, RowsModel
from .window import DiagnosticsWindow

__all__ = ["ConfigModel", "DiagnosticsWindow", "RowsModel"]
