"""Money as whole micro-dollars (USD * 1,000,000): ``genai_shared.usage.money``, where
the shared usage ledger keeps it (this module keeps the project's own import path)."""

from genai_shared.usage.money import MICRO, from_micro, to_micro

__all__ = ["MICRO", "from_micro", "to_micro"]
