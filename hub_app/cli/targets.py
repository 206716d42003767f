"""Turning a LIGHT argument (device id, name or host:port) into where to call and with what."""

from __future__ import annotations

from dataclasses import dataclass, field

from hub_app.registry import (
    LightNotFoundError,
    PairedLight,
    Registry,
    SecretStore,
    parse_address,
)

SETUP_CODE_ALPHABET = frozenset("23456789ABCDEFGHJKMNPQRSTUVWXYZ")


class TargetError(Exception):
    """The LIGHT argument does not name a light we can reach; ``next_step`` says what to do."""

    def __init__(self, message: str, next_step: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.next_step = next_step


@dataclass
class Target:
    """Where to send calls: a paired light (``light``) or a bare address."""

    label: str
    endpoints: list[tuple[str, int]]
    light: PairedLight | None = None
    password: str | None = field(default=None, repr=False)
    password_source: str = "none"

    @property
    def device_id(self) -> str | None:
        """The device id when the light is paired."""
        return self.light.device_id if self.light else None


def normalise_setup_code(text: str) -> str:
    """The setup code as the light expects it: upper case, without dashes or spaces."""
    code = text.replace("-", "").replace(" ", "").upper()
    if len(code) != 8 or not set(code) <= SETUP_CODE_ALPHABET:
        raise TargetError(
            "the setup code must be 8 characters as printed on the light's label (XXXX-XXXX)",
            "Check the label; the letters I, L, O and the digits 0, 1 are never used.",
        )
    return code


def parse_endpoint(text: str, default_port: int = 80) -> tuple[str, int] | None:
    """``host:port``, ``[v6]:port`` or a bare IP / ``*.local`` host (port 80); else None."""
    try:
        return parse_address(text)
    except ValueError:
        pass
    bare = text.strip("[]")
    looks_like_host = bare.count(".") == 3 and bare.replace(".", "").isdigit()
    if looks_like_host or bare.endswith(".local") or (":" in bare and "[" in text):
        return bare, default_port
    return None


def resolve_target(registry: Registry, light: str, host_override: str | None) -> Target:
    """Find LIGHT in the registry (id, name, address) or accept it as an address."""
    paired: PairedLight | None
    try:
        paired = registry.resolve(light)
    except LightNotFoundError:
        paired = None
    endpoints: list[tuple[str, int]] = []
    if host_override is not None:
        endpoint = parse_endpoint(host_override)
        if endpoint is None:
            raise TargetError(f"--host must be HOST:PORT, not {host_override!r}")
        endpoints.append(endpoint)
    if paired is not None:
        if not endpoints:
            endpoints = [parse_address(address) for address in paired.addresses]
        if not endpoints:
            raise TargetError(
                f"{paired.display_name} has no known address",
                "Run `hub-cli discover` on the same network, or pass --host HOST:PORT.",
            )
        return Target(f"{paired.display_name} ({paired.device_id})", endpoints, paired)
    if not endpoints:
        endpoint = parse_endpoint(light)
        if endpoint is None:
            raise TargetError(
                f"no paired light matches {light!r}",
                "Use a device id or name from `hub-cli list`, or an address as HOST:PORT.",
            )
        endpoints.append(endpoint)
    host, port = endpoints[0]
    return Target(f"{host}:{port}", endpoints)


async def choose_password(
    target: Target,
    secrets: SecretStore,
    *,
    password: str | None,
    setup_code: str | None,
) -> None:
    """Set ``target.password``: explicit flags first, then the keyring (LAN secret, setup code)."""
    if password is not None:
        target.password, target.password_source = password, "--password"
        return
    if setup_code is not None:
        target.password = normalise_setup_code(setup_code)
        target.password_source = "--setup-code"
        return
    if target.device_id is None:
        return
    stored = await secrets.get("light", target.device_id)
    if stored is not None:
        target.password, target.password_source = stored, "keyring (LAN secret)"
        return
    stored = await secrets.get("setup", target.device_id)
    if stored is not None:
        target.password, target.password_source = stored, "keyring (setup code)"
