"""Recipients remember when the send window moved their due time; on PostgreSQL the due-time
index holds only scheduled campaigns' recipients

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

DUE_INDEX = ('ix_recipients_campaign_due', 'recipients', ['campaign_id', 'status', 'due_at', 'id'])


def upgrade():
    # Nullable without a default: the existing rows are not rewritten.
    with op.batch_alter_table('recipients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('due_moved', sa.Boolean(), nullable=True))
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_index(DUE_INDEX[0], table_name='recipients')
        op.create_index(*DUE_INDEX, postgresql_where=sa.text('due_at IS NOT NULL'))


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_index(DUE_INDEX[0], table_name='recipients')
        op.create_index(*DUE_INDEX)
    with op.batch_alter_table('recipients', schema=None) as batch_op:
        batch_op.drop_column('due_moved')
