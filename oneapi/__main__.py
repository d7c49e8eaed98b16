"""``python -m oneapi`` and the zipapp entry point."""

from oneapi.cli import main

main()
