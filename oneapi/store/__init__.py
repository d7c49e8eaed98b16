"""The store: peewee models with One API's tables, DSNs, migrations, plain sync query functions, the async
facade (writes on one thread, reads on a small pool), the journal and the caches (memory, Redis)."""
