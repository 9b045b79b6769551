"""A FranceConnect v2 standard look-alike for the demo and the tests (franceconnect.md,
"The sandbox Parvis ships")."""

from identity.sandbox.citizens import DEMO_CITY, TEST_CITIZENS, Scenario, TestCitizen
from identity.sandbox.provider import Sandbox, SandboxClient, SandboxKeys, SandboxOAuthError
from identity.sandbox.web import PREFIX, sandbox_router, standalone_app

__all__ = [
    "DEMO_CITY",
    "PREFIX",
    "TEST_CITIZENS",
    "Sandbox",
    "SandboxClient",
    "SandboxKeys",
    "SandboxOAuthError",
    "Scenario",
    "TestCitizen",
    "sandbox_router",
    "standalone_app",
]
