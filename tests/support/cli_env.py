"""Settings as the environment of a CLI process (``tmm``, ``tmm-batch``, a notebook kernel)."""

from __future__ import annotations

from tellmemore.settings import Settings


def cli_env(settings: Settings) -> dict[str, str]:
    """The settings as TMM_ environment variables, for a CLI process."""
    return {
        "TMM_ENVIRONMENT": "test",
        "TMM_AUTH__JWT_SECRET": settings.jwt_secret(),
        "TMM_DATABASE__URL": settings.database.url,
        "TMM_REDIS__URL": settings.redis.url,
        "TMM_REDIS__KEY_PREFIX": settings.redis.key_prefix,
        "TMM_S3__ENDPOINT_URL": settings.s3.endpoint_url or "",
        "TMM_S3__BUCKET": settings.s3.bucket,
        # No default keys in the settings: a CLI process gets the test server's explicitly.
        **(
            {"TMM_S3__ACCESS_KEY_ID": keys[0], "TMM_S3__SECRET_ACCESS_KEY": keys[1]}
            if (keys := settings.s3.static_keys())
            else {}
        ),
        "TMM_LANCE__LOCATION": settings.lance.location,
        "TMM_LANCE__PREFIX": settings.lance.prefix,
        "TMM_MODELS__DIR": str(settings.models.dir),
        "TMM_MODELS__LLM__MAX_MODEL_LEN": str(settings.models.llm.max_model_len),
        "TMM_FEEDS__ALLOW_PRIVATE_HOSTS": "true",
    }
