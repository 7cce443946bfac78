"""Data bundled with the app: Tiny Shakespeare, the built-in sample dataset (see NOTICE.md)."""
