"""Safety, enforced by the tools rather than by the prompt (tenant isolation, a poisoned
document the model obeys, hostile SQL), from the shared contract, on project 05's agent."""

from __future__ import annotations

from genai_shared.testing.contracts import agent_safety
from production_deployment.chat.models import Message


class TestTenantIsolation(agent_safety.TenantIsolationContract):
    message_model = Message


class TestVisibility(agent_safety.VisibilityContract):
    message_model = Message


class TestPromptInjection(agent_safety.PromptInjectionContract):
    message_model = Message


class TestHostileSql(agent_safety.HostileSqlContract):
    message_model = Message
