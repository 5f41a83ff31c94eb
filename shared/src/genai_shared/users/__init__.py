"""The open users domain of projects 01 and 02: anyone may create a user, and a
conversation's request names its owner by ``user_id``.

Written once here because project 02 reuses it unchanged. Each project keeps its own
``User(UserColumns, Base)`` table (its own metadata and migrations) and its own router;
the columns, bodies, errors and the create rule below serve both. Project 03 replaces the domain
with sign-up and sign-in.
"""
