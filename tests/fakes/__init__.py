"""Fakes of the outside world: one in-process HTTP server per provider, following its published format.

Each fake is an aiohttp application started on ``127.0.0.1:0``, records every request it receives, and can be
scripted to fail, stall or drop the connection. ``test_<provider>_fake.py`` next to each fake proves it against the
provider's official SDK, so relay tests that pass against a fake say something about the real provider.

* ``openai_upstream`` — OpenAI (``/v1/...``, Bearer key) and Azure OpenAI (``/openai/deployments/...``, ``api-key``).
"""
