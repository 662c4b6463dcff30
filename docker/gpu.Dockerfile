# The GPU image: CUDA vLLM and the models on the GPU, for the GPU spot worker group and batch
# RayJobs. Ray's official CUDA image of the same Ray and Python as the CPU image (Ray refuses
# nodes whose Ray or Python version differs from the head's), with the `gpu` extra installed
# from its own lock, constraints-gpu.txt (CUDA vllm and its CUDA torch; scripts/lock.sh gpu).
#   docker build -f docker/gpu.Dockerfile -t tellmemore/app-gpu:<tag> .
FROM rayproject/ray:2.60.0-py311-cu128

# Caches and model files under the non-root user's home (writable; HOME is /home/ray), and
# absolute: Ray workers run in their own working folders. Production models come from S3 into
# TMM_MODELS__CACHE_DIR at run time; none are prepared into the image.
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/home/ray XDG_CACHE_HOME=/home/ray/.cache HF_HOME=/home/ray/.cache/huggingface \
    TMM_MODELS__CACHE_DIR=/home/ray/.cache/tellmemore/models \
    TMM_MODELS__DIR=/home/ray/.cache/tellmemore/prepared \
    RAY_USAGE_STATS_ENABLED=0 TOKENIZERS_PARALLELISM=false

# uid 1000 (`ray`) by number: Kubernetes' runAsNonRoot can only verify a numeric user.
USER 1000:100
RUN mkdir -p /home/ray/.cache/tellmemore/models /home/ray/.cache/tellmemore/prepared \
    /home/ray/.cache/huggingface
WORKDIR /home/ray/app
COPY --chown=1000:100 pyproject.toml constraints-gpu.txt README.md ./
COPY --chown=1000:100 models ./models
COPY --chown=1000:100 tellmemore ./tellmemore
COPY --chown=1000:100 api ./api
COPY --chown=1000:100 cli ./cli
COPY --chown=1000:100 raykit ./raykit
COPY --chown=1000:100 serve_apps ./serve_apps
COPY --chown=1000:100 pipelines ./pipelines
COPY --chown=1000:100 cluster/serve ./cluster/serve
RUN python -m pip install -c constraints-gpu.txt ".[gpu]"

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=300s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"
CMD ["tmm", "api", "serve", "--host", "0.0.0.0", "--port", "8000"]
