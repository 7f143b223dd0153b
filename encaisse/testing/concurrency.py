"""Running the same work in several threads at once, for the PostgreSQL exactly-once tests."""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

from django.db import connection


def together[T](count: int, work: Callable[[int], T]) -> list[T]:
    """Call work(0) … work(count - 1) in `count` threads released by one barrier; their results in order.

    Each thread has its own database connection (closed at the end), so the
    calls really race each other on the database's locks and constraints.
    """
    barrier = Barrier(count)

    def run(i: int) -> T:
        barrier.wait()
        try:
            return work(i)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))
