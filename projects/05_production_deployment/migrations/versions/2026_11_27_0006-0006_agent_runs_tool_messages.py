"""The agent: tool messages in conversations (role ``tool``, ``tool_calls``,
``tool_call_id``), agent runs with their stop reason, and tool executions.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_TYPE = sa.JSON(none_as_null=True).with_variant(
    postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
)
TIMESTAMP = sa.DateTime(timezone=True)
STOP_REASONS = (
    "answer",
    "max_steps",
    "max_tool_calls",
    "timeout",
    "token_budget",
    "repeated_call",
    "error",
    "cancelled",
)
TOOL_STATUSES = ("ok", "error", "invalid_arguments", "not_allowed", "timeout", "skipped")


def _in(values: Sequence[str]) -> str:
    return ", ".join(f"'{value}'" for value in values)


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete=ondelete
    )


def upgrade() -> None:
    with op.batch_alter_table("message") as batch:
        batch.add_column(sa.Column("tool_calls", JSON_TYPE, nullable=True))
        batch.add_column(sa.Column("tool_call_id", sa.String(length=128), nullable=True))
        batch.drop_constraint(op.f("ck_message_role_is_known"), type_="check")
        batch.create_check_constraint(
            op.f("ck_message_role_is_known"), "role IN ('user', 'assistant', 'system', 'tool')"
        )
        batch.create_check_constraint(
            op.f("ck_message_tool_call_id_on_tool_messages"),
            "(role = 'tool' AND tool_call_id IS NOT NULL) "
            "OR (role <> 'tool' AND tool_call_id IS NULL)",
        )
        batch.create_check_constraint(
            op.f("ck_message_tool_calls_on_assistant"),
            "tool_calls IS NULL OR role = 'assistant'",
        )

    op.create_table(
        "agent_run",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("user_message_id", sa.Uuid(), nullable=True),
        sa.Column("answer_message_id", sa.Uuid(), nullable=True),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("stop_reason", sa.String(length=32), nullable=True),
        sa.Column("steps", sa.Integer(), nullable=False),
        sa.Column("tool_calls", sa.Integer(), nullable=False),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Numeric(precision=14, scale=8), nullable=False),
        sa.Column("error_type", sa.String(length=64), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.CheckConstraint(
            "status IN ('running', 'finished')", name=op.f("ck_agent_run_status_is_known")
        ),
        sa.CheckConstraint(
            f"stop_reason IS NULL OR stop_reason IN ({_in(STOP_REASONS)})",
            name=op.f("ck_agent_run_stop_reason_is_known"),
        ),
        sa.CheckConstraint(
            "steps >= 0 AND tool_calls >= 0 AND input_tokens >= 0 AND output_tokens >= 0",
            name=op.f("ck_agent_run_counts_not_negative"),
        ),
        _fk("agent_run", "conversation_id", "conversation", "CASCADE"),
        _fk("agent_run", "user_id", "user", "CASCADE"),
        _fk("agent_run", "user_message_id", "message", "SET NULL"),
        _fk("agent_run", "answer_message_id", "message", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_run")),
    )
    op.create_index(
        "ix_agent_run_conversation_id_created_at", "agent_run", ["conversation_id", "created_at"]
    )
    op.create_index("ix_agent_run_user_id_created_at", "agent_run", ["user_id", "created_at"])

    op.create_table(
        "tool_execution",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=True),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("tool_call_id", sa.String(length=128), nullable=False),
        sa.Column("tool", sa.String(length=64), nullable=False),
        sa.Column("arguments", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint(
            f"status IN ({_in(TOOL_STATUSES)})", name=op.f("ck_tool_execution_status_is_known")
        ),
        sa.CheckConstraint(
            "duration_ms >= 0", name=op.f("ck_tool_execution_duration_not_negative")
        ),
        _fk("tool_execution", "run_id", "agent_run", "CASCADE"),
        _fk("tool_execution", "user_id", "user", "CASCADE"),
        _fk("tool_execution", "message_id", "message", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tool_execution")),
    )
    op.create_index("ix_tool_execution_run_id", "tool_execution", ["run_id"])
    op.create_index(
        "ix_tool_execution_user_id_created_at", "tool_execution", ["user_id", "created_at"]
    )
    op.create_index("ix_tool_execution_created_at", "tool_execution", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_tool_execution_created_at", table_name="tool_execution")
    op.drop_index("ix_tool_execution_user_id_created_at", table_name="tool_execution")
    op.drop_index("ix_tool_execution_run_id", table_name="tool_execution")
    op.drop_table("tool_execution")
    op.drop_index("ix_agent_run_user_id_created_at", table_name="agent_run")
    op.drop_index("ix_agent_run_conversation_id_created_at", table_name="agent_run")
    op.drop_table("agent_run")
    # Tool exchanges cannot be kept under the old role check: they go with the columns.
    op.execute("DELETE FROM message WHERE role = 'tool'")
    with op.batch_alter_table("message") as batch:
        batch.drop_constraint(op.f("ck_message_tool_calls_on_assistant"), type_="check")
        batch.drop_constraint(op.f("ck_message_tool_call_id_on_tool_messages"), type_="check")
        batch.drop_constraint(op.f("ck_message_role_is_known"), type_="check")
        batch.create_check_constraint(
            op.f("ck_message_role_is_known"), "role IN ('user', 'assistant', 'system')"
        )
        batch.drop_column("tool_call_id")
        batch.drop_column("tool_calls")
