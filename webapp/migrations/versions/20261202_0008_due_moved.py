"""Recipients remember when the send window moved their due time

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 04:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    # Nullable without a default: the existing rows are not rewritten.
    with op.batch_alter_table('recipients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('due_moved', sa.Boolean(), nullable=True))


def downgrade():
    with op.batch_alter_table('recipients', schema=None) as batch_op:
        batch_op.drop_column('due_moved')
