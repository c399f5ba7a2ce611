"""WhatsApp numbers with their pace and daily counters; campaigns say why they wait

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 22:20:00

"""
import json

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    numbers = op.create_table('whatsapp_numbers',
    sa.Column('key', sa.String(length=20), nullable=False),
    sa.Column('app', sa.Integer(), nullable=True),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('rate_per_minute', sa.Double(), nullable=True),
    sa.Column('daily_limit', sa.Integer(), nullable=True),
    sa.Column('warmup_start', sa.Integer(), nullable=True),
    sa.Column('warmup_growth_percent', sa.Double(), nullable=True),
    sa.Column('warmup_since', sa.Date(), nullable=True),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('paused', sa.Boolean(), nullable=False),
    sa.Column('pause_reason', sa.Text(), nullable=True),
    sa.Column('next_free_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('last_sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('number_days',
    sa.Column('key', sa.String(length=20), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('taken', sa.Integer(), nullable=False),
    sa.Column('sent', sa.Integer(), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.Column('unknown', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['key'], ['whatsapp_numbers.key'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('key', 'day')
    )
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('waiting_reason', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('waiting_until', sa.DateTime(timezone=True), nullable=True))
    # The accounts the settings page listed become numbers, beside the implicit default one.
    saved = op.get_bind().scalar(sa.text("SELECT value FROM settings WHERE key = 'apps'"))
    apps = {}
    for entry in json.loads(saved) if saved else []:
        apps.setdefault(int(entry['id']), str(entry.get('label') or ''))
    op.bulk_insert(numbers, [
        {'key': key, 'app': app, 'label': label, 'timezone': 'Europe/Moscow', 'paused': False}
        for key, app, label in [('default', None, ''), *((str(a), a, l) for a, l in apps.items())]
    ])
    op.execute("DELETE FROM settings WHERE key = 'apps'")


def downgrade():
    labels = op.get_bind().execute(
        sa.text("SELECT app, label FROM whatsapp_numbers WHERE app IS NOT NULL ORDER BY app")
    ).all()
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_column('waiting_until')
        batch_op.drop_column('waiting_reason')
    op.drop_table('number_days')
    op.drop_table('whatsapp_numbers')
    if labels:
        value = json.dumps([{'id': app, 'label': label} for app, label in labels], ensure_ascii=False)
        op.execute(sa.text("INSERT INTO settings (key, value) VALUES ('apps', :value)").bindparams(value=value))
