"""The set-up flow of a new light (Qt-free) and its flight recorder.

``ProvisioningFlow`` (``flow.py``) returns ``Form`` / ``Progress`` / ``Done`` / ``Abort``
(``results.py``); error, warning and progress keys have plain-words English text in
``messages.py``; ``FlightRecorder`` (``recorder.py``) records and exports a run without secrets.
"""

from .flow import FlowState, FlowTimeouts, PairingHook, ProvisioningFlow
from .messages import MESSAGES, PROGRESS, Message, render, render_progress
from .networks import NetworkCheck, NetworkOption, check_network_choice, merge_scans
from .recorder import REDACTED, FlightRecorder
from .results import Abort, Choice, Done, Field, FlowResult, Form, Progress
from .setup_code import format_setup_code, normalize_setup_code

__all__ = [
    "MESSAGES",
    "PROGRESS",
    "REDACTED",
    "Abort",
    "Choice",
    "Done",
    "Field",
    "FlightRecorder",
    "FlowResult",
    "FlowState",
    "FlowTimeouts",
    "Form",
    "Message",
    "NetworkCheck",
    "NetworkOption",
    "PairingHook",
    "Progress",
    "ProvisioningFlow",
    "check_network_choice",
    "format_setup_code",
    "merge_scans",
    "normalize_setup_code",
    "render",
    "render_progress",
]
