"""Plots drawn with QPainter (no QtCharts): the ping latency histogram and the signal over time.

Colours come from the widget's palette, so the plots follow the OS theme (dark mode too).
"""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QPointF, QRectF, Qt
from PySide6.QtGui import QPainter, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from hub_app.diagnostics.latency import Histogram, SignalSeries


def tr(text: str) -> str:
    return QCoreApplication.translate("Diagnostics", text)


class _Plot(QWidget):
    MARGIN_LEFT = 48
    MARGIN_BOTTOM = 28

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(280, 160)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setFocusPolicy(Qt.FocusPolicy.TabFocus)

    def _area(self) -> QRectF:
        return QRectF(self.MARGIN_LEFT, 8, max(1, self.width() - self.MARGIN_LEFT - 8),
                      max(1, self.height() - self.MARGIN_BOTTOM - 8))

    def _frame(self, painter: QPainter, area: QRectF) -> None:
        palette = self.palette()
        painter.fillRect(self.rect(), palette.color(QPalette.ColorRole.Base))
        painter.setPen(QPen(palette.color(QPalette.ColorRole.Text), 1))
        painter.drawLine(area.bottomLeft(), area.bottomRight())
        painter.drawLine(area.bottomLeft(), area.topLeft())

    def _empty(self, painter: QPainter, text: str) -> None:
        painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
        painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, text)


class HistogramPlot(_Plot):
    """Bars of a ``Histogram`` of round-trip times (ms)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.histogram = Histogram((), ())
        self.setAccessibleName(tr("Ping latency histogram"))

    def set_histogram(self, histogram: Histogram, description: str = "") -> None:
        self.histogram = histogram
        self.setAccessibleDescription(description)
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        area = self._area()
        self._frame(painter, area)
        counts = self.histogram.counts
        if not counts:
            self._empty(painter, tr("Run a ping to see the latency"))
            return
        palette = self.palette()
        tallest = max(counts) or 1
        width = area.width() / len(counts)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(palette.color(QPalette.ColorRole.Highlight))
        for i, count in enumerate(counts):
            height = area.height() * count / tallest
            painter.drawRect(QRectF(area.left() + i * width + 1, area.bottom() - height,
                                    max(1.0, width - 2), height))
        painter.setPen(palette.color(QPalette.ColorRole.Text))
        edges = self.histogram.edges
        painter.drawText(QRectF(area.left(), area.bottom() + 4, 80, 20),
                         Qt.AlignmentFlag.AlignLeft, f"{edges[0]:.1f} ms")
        painter.drawText(QRectF(area.right() - 80, area.bottom() + 4, 80, 20),
                         Qt.AlignmentFlag.AlignRight, f"{edges[-1]:.1f} ms")
        painter.drawText(QRectF(0, area.top(), self.MARGIN_LEFT - 4, 20),
                         Qt.AlignmentFlag.AlignRight, str(tallest))


class SignalPlot(_Plot):
    """The Wi-Fi signal (dBm) over time, from -100 (bottom) to -30 (top)."""

    LOW, HIGH = -100, -30

    def __init__(self, series: SignalSeries, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.series = series
        self.setAccessibleName(tr("Wi-Fi signal over time"))

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        area = self._area()
        self._frame(painter, area)
        points = list(self.series.points)
        palette = self.palette()
        painter.setPen(palette.color(QPalette.ColorRole.Text))
        for value in (self.HIGH, -67, self.LOW):
            y = area.bottom() - area.height() * (value - self.LOW) / (self.HIGH - self.LOW)
            painter.drawText(QRectF(0, y - 10, self.MARGIN_LEFT - 4, 20),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                             f"{value}")
        if not points:
            self._empty(painter, tr("No signal samples yet"))
            return
        t0, t1 = points[0][0], points[-1][0]
        span = max(t1 - t0, 1e-6)
        pen = QPen(palette.color(QPalette.ColorRole.Highlight), 2)
        painter.setPen(pen)
        previous: QPointF | None = None
        for t, rssi in points:
            clamped = min(max(rssi, self.LOW), self.HIGH)
            x = area.left() + (area.width() * (t - t0) / span if len(points) > 1 else 0)
            y = area.bottom() - area.height() * (clamped - self.LOW) / (self.HIGH - self.LOW)
            point = QPointF(x, y)
            if previous is not None:
                painter.drawLine(previous, point)
            else:
                painter.drawEllipse(point, 2, 2)
            previous = point
        weakest, strongest = self.series.range() or (0, 0)
        self.setAccessibleDescription(
            tr("{count} samples, from {weak} to {strong} dBm").format(
                count=len(points), weak=weakest, strong=strongest))
