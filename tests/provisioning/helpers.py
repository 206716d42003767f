"""Driving a flow in tests like the UI does."""

from __future__ import annotations

from typing import Any

from hub_app.provisioning import Abort, Done, FlowResult, Form, Progress, ProvisioningFlow


async def settle(flow: ProvisioningFlow, result: FlowResult) -> FlowResult:
    """Wait through Progress results until a Form, Done or Abort."""
    while isinstance(result, Progress):
        result = await flow.step(None)
    return result


async def answer(flow: ProvisioningFlow, user_input: dict[str, Any]) -> FlowResult:
    """Submit ``user_input`` to the current form and wait for the next non-progress result."""
    return await settle(flow, await flow.step(user_input))


def expect_form(result: FlowResult, step_id: str) -> Form:
    assert isinstance(result, Form), f"expected form {step_id}, got {result!r}"
    assert result.step_id == step_id, f"expected form {step_id}, got {result!r}"
    return result


async def provision(flow: ProvisioningFlow, ap_ssid: str, setup_code: str, *,
                    name: str = "Desk", room: str = "Office", ssid: str = "HomeNet",
                    password: str = "correct horse battery", remember: bool = False,
                    code_typed: str | None = None) -> FlowResult:
    """Run the whole flow for one light; -> Done (or whatever stopped it)."""
    result = await settle(flow, await flow.step(None))
    form = expect_form(result, "pick_light")
    assert ap_ssid in [c.value for c in form.field("light").choices]
    result = await answer(flow, {"light": ap_ssid})
    expect_form(result, "verify")
    typed = code_typed if code_typed is not None else f"{setup_code[:4]}-{setup_code[4:]}".lower()
    result = await answer(flow, {"setup_code": typed})
    form = expect_form(result, "name")
    result = await answer(flow, {"name": name, "room": room})
    form = expect_form(result, "choose_network")
    result = await answer(flow, {"ssid": ssid, "password": password,
                                 "remember_password": remember})
    if isinstance(result, Form) and result.step_id == "confirm_network":
        result = await answer(flow, {"confirm": True})
    assert isinstance(result, (Done, Abort, Form))
    return result
