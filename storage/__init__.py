"""Storage: SQLModel tables, repositories and the unit of work, Alembic
migrations, and the shared key-value store (Redis or in-process)."""

from storage import recommend_tables as _recommend_tables  # noqa: F401  (registers the recommendations' tables)
from storage import stats_tables as _stats_tables  # noqa: F401  (registers the jobs' tables in the metadata)

__all__: list[str] = []
