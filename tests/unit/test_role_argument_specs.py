"""Keep the bootstrap role's defaults, argument specs and name rules in step.

Ansible validates role variables against the spec but never reads the spec's
defaults, so the two files can drift apart without any run failing. The
preflight phase repeats the core's name rules in Jinja, with the constants in
vars/main.yml, so that it can name the role variable to fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from busdk_database import models

ROLE_DIR = Path(__file__).resolve().parents[2] / "roles" / "bootstrap"
MISSING = object()


def load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@pytest.fixture(scope="module")
def defaults() -> dict[str, Any]:
    return load_yaml(ROLE_DIR / "defaults" / "main.yml")


@pytest.fixture(scope="module")
def role_vars() -> dict[str, Any]:
    return load_yaml(ROLE_DIR / "vars" / "main.yml")


@pytest.fixture(scope="module")
def options() -> dict[str, dict[str, Any]]:
    specs = load_yaml(ROLE_DIR / "meta" / "argument_specs.yml")
    return specs["argument_specs"]["main"]["options"]


def test_every_default_has_spec_entry(defaults, options):
    missing = sorted(set(defaults) - set(options))
    assert missing == [], f"defaults/main.yml variables without a spec entry: {missing}"


def test_every_spec_option_has_default(defaults, options):
    missing = sorted(set(options) - set(defaults))
    assert missing == [], (
        f"spec options not defined in defaults/main.yml: {missing}; "
        "define them there, with null when the option has no default"
    )


def test_spec_defaults_match_defaults_file(defaults, options):
    for name, spec in options.items():
        expected = spec.get("default")
        actual = defaults.get(name, MISSING)
        assert actual == expected, (
            f"{name}: defaults/main.yml has {actual!r}, "
            f"argument_specs.yml has {expected!r}"
        )


def test_default_types_match_spec(defaults, options):
    python_types = {
        "str": str,
        "path": str,
        "int": int,
        "bool": bool,
        "list": list,
        "dict": dict,
    }
    for name, spec in options.items():
        value = defaults.get(name)
        if value is None:
            continue
        expected_type = python_types[spec["type"]]
        assert isinstance(value, expected_type), (
            f"{name}: default {value!r} is not of spec type {spec['type']}"
        )


def test_list_default_choices_valid(defaults, options):
    for name, spec in options.items():
        choices = spec.get("choices")
        value = defaults.get(name)
        if choices is None or not isinstance(value, list):
            continue
        invalid = [item for item in value if item not in choices]
        assert invalid == [], f"{name}: defaults {invalid} are not in choices {choices}"


def test_options_use_role_prefix(options):
    unprefixed = sorted(name for name in options if not name.startswith("bootstrap_"))
    assert unprefixed == [], f"role options without the bootstrap_ prefix: {unprefixed}"


def test_options_have_descriptions(options):
    for name, spec in options.items():
        assert spec.get("description"), f"{name} has no description"


def test_name_limits_match_core(role_vars):
    assert role_vars["bootstrap__max_identifier_bytes"] == models.MAX_IDENTIFIER_BYTES
    assert (
        role_vars["bootstrap__control_character_pattern"]
        == models.CONTROL_CHARACTERS.pattern
    )


def test_reserved_names_match_core(role_vars):
    assert set(role_vars["bootstrap__reserved_role_names"]) == set(
        models.RESERVED_ROLE_NAMES
    )
    assert set(role_vars["bootstrap__reserved_database_names"]) == set(
        models.RESERVED_DATABASE_NAMES
    )


def test_secret_reference_matches_core(role_vars):
    assert (
        role_vars["bootstrap__secret_reference_pattern"]
        == models.SECRET_REFERENCE.pattern
    )
