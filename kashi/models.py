"""Import every module that defines tables, so ``kashi.db.metadata`` knows them all."""

import importlib

TABLE_MODULES = ("kashi.tables", "metering.tables", "billing.store.tables")


def load_all_tables() -> None:
    for name in TABLE_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
