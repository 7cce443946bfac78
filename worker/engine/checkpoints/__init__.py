"""Checkpoint files, and weights in and out of other tools (Hugging Face, nanoGPT)."""
