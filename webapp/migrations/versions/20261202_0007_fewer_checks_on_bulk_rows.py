"""Contacts, rejects and recipients without foreign keys; recipients without the phone index
of unscheduled campaigns

The references hold by construction (see webapp/models.py), and checking them row by row made
importing a list and starting a campaign several times slower.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 00:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

# The constraints as the first migrations left them unnamed: PostgreSQL's names for them, and
# for SQLite (which rebuilds the table) names given to them by this convention.
NAMING = {"fk": "%(table_name)s_%(column_0_name)s_fkey"}
WITHOUT_DUE = sa.text('due_at IS NULL')
DROPPED = {
    'contacts': [('contacts_list_id_fkey', 'foreignkey')],
    'import_rejects': [('import_rejects_list_id_fkey', 'foreignkey')],
    'recipients': [
        ('recipients_campaign_id_fkey', 'foreignkey'),
        ('recipients_contact_id_fkey', 'foreignkey'),
    ],
}


def upgrade():
    op.drop_index('uq_recipients_campaign_phone', table_name='recipients')
    for table, constraints in DROPPED.items():
        with op.batch_alter_table(table, naming_convention=NAMING) as batch_op:
            for name, kind in constraints:
                batch_op.drop_constraint(name, type_=kind)


def downgrade():
    with op.batch_alter_table('recipients', naming_convention=NAMING) as batch_op:
        batch_op.create_foreign_key(
            'recipients_contact_id_fkey', 'contacts', ['contact_id'], ['id'], ondelete='SET NULL'
        )
        batch_op.create_foreign_key(
            'recipients_campaign_id_fkey', 'campaigns', ['campaign_id'], ['id'], ondelete='CASCADE'
        )
    for table in ('import_rejects', 'contacts'):
        with op.batch_alter_table(table, naming_convention=NAMING) as batch_op:
            batch_op.create_foreign_key(
                f'{table}_list_id_fkey', 'contact_lists', ['list_id'], ['id'], ondelete='CASCADE'
            )
    op.create_index('uq_recipients_campaign_phone', 'recipients', ['campaign_id', 'phone'],
                    unique=True, sqlite_where=WITHOUT_DUE, postgresql_where=WITHOUT_DUE)
