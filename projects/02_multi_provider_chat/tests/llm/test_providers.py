"""The providers the app reports, from the shared contract: configured ones, never their keys."""

from __future__ import annotations

from genai_shared.testing.contracts.providers import ProvidersContract
from multi_provider_chat.core.config import Settings
from multi_provider_chat.core.database import Base


class TestProviders(ProvidersContract):
    settings_class = Settings
    metadata = Base.metadata
