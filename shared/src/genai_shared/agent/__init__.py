"""The agent loop every agentic project shares: tools, the runner, its history and tables.

A project binds it to its own ORM classes (its ``Base`` with the column mixins of
``agent.models``), its usage ledger (a ``Reserve`` callable that holds a model call's
worst case and returns the meter that settles it) and its settings and metrics; its own
``agent`` package keeps the routes, the dependencies and that binding.
"""
