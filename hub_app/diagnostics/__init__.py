"""Diagnostics of one light, Qt-free: the logic behind the diagnostics window.

``DeviceDiagnostics`` (session.py) drives a light; params.py checks console JSON; history.py
keeps the console's calls; info.py formats device info; config_diff.py diffs config edits;
logs.py keeps the live log; latency.py has ping statistics; firmware_server.py serves an OTA
image; report.py writes the redacted report zip.
"""

from .config_diff import ConfigChange, diff_config, flatten, parse_value, to_partial_tree
from .history import CommandHistory, ConsoleEntry, RpcLog
from .info import info_rows
from .latency import Histogram, LatencyStats, SignalSeries, histogram
from .logs import LEVELS, LogLine, LogStore
from .params import ParamsCheck, check_params
from .report import ReportContent, build_members, find_secrets, write_report
from .session import BootState, DeviceDiagnostics, SecretLeakError, config_error_key

__all__ = [
    "LEVELS",
    "BootState",
    "CommandHistory",
    "ConfigChange",
    "ConsoleEntry",
    "DeviceDiagnostics",
    "Histogram",
    "LatencyStats",
    "LogLine",
    "LogStore",
    "ParamsCheck",
    "ReportContent",
    "RpcLog",
    "SecretLeakError",
    "SignalSeries",
    "build_members",
    "check_params",
    "config_error_key",
    "diff_config",
    "find_secrets",
    "flatten",
    "histogram",
    "info_rows",
    "parse_value",
    "to_partial_tree",
    "write_report",
]
