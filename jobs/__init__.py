"""Scheduled jobs (APScheduler) and, from issue 5, the delivery engine."""

__all__: list[str] = []
