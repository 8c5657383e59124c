"""Light or dark: Labdock follows the system's palette (or the Theme preference), with no colour
written into a widget. The few colours that carry meaning (ready, failed, a warning, the GPU graphs)
are derived here from the palette in use, so they read well on either; everything else is a palette role.

`ThemeWatcher` notices when the palette or the system's colour scheme changes (the desktop switched to
dark, or the preference did) and says whether the result is dark; the window then repaints its rows and
turns JupyterLab in its tabs to the matching theme.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QLabel, QStyleFactory

from desktop.settings import THEME_DARK, THEME_LIGHT

# Hues (degrees) of the colours with a meaning; their lightness follows the palette.
GREEN, RED, ORANGE, BLUE = 130, 2, 30, 215


def is_dark(palette: QPalette | None = None) -> bool:
    """Dark when the system says so, else when the window is darker than its text."""
    if palette is None:
        scheme = QGuiApplication.styleHints().colorScheme()
        if scheme is not Qt.ColorScheme.Unknown and QApplication.instance() is not None and not _forced():
            return scheme is Qt.ColorScheme.Dark
        palette = QGuiApplication.palette()
    return (
        palette.color(QPalette.ColorRole.Window).lightness() < palette.color(QPalette.ColorRole.WindowText).lightness()
    )


def accent(hue: int, palette: QPalette | None = None) -> QColor:
    """A colour of `hue` that stands out on the palette's base: lighter on dark, deeper on light."""
    return QColor.fromHsl(hue, 170, 165 if is_dark(palette) else 85)


def ready_colour(palette: QPalette | None = None) -> QColor:
    return accent(GREEN, palette)


def failed_colour(palette: QPalette | None = None) -> QColor:
    return accent(RED, palette)


def warning_colour(palette: QPalette | None = None) -> QColor:
    return accent(ORANGE, palette)


def muted_colour(palette: QPalette | None = None) -> QColor:
    """Secondary text (details under a line): the palette's placeholder text colour."""
    return (palette or QGuiApplication.palette()).color(QPalette.ColorRole.PlaceholderText)


def colour_text(label: QLabel, colour: QColor) -> None:
    """A label's text in `colour`, through its palette (no style sheet)."""
    palette = label.palette()
    palette.setColor(QPalette.ColorRole.WindowText, colour)
    label.setPalette(palette)


_FORCED = "labdock_theme_forced"


def _forced() -> bool:
    app = QApplication.instance()
    return bool(app is not None and app.property(_FORCED))


def dark_palette() -> QPalette:
    """Fusion's palette turned dark, for the Theme preference "dark" (the system is not asked)."""
    palette = QPalette()
    base, window, text = QColor.fromHsl(220, 12, 32), QColor.fromHsl(220, 10, 45), QColor.fromHsl(0, 0, 225)
    roles = {
        QPalette.ColorRole.Window: window,
        QPalette.ColorRole.WindowText: text,
        QPalette.ColorRole.Base: base,
        QPalette.ColorRole.AlternateBase: window.darker(115),
        QPalette.ColorRole.ToolTipBase: window,
        QPalette.ColorRole.ToolTipText: text,
        QPalette.ColorRole.PlaceholderText: text.darker(160),
        QPalette.ColorRole.Text: text,
        QPalette.ColorRole.Button: window,
        QPalette.ColorRole.ButtonText: text,
        QPalette.ColorRole.BrightText: QColor.fromHsl(0, 0, 255),
        QPalette.ColorRole.Highlight: QColor.fromHsl(BLUE, 160, 110),
        QPalette.ColorRole.HighlightedText: QColor.fromHsl(0, 0, 255),
        QPalette.ColorRole.Link: QColor.fromHsl(BLUE, 170, 165),
        QPalette.ColorRole.Light: window.lighter(150),
        QPalette.ColorRole.Midlight: window.lighter(120),
        QPalette.ColorRole.Mid: window.darker(130),
        QPalette.ColorRole.Dark: window.darker(160),
        QPalette.ColorRole.Shadow: QColor.fromHsl(0, 0, 0),
    }
    for role, colour in roles.items():
        palette.setColor(role, colour)
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.WindowText, QPalette.ColorRole.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, text.darker(190))
    return palette


def apply_choice(app: QApplication, choice: str) -> None:
    """The Theme preference: "light" or "dark" for Labdock alone (Fusion, its own palette), anything else
    follows the system (the platform's style and palette, as Labdock started with)."""
    if app.property("labdock_style") is None:
        app.setProperty("labdock_style", app.style().name())
    if choice in (THEME_DARK, THEME_LIGHT):
        fusion = QStyleFactory.create("Fusion")
        app.setStyle(fusion)
        app.setProperty(_FORCED, True)
        app.setPalette(dark_palette() if choice == THEME_DARK else fusion.standardPalette())
        return
    app.setProperty(_FORCED, False)
    app.setStyle(str(app.property("labdock_style")))
    app.setPalette(QPalette())  # an empty palette: the platform's own again


class ThemeWatcher(QObject):
    """Emits `changed(dark)` when the application turns light or dark: the system's colour scheme is
    watched here; a palette change reaches `check` from the window's changeEvent (a filter on the whole
    application would see every event of every widget)."""

    changed = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.dark = is_dark()
        QGuiApplication.styleHints().colorSchemeChanged.connect(lambda _scheme: self.check())

    def check(self) -> None:
        dark = is_dark()
        if dark != self.dark:
            self.dark = dark
            self.changed.emit(dark)


PALETTE_EVENTS = (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange)
