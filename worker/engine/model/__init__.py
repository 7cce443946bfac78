"""The GPT: nanoGPT's architecture, the modern recipe, and which one a checkpoint builds."""
