# nanoGPT Studio: one image for the API, the workers and migrations (docker-compose.yml).
# CPU torch by default; for NVIDIA GPUs build with --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu124
FROM python:3.11-slim

ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    STUDIO_DATA_DIR=/data STUDIO_HOST=0.0.0.0

WORKDIR /srv/studio
COPY pyproject.toml README.md* ./
COPY app ./app
COPY worker ./worker
COPY migrations ./migrations
COPY alembic.ini ./
COPY templates ./templates
COPY static ./static
# Editable: migrations/, templates/ and static/ are found beside the packages.
RUN pip install --extra-index-url "$TORCH_INDEX" "torch>=2.4" && pip install -e .

RUN useradd --create-home --uid 1000 studio && mkdir -p /data && chown studio /data
USER studio
VOLUME ["/data"]
EXPOSE 8000
ENTRYPOINT ["nanogpt-studio"]
CMD ["api"]
