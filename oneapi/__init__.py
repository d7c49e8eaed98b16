"""oneapi: one OpenAI-compatible endpoint in front of every large-model provider."""

__version__ = "0.1.0"
