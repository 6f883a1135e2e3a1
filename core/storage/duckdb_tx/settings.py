"""Schema version, migrations and site settings on DuckDB."""

from __future__ import annotations

from core.storage.duckdb_tx.base import TxBase
from core.storage.migrations import Migration


class SettingsTx(TxBase):
    """Schema version, migrations and settings (:class:`core.storage.contract.SettingsStore`)."""

    def schema_version(self) -> int:
        exists = self._one(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations' "
            "AND table_schema = current_schema()"
        )
        if not exists or not exists[0]:
            return 0
        row = self._one("SELECT max(version) FROM schema_migrations")
        return int(row[0]) if row and row[0] is not None else 0

    def apply_migration(self, migration: Migration, applied_at: str) -> None:
        for statement in migration.statements_for(self.dialect):
            self.con.execute(statement)
        self.con.execute(
            "INSERT INTO schema_migrations VALUES (?, ?, ?)",
            [migration.version, migration.description, applied_at],
        )

    def get_setting(self, key: str) -> str | None:
        row = self._one("SELECT value FROM settings WHERE key = ?", [key])
        return None if row is None else str(row[0])

    def put_setting(self, key: str, value: str) -> None:
        self.con.execute("INSERT INTO settings VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                         [key, value])
