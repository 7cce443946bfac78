"""Pydantic request and response models of the REST API (documented in docs/api.md)."""
