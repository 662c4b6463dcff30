"""Secrets travel by environment, never inside pickled settings.

Settings are handed to Ray (Serve deployments' init arguments, Ray Data actors) by pickling,
and Ray keeps what it pickles: in the GCS, which production backs with Redis, and in every
object spilled to disk. So a pickled :class:`~tellmemore.settings.Settings` carries no secret:
every ``SecretStr`` field is reset to its default and the passwords in the database and Redis
URLs are removed. Unpickling reads them back from the process environment under the names the
settings already use (``TMM_AUTH__JWT_SECRET``, ``TMM_S3__SECRET_ACCESS_KEY``, ...). Every pod
gets them from the Kubernetes Secret; a local cluster's processes inherit them from the process
that started it (:func:`secret_environment` says which).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, SecretStr

PREFIX = "TMM_"
# URL settings whose password is as secret as any SecretStr.
URL_FIELDS = (("database", "url"), ("redis", "url"))


def env_name(path: tuple[str, ...]) -> str:
    """The environment variable of a settings path: ``("auth", "jwt_secret")`` ->
    ``TMM_AUTH__JWT_SECRET``."""
    return PREFIX + "__".join(part.upper() for part in path)


def secret_paths(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every ``SecretStr`` field of ``model`` and of the models nested in it."""
    for name, field in model.model_fields.items():
        kinds = _kinds(field.annotation)
        if SecretStr in kinds:
            yield (*prefix, name)
        for kind in kinds:
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                yield from secret_paths(kind, (*prefix, name))


def strip_secrets(settings: BaseModel) -> None:
    """Remove every secret from ``settings`` (a deep copy of the real ones) in place."""
    for path in secret_paths(type(settings)):
        owner, name = _owner(settings, path)
        field = type(owner).model_fields[name]
        object.__setattr__(owner, name, field.get_default(call_default_factory=True))
    for path in URL_FIELDS:
        owner, name = _owner(settings, path)
        object.__setattr__(owner, name, without_password(getattr(owner, name)))


def restore_secrets(settings: BaseModel, environ: Mapping[str, str]) -> None:
    """Put back what :func:`strip_secrets` removed, from ``environ``: a secret whose variable
    is unset keeps its default; a URL gets the password of its variable's URL only when the
    two name the same server, user and database."""
    upper = {key.upper(): value for key, value in environ.items()}
    for path in secret_paths(type(settings)):
        value = upper.get(env_name(path))
        if value:
            owner, name = _owner(settings, path)
            object.__setattr__(owner, name, SecretStr(value))
    for path in URL_FIELDS:
        owner, name = _owner(settings, path)
        current, candidate = getattr(owner, name), upper.get(env_name(path))
        if candidate and without_password(candidate) == current:
            object.__setattr__(owner, name, candidate)


def secret_environment(settings: BaseModel) -> dict[str, str]:
    """The variables a process needs to unpickle ``settings`` with all its secrets: set them
    in the environment of a local Ray cluster before starting it."""
    env: dict[str, str] = {}
    for path in secret_paths(type(settings)):
        owner, name = _owner(settings, path)
        field = type(owner).model_fields[name]
        value = getattr(owner, name)
        if isinstance(value, SecretStr) and value != field.get_default(call_default_factory=True):
            env[env_name(path)] = value.get_secret_value()
    for path in URL_FIELDS:
        owner, name = _owner(settings, path)
        url = getattr(owner, name)
        if without_password(url) != url:
            env[env_name(path)] = url
    return env


def without_password(url: str) -> str:
    """``url`` with the password of its userinfo removed (the user name stays)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}@{host}" if user else host))


def _owner(settings: BaseModel, path: tuple[str, ...]) -> tuple[BaseModel, str]:
    owner: Any = settings
    for part in path[:-1]:
        owner = getattr(owner, part)
    return owner, path[-1]


def _kinds(annotation: Any) -> tuple[Any, ...]:
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return typing.get_args(annotation)
    return (annotation,)
