"""The app store: what people enter and ask for (budgets, alert channels, feedback, requests).

SQLite by default, PostgreSQL when `AUTOSTACK_APP_STORE_URL` says so; the schema is owned by the
Alembic migrations in `migrations/versions/` and brought up to date by `upgrade()`. The
warehouse never holds any of this, and nothing here is ever recomputed away.
"""

from autostack.store.db import engine_for, session_scope, upgrade

__all__ = ["engine_for", "session_scope", "upgrade"]
