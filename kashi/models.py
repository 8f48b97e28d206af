"""Every module that defines tables, imported so ``kashi.db.metadata`` knows them all (alembic, tests)."""

import billing.store.tables
import kashi.tables
import metering.tables

TABLE_MODULES = (kashi.tables, metering.tables, billing.store.tables)
