"""What a provisioning step returns: a form to show, progress, the end, or an abort.

Modelled on Home Assistant's config flows. Every result is an immutable value holding keys
(step ids, field names, error / message keys) and plain placeholders; the UI translates the keys
(``messages.py`` has the English text) and never sees a secret: forms never carry a password or
setup code back as a default.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Abort", "Choice", "Done", "Field", "FieldKind", "FlowResult", "Form", "Progress"]

FieldKind = Literal["str", "secret", "bool", "choice"]


@dataclass(frozen=True)
class Choice:
    """One option of a ``choice`` field: ``value`` goes back in ``user_input``; ``label`` is shown;
    ``info`` holds facts the UI may show beside it (signal, band, security, warnings)."""

    value: str
    label: str
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Field:
    """One input of a form.

    ``kind``: "str" (free text), "secret" (free text shown masked; its default is always None),
    "bool" (checkbox), "choice" (one of ``choices``; with ``allow_custom`` the user may type
    another value, e.g. a hidden network's name). ``default`` pre-fills or pre-selects.
    ``suggestions`` are values to offer for a "str" field (e.g. existing rooms).
    """

    name: str
    kind: FieldKind = "str"
    required: bool = True
    default: Any = None
    choices: tuple[Choice, ...] = ()
    allow_custom: bool = False
    suggestions: tuple[str, ...] = ()
    max_length: int | None = None


@dataclass(frozen=True)
class Form:
    """Ask the user something. ``errors`` maps a field name (or "base") to an error key;
    ``warnings`` likewise to a warning key (a warning needs a confirmation, not a change)."""

    step_id: str
    fields: tuple[Field, ...] = ()
    errors: dict[str, str] = field(default_factory=dict)
    warnings: dict[str, str] = field(default_factory=dict)
    description_placeholders: dict[str, str] = field(default_factory=dict)
    can_go_back: bool = False

    def field(self, name: str) -> Field:
        """The field called ``name`` (KeyError if the form has none)."""
        for item in self.fields:
            if item.name == name:
                return item
        raise KeyError(name)


@dataclass(frozen=True)
class Progress:
    """A step is running. ``progress_key`` names the message (see messages.PROGRESS);
    ``fraction`` is 0..1 when known, else None (show a spinner). While a step runs, updates are
    delivered to ``flow.subscribe()`` callbacks; ``await flow.step(None)`` waits for the step's end
    and returns what comes next."""

    step_id: str
    progress_key: str
    message_placeholders: dict[str, str] = field(default_factory=dict)
    fraction: float | None = None


@dataclass(frozen=True)
class Done:
    """The light is set up and paired. ``data`` is the PairedLight's data (no secrets)."""

    data: dict[str, Any]


@dataclass(frozen=True)
class Abort:
    """The flow has ended without a light (``reason_key``: see messages.MESSAGES)."""

    reason_key: str
    description_placeholders: dict[str, str] = field(default_factory=dict)


FlowResult = Form | Progress | Done | Abort
