"""The setup code printed on a light's label (protocol.md, Identity)."""

from __future__ import annotations

__all__ = ["SETUP_CODE_ALPHABET", "format_setup_code", "normalize_setup_code"]

SETUP_CODE_ALPHABET = frozenset("23456789ABCDEFGHJKMNPQRSTUVWXYZ")


def normalize_setup_code(text: str) -> str | None:
    """The 8-character code from what the user typed (dashes and spaces ignored, any case), or
    None when it cannot be a setup code."""
    cleaned = "".join(ch for ch in text.upper() if ch not in " -\t\u2010\u2011\u2012\u2013")
    if len(cleaned) != 8 or any(ch not in SETUP_CODE_ALPHABET for ch in cleaned):
        return None
    return cleaned


def format_setup_code(code: str) -> str:
    """``XXXX-XXXX`` as on the label."""
    return f"{code[:4]}-{code[4:]}"
