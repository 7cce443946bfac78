"""Celery tasks, one module per job kind; each is thin: claim the row through the store, do
the work through the engine (or the training process), record the outcome through the store."""
