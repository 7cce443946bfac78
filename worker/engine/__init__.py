"""The engine: tokenizers, prepare, model, training, sampling and checkpoint I/O.

Plain Python + torch + numpy + tiktoken. Nothing here imports FastAPI, Celery or a database,
so the CLI, the benchmarks, the Celery tasks and a bare GPU box all use it as it is.

Importing any of it does no work: a process that trains or samples chooses how torch's threads
wait (`worker.engine.wait_policy`) where it starts, before torch loads.
"""
