"""PySide6 user interface (importing it applies segapp/ui/pyside_fix.py's guard)."""

from segapp.ui.pyside_fix import protect_singletons

protect_singletons()
