"""The engine: a corpus in, a trained GPT out, and text from it.

Packages by concept: `corpus/` (sources to one corpus of documents), `tokenizers/`, `data/`
(prepare: the corpus to token files; batches), `model/`, `config/` (knobs, files, presets,
preflight), `training/` (the loop), `sampling/`, `checkpoints/` (files, import and export);
shared parts at the top (`errors`, `events`, `device`, `staging`, `heap`, `wait_policy`).

Plain Python on torch, numpy, tiktoken, tokenizers and safetensors (pyarrow and zstandard for
the corpus formats). Nothing here imports FastAPI, Celery or a database, so the CLI, the
benchmarks, the Celery tasks and a bare GPU box all use it as it is. Importing any of it does
no work: a process that trains or samples chooses how torch's threads wait
(`worker.engine.wait_policy`) where it starts, before torch loads.
"""
