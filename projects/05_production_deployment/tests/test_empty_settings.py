"""An empty environment variable (compose's ``${VAR:-}``) or an empty secret file means
"not set", for every setting that says so, whichever settings mixin declares it.

Each mixin's validator has a name of its own: pydantic keeps one validator per name in a
class built from several parents, so two mixins with the same validator name silently
lose one of them (they did, before this test).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from production_deployment.core.config import Settings

UNSET_WHEN_EMPTY = [
    "qdrant_url",  # rag
    "pgvector_url",  # rag
    "weather_api_base_url",  # agent
    "sentry_dsn",  # serving
    "prometheus_multiproc_dir",  # serving
    "openai_api_key",  # providers (shared)
    "anthropic_api_key",  # providers (shared)
    "metrics_token",  # core
    "redis_url",  # base (shared)
]


@pytest.mark.parametrize("name", UNSET_WHEN_EMPTY)
def test_an_empty_variable_is_unset(name: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(name.upper(), "")
    assert getattr(Settings(_env_file=None), name) is None


@pytest.mark.parametrize("name", ["sentry_dsn", "openai_api_key", "metrics_token"])
def test_an_empty_secret_file_is_unset(name: str, tmp_path: Path):
    (tmp_path / name).write_text("\n")
    assert getattr(Settings(_env_file=None, _secrets_dir=tmp_path), name) is None


def _validators(cls: type) -> set[str]:
    decorators = getattr(cls, "__pydantic_decorators__", None)
    return (
        set(decorators.field_validators) | set(decorators.model_validators) if decorators else set()
    )


def test_no_two_settings_mixins_share_a_validator_name():
    declared: list[str] = []
    for base in Settings.__mro__[1:]:
        inherited = set().union(*(_validators(parent) for parent in base.__bases__))
        declared += sorted(_validators(base) - inherited)
    assert len(declared) > 5  # the mixins' validators were found
    assert sorted(declared) == sorted(set(declared)), declared
