"""session generations, the first-run setup marker, old sign-in failures by age

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 21:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('session_generation', sa.Integer(), server_default='0', nullable=False)
        )
    op.create_table('setup_done',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    # A database that already has users went through setup before this table existed.
    op.execute(
        "INSERT INTO setup_done (id, done_at) "
        "SELECT 1, CURRENT_TIMESTAMP WHERE EXISTS (SELECT 1 FROM users)"
    )
    with op.batch_alter_table('login_failures', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_login_failures_created_at'), ['created_at'], unique=False
        )


def downgrade():
    with op.batch_alter_table('login_failures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_login_failures_created_at'))
    op.drop_table('setup_done')
    # Not batch: SQLite would rebuild users, and dropping the old table with foreign keys on
    # would delete every user's API keys.
    op.drop_column('users', 'session_generation')
