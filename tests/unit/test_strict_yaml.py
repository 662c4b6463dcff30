"""The strict YAML loader: a key given twice in one mapping is an error naming the file, the key
and both lines; everything else loads as PyYAML's SafeLoader loads it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]  # no types-PyYAML in the environment

from serve_apps import strict_yaml

NESTED = "apps:\n  - name: a\n    deployments: [1]\n    args: {}\n    deployments: [2]\n"


def test_a_duplicate_key_names_the_file_the_key_and_both_lines() -> None:
    assert yaml.safe_load(NESTED)["apps"][0]["deployments"] == [2]  # what YAML does silently
    with pytest.raises(strict_yaml.DuplicateKeyError) as caught:
        strict_yaml.load(NESTED, name="serve.yaml")
    message = str(caught.value)
    assert "'deployments'" in message and "serve.yaml" in message
    assert "line 3" in message and "line 5" in message


def test_each_entry_point_refuses_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "twice.yaml"
    path.write_text("a: 1\nb: 2\na: 3\n")
    with pytest.raises(strict_yaml.DuplicateKeyError, match=str(path)):
        strict_yaml.load_file(path)
    with pytest.raises(strict_yaml.DuplicateKeyError, match="'a'"):
        list(strict_yaml.load_all("ok: 1\n---\na: 1\na: 2\n", name="stream"))
    # Equal after construction counts too: 1 and 0x1 are the same int key.
    with pytest.raises(strict_yaml.DuplicateKeyError):
        strict_yaml.load("1: a\n0x1: b\n")
    assert isinstance(strict_yaml.DuplicateKeyError("x"), yaml.YAMLError)


def test_valid_yaml_loads_as_safe_load_does() -> None:
    text = "base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\nlist: [a, b]\n---\nsecond: true\n"
    assert list(strict_yaml.load_all(text)) == list(yaml.safe_load_all(text))
    assert strict_yaml.load("same: {a: 1}\nnested: {a: 1}\n") == {
        "same": {"a": 1},
        "nested": {"a": 1},
    }
    with pytest.raises(yaml.constructor.ConstructorError):  # still safe: no Python objects
        strict_yaml.load("!!python/object/apply:os.system ['true']")
