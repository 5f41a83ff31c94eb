"""Project 05: project 04's agentic RAG service, deployed for production.

gunicorn workers that drain on SIGTERM, NGINX in front, probes, JSON logs, Prometheus
metrics, Sentry, and the container and compose files that run it.
"""

__version__ = "0.1.0"
