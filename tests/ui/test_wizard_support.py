"""Helpers of the wizard / inbox / diagnostics tests (fixtures are in conftest.py)."""

from __future__ import annotations

import dataclasses

from conftest import TEST_FLOW_TIMEOUTS

from hub_app.provisioning import Form

#: the light reports a wrong password at once; do not wait the full 30 s on the LAN first
SHORT_LAN_TIMEOUTS = dataclasses.replace(TEST_FLOW_TIMEOUTS, wait_lan=4.0)


def form_step(wizard: object) -> str | None:
    """The step id of the form the wizard shows (None while not on a form)."""
    result = getattr(wizard, "result_value", None)
    return result.step_id if isinstance(result, Form) else None
