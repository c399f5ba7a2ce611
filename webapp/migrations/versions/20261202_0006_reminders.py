"""Reminders: each recipient's due time; campaigns rest until their next one

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 00:45:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

WITHOUT_DUE = sa.text('due_at IS NULL')
WITH_DUE = sa.text('due_at IS NOT NULL')


def upgrade():
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_due_at', sa.DateTime(timezone=True), nullable=True))
    # The unnamed UNIQUE (campaign_id, phone) gives way to two partial unique indexes: a
    # scheduled campaign may message one phone once per due time.
    if op.get_bind().dialect.name == 'sqlite':
        with op.batch_alter_table(
            'recipients', recreate='always',
            naming_convention={'uq': 'uq_%(table_name)s_%(column_0_name)s'},
        ) as batch_op:
            batch_op.add_column(sa.Column('due_at', sa.DateTime(timezone=True), nullable=True))
            batch_op.drop_constraint('uq_recipients_campaign_id', type_='unique')
    else:
        op.add_column('recipients', sa.Column('due_at', sa.DateTime(timezone=True), nullable=True))
        op.drop_constraint('recipients_campaign_id_phone_key', 'recipients', type_='unique')
    op.create_index('uq_recipients_campaign_phone', 'recipients', ['campaign_id', 'phone'],
                    unique=True, sqlite_where=WITHOUT_DUE, postgresql_where=WITHOUT_DUE)
    op.create_index('uq_recipients_campaign_phone_due', 'recipients',
                    ['campaign_id', 'phone', 'due_at'],
                    unique=True, sqlite_where=WITH_DUE, postgresql_where=WITH_DUE)
    op.create_index('ix_recipients_campaign_due', 'recipients',
                    ['campaign_id', 'status', 'due_at', 'id'], unique=False)


def downgrade():
    op.drop_index('ix_recipients_campaign_due', table_name='recipients')
    op.drop_index('uq_recipients_campaign_phone_due', table_name='recipients')
    op.drop_index('uq_recipients_campaign_phone', table_name='recipients')
    # The constraint back under the name upgrade() knows it by on each database.
    sqlite = op.get_bind().dialect.name == 'sqlite'
    name = 'uq_recipients_campaign_id' if sqlite else 'recipients_campaign_id_phone_key'
    with op.batch_alter_table('recipients', schema=None) as batch_op:
        batch_op.drop_column('due_at')
        batch_op.create_unique_constraint(name, ['campaign_id', 'phone'])
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_column('next_due_at')
