"""Shared fixtures come from the tester kit, the `home_hub` pytest plugin
(hub_app.testing.plugin, registered through the pytest11 entry point): the project's own tests
use the same fixtures testers do."""
