"""The core: domain and services, independent of any messenger.

It imports no SDK (no telegram, wechatpy, aiohttp, sqlalchemy/sqlmodel or
redis); ``tests/test_architecture.py`` enforces that. Import the modules you
need directly (``from core.orders import Order``); this package exports the
most used value types for convenience.
"""

from core.catalog import Course, DripMode, Lesson, Plan, Price
from core.money import Money
from core.orders import Order, OrderStatus, PaymentOutcome
from core.users import Ref, Role, User

__all__ = [
    "Course",
    "DripMode",
    "Lesson",
    "Money",
    "Order",
    "OrderStatus",
    "PaymentOutcome",
    "Plan",
    "Price",
    "Ref",
    "Role",
    "User",
]
