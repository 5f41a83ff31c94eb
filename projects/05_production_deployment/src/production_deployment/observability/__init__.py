"""Observability: JSON logs with secrets redacted, request metrics, Sentry."""
