"""Running the same work in several threads at once, for the PostgreSQL exactly-once tests."""

import time
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


def others_wait_for_locks(count: int = 1, *, seconds: float = 10) -> bool:
    """True once `count` lock requests of other PostgreSQL connections are waiting; False after `seconds`.

    How a race test knows the other threads reached the point where they
    block, instead of sleeping and hoping. pg_locks is read live
    (pg_stat_activity would be a snapshot for the whole transaction).
    """
    deadline = time.monotonic() + seconds
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted AND pid <> pg_backend_pid()")
            if cursor.fetchone()[0] >= count:
                return True
            time.sleep(0.02)
    return False
