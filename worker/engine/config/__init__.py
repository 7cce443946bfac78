"""A run's config: nanoGPT's knobs typed, read from files, presets, and checked before any work."""
