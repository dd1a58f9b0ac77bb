"""A database cache whose `incr` is atomic across processes.

Django's DatabaseCache implements `incr` as get + set: two workers counting the same key at once can both
read 5 and both write 6. The rate limiter (routing/ratelimit.py) counts with `incr`, so here the key's row
is locked first (SELECT ... FOR UPDATE on PostgreSQL; on SQLite the transaction takes the database's write
lock, settings use transaction_mode IMMEDIATE), making the read-modify-write one step. Everything else is
Django's DatabaseCache unchanged. Redis (CACHE_URL=redis://...) has an atomic INCR of its own.
"""

from django.core.cache.backends.db import DatabaseCache
from django.db import connections, router, transaction


class AtomicDatabaseCache(DatabaseCache):
    def incr(self, key, delta=1, version=None):
        db = router.db_for_write(self.cache_model_class)
        connection = connections[db]
        with transaction.atomic(using=db):
            if connection.features.has_select_for_update:
                table = connection.ops.quote_name(self._table)
                with connection.cursor() as cursor:
                    cursor.execute(f"SELECT cache_key FROM {table} WHERE cache_key = %s FOR UPDATE", [self.make_and_validate_key(key, version=version)])
            value = self.get(key, self._missing_key, version=version)
            if value is self._missing_key:
                raise ValueError(f"Key '{key}' not found")
            new_value = value + delta
            # The expiry restarts at the default timeout, as in Django's own incr; the rate limiter's keys
            # name their window, so a counter that lives a little longer is never read again.
            self.set(key, new_value, version=version)
        return new_value
