"""Storage: SQLModel tables, repositories and the unit of work, Alembic
migrations, and the shared key-value store (Redis or in-process)."""

__all__: list[str] = []
