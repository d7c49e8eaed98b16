"""Query code: plain sync functions ``fn(db, ...)`` run by the store's threads (see ``facade.py``).

Rows cross the thread boundary as plain dicts. Money moves only through atomic SQL (``quota = quota + ?``),
never read-modify-write, so concurrent nodes and threads cannot lose an update.
"""
