"""Qt views (PySide6 on qasync). The only package that imports Qt."""
