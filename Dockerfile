# nanoGPT Studio images (docker-compose.yml builds both; docs/deploy.md walks through it):
#   --target api     the web server and migrations; CPU torch, needs no GPU or CUDA
#   --target worker  Celery workers; torch from TORCH_INDEX, CPU by default (docker-compose.yml
#       builds it with CUDA 12.8, the same index):
#       docker build --target worker --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu128 .
#       It carries a C/C++ compiler: torch.compile (on by default for CUDA runs) builds its
#       kernels with it, and Triton its launcher, at a run's first compiled step.
# torch comes from the index named (--index-url: only there, so PyPI's default build never
# slips in) and every install is held to constraints.txt. CUDA wheels bring their own CUDA
# libraries; the host needs only the NVIDIA driver and the container toolkit.
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    STUDIO_DATA_DIR=/data STUDIO_HOST=0.0.0.0 \
    HF_HOME=/data/huggingface
RUN useradd --create-home --uid 1000 studio && mkdir -p /data && chown studio /data
WORKDIR /srv/studio
COPY constraints.txt ./

# The wheel: templates, static files and migrations travel inside it as package data, so
# nothing below needs the source tree.
FROM base AS wheel
COPY pyproject.toml README.md ./
COPY app ./app
COPY worker ./worker
COPY migrations ./migrations
COPY templates ./templates
COPY static ./static
RUN pip wheel --no-deps --wheel-dir /wheels .

FROM base AS api
ARG CPU_TORCH_INDEX=https://download.pytorch.org/whl/cpu
RUN pip install --index-url "$CPU_TORCH_INDEX" -c constraints.txt torch
COPY --from=wheel /wheels /wheels
RUN pip install -c constraints.txt /wheels/*.whl && rm -rf /wheels
USER studio
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=10s --start-period=30s --retries=4 \
    CMD ["nanogpt-studio", "healthcheck", "api"]
ENTRYPOINT ["nanogpt-studio"]
CMD ["api"]

FROM base AS worker
# gcc/g++ and the C library headers for inductor and Triton (python:slim has no compiler;
# its Python headers, which Triton's launcher includes, come with the image).
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
RUN pip install --index-url "$TORCH_INDEX" -c constraints.txt torch
COPY --from=wheel /wheels /wheels
# [hf]: huggingface_hub, so `finetune-gpt2` downloads GPT-2 into HF_HOME on the data volume.
RUN WHEEL=$(ls /wheels/*.whl) && pip install -c constraints.txt "${WHEEL}[hf]" && rm -rf /wheels
USER studio
VOLUME ["/data"]
# Healthy while this container's worker renews its entry in the broker's registry.
HEALTHCHECK --interval=30s --timeout=15s --start-period=120s --retries=3 \
    CMD ["nanogpt-studio", "healthcheck", "worker"]
ENTRYPOINT ["nanogpt-studio"]
CMD ["worker", "--queues", "train"]
