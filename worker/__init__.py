"""The worker side of nanoGPT Studio: the engine (tensor work) and the Celery tasks around it."""
