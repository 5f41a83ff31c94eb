"""An OpenAI-compatible gateway over the provider layer: wire format and service.

Projects mount their own router (with their own auth and accounting) around
``Gateway``; the translation, relaying, failover and streaming rules live here once.
"""
