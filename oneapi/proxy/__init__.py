"""The relay: /v1 handlers, upstream client, tokenizer and provider adaptors."""
