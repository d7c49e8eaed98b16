from tests.functional.conftest import admin_env  # noqa: F401  (the fixture, shared with the TUI tests)
