"""Budget reservations as rows of their own, so that a sweeper can release the ones
whose call never settled (the process died mid-call).

Reservations already held in ``user_spend.reserved_micro_usd`` when this runs have no
row; they are released here, since no call survives the restart a migration needs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "budget_reservation",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("amount_micro_usd", sa.BigInteger(), nullable=False),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "amount_micro_usd >= 0", name=op.f("ck_budget_reservation_amount_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user.id"],
            name=op.f("fk_budget_reservation_user_id_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_budget_reservation")),
    )
    op.create_index(
        "ix_budget_reservation_created_at", "budget_reservation", ["created_at"]
    )
    op.execute("UPDATE user_spend SET reserved_micro_usd = 0")


def downgrade() -> None:
    op.drop_index("ix_budget_reservation_created_at", table_name="budget_reservation")
    op.drop_table("budget_reservation")
