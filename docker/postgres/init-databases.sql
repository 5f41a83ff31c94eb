-- One database per project: each has its own tables and Alembic history, and two
-- projects' `user` and `alembic_version` tables must never meet.
CREATE DATABASE chat_api_with_db;
CREATE DATABASE multi_provider_chat;
CREATE DATABASE secure_chat_api;
CREATE DATABASE agentic_rag;
