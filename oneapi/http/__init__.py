"""The HTTP plumbing both doors share (``proxy``'s /v1 and ``api``'s /api): request bodies read and decoded by
oneapi (``body``), and the request's keys and answers that every handler needs whichever door it serves
(``request``). Depends on aiohttp and ``oneapi.errors`` only, so that neither door imports the other."""
