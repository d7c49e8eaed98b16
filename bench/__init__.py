"""Benchmarks (``make bench``): oneapi against a bare aiohttp pass-through and the upstream called directly."""
