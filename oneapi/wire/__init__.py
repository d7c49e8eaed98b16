"""The values the relay's layers hand each other: what a channel is (:mod:`.channel`), the errors an upstream's
answer becomes (:mod:`.errors`), and the model limits a translation and billing both read (:mod:`.model_limits`).

This package sits at the floor beside ``oneapi/errors.py``: it imports the standard library and that module only,
so the adaptors (pure translators), the services (routing, billing) and the relay can all use it, and loading a
translator loads no aiohttp, peewee or configuration (pyproject.toml's import contracts and
``tests/unit/test_import_rules.py`` check both). Nothing here is created at import time beyond constant tables.
"""
