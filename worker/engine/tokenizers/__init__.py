"""Tokenizers: characters, GPT-2's BPE, a BPE trained on the user's text, and bulk encoding."""
