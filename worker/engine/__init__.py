"""The engine: tokenizers, prepare, model, training, sampling and checkpoint I/O.

Plain Python + torch + numpy + tiktoken. Nothing here imports FastAPI, Celery or a database,
so the CLI, the benchmarks, the Celery tasks and a bare GPU box all use it as it is.
"""

import os

# torch's OpenMP threads spin while they wait for work. On a CPU shared with other processes
# (a worker beside the API, other runs, a CI box) the spinning threads steal the cores the
# work needs: measured here, a tiny-model step on 2 threads cost 1137 ms of CPU and 4.8 s of
# wall time with spinning, 119-144 ms of CPU and 0.17-0.19 s with passive waiting
# (docs/benchmarks.md). Set before torch is imported (the engine's modules import it after
# this); an OMP_WAIT_POLICY the user set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
