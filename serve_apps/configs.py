"""Serve config files (``cluster/serve/*.yaml``), loaded strictly and built in-process.

YAML itself keeps the last of two equal keys, so the file is read with
:mod:`serve_apps.strict_yaml`, which refuses duplicates. Ray's schema ignores keys it does not
declare, so a misspelt ``route_prefx`` or
``autoscaling_confg`` would deploy with defaults and nobody would know. :func:`load_serve_config`
refuses every key that the Ray schema does not declare, at every level, and checks each
application's ``args`` against :class:`~serve_apps.builder.AppOptions`, before Ray validates the
values. :func:`build_applications` imports each ``import_path`` and calls it with its ``args``,
as Serve does at deploy time, so a config can be tried without deploying it.
"""

from __future__ import annotations

import importlib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from ray.serve.deployment import Application
from ray.serve.schema import ServeApplicationSchema, ServeDeploySchema

from serve_apps import strict_yaml
from serve_apps.builder import AppOptions

__all__ = ["build_applications", "load_serve_config"]

# Fields that Ray keeps free-form but that we know the shape of.
_FREE_FORM_MODELS: dict[tuple[type[BaseModel], str], type[BaseModel]] = {
    (ServeApplicationSchema, "args"): AppOptions,
}


def load_serve_config(path: str | Path) -> ServeDeploySchema:
    """Read a Serve config file; refuse unknown keys and bad values with the key's full path.

    Raises ``ValueError`` naming e.g. ``applications[0].route_prefx`` or
    ``applications[1].args.ingress.num_cpu``, and :class:`~serve_apps.strict_yaml.DuplicateKeyError`
    (a ``yaml.YAMLError``) naming the file, the key and both lines for a key given twice.
    """
    data = strict_yaml.load_file(path)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a Serve config must be a mapping, got {type(data).__name__}")
    _check_keys(data, ServeDeploySchema, "")
    for index, app in enumerate(data.get("applications") or []):
        if isinstance(app, dict):
            _validate(AppOptions, app.get("args") or {}, f"applications[{index}].args")
    return _validate(ServeDeploySchema, data, "")


def build_applications(config: ServeDeploySchema) -> dict[str, Application]:
    """Each application of ``config`` by name, built as Serve would build it.

    The builders run in this process, so they read this process's environment (``TMM_*``);
    Serve instead builds with each application's ``runtime_env``. Building the LLM app needs
    Ray (``ray.serve.llm`` reads the runtime context, starting Ray if none is running).
    """
    built: dict[str, Application] = {}
    for app in config.applications:
        target = _import(app.import_path)
        if isinstance(target, Application):
            if app.args:
                raise ValueError(f"{app.import_path} is an application and takes no args")
            built[app.name] = target
            continue
        if not callable(target):
            raise TypeError(f"{app.import_path} is neither an application nor a builder")
        result = target(app.args)
        if not isinstance(result, Application):
            raise TypeError(f"{app.import_path} returned {type(result).__name__}, not Application")
        built[app.name] = result
    return built


def _import(import_path: str) -> Any:
    module, _, attr = (
        import_path.rpartition(":") if ":" in import_path else import_path.rpartition(".")
    )
    return getattr(importlib.import_module(module), attr)


_Model = typing.TypeVar("_Model", bound=BaseModel)


def _validate(model: type[_Model], data: Any, prefix: str) -> _Model:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{_join(prefix, _path(error['loc'])) or '<root>'}: {error['msg']}"
            for error in exc.errors()
        )
        raise ValueError(f"invalid Serve config: {problems}") from exc


def _check_keys(value: Any, annotation: Any, path: str) -> None:
    """Walk ``value`` against ``annotation`` (a model, or a type holding models) and raise on
    the first key no model declares; plain ``dict`` fields are free-form and not entered."""
    if isinstance(value, Mapping):
        model = _model_in(annotation)
        if model is None:
            return
        fields = _field_names(model)
        for key, item in value.items():
            field = fields.get(str(key))
            if field is None:
                if model.model_config.get("extra") == "allow":
                    continue
                known = ", ".join(sorted(model.model_fields))
                raise ValueError(
                    f"unknown key {_join(path, str(key))!r} in the Serve config "
                    f"({model.__name__} knows: {known})"
                )
            inner = _FREE_FORM_MODELS.get((model, field), model.model_fields[field].annotation)
            _check_keys(item, inner, _join(path, str(key)))
    elif isinstance(value, list):
        item_type = _list_item(annotation)
        for index, item in enumerate(value):
            _check_keys(item, item_type, f"{path}[{index}]")


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model a mapping should follow under ``annotation``, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if _is_union(annotation) or typing.get_origin(annotation) is typing.Annotated:
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


def _list_item(annotation: Any) -> Any:
    """The item type of a list type inside ``annotation`` (``Optional[List[X]]`` -> ``X``)."""
    origin = typing.get_origin(annotation)
    if origin in (list, tuple):
        args = typing.get_args(annotation)
        return args[0] if args else Any
    if _is_union(annotation) or origin is typing.Annotated:
        for arg in typing.get_args(annotation):
            item = _list_item(arg)
            if item is not Any:
                return item
    return Any


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def _field_names(model: type[BaseModel]) -> dict[str, str]:
    """Every name a key may use for a field (its name and a string alias) -> the field name."""
    names = {name: name for name in model.model_fields}
    for name, info in model.model_fields.items():
        for alias in (info.alias, info.validation_alias):
            if isinstance(alias, str):
                names[alias] = name
    return names


def _path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path = f"{path}[{part}]" if isinstance(part, int) else _join(path, part)
    return path


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path and key else path or key
