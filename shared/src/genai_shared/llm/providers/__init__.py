"""Provider adapters. Import the one you need: each pulls in its SDK (seconds for litellm)."""
