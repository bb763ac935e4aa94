"""Generated playbooks and command-line parsing of the benchmark runner."""

import argparse
import stat

import pytest
import yaml

from benchmarks import community, ours
from benchmarks.desired import DesiredState
from benchmarks.run import community_plan, parse_approaches, parse_sizes


def test_desired_state_names():
    assert DesiredState(3).databases == ["bench_db_001", "bench_db_002", "bench_db_003"]


def test_community_playbook_structure(tmp_path):
    path = community.write_playbook(
        tmp_path / "pb.yml",
        DesiredState(2),
        port=5432,
        password="pw",
        role_password="r",
    )
    (play,) = yaml.safe_load(path.read_text())
    assert play["vars"]["bench_databases"] == ["bench_db_001", "bench_db_002"]
    modules = [
        next(key for key in task if key.startswith("community."))
        for task in play["tasks"]
    ]
    assert modules == [
        "community.postgresql.postgresql_user",
        "community.postgresql.postgresql_db",
        "community.postgresql.postgresql_schema",
        "community.postgresql.postgresql_privs",
        "community.postgresql.postgresql_privs",
    ]
    revoke = play["tasks"][4]["community.postgresql.postgresql_privs"]
    assert revoke["roles"] == "PUBLIC"
    assert revoke["state"] == "absent"
    assert revoke["privs"] == "CONNECT,TEMPORARY"


def test_community_playbook_is_private(tmp_path):
    path = community.write_playbook(
        tmp_path / "pb.yml",
        DesiredState(1),
        port=5432,
        password="pw",
        role_password="r",
    )
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_apply_playbook_options(tmp_path):
    path = ours.write_apply_playbook(
        tmp_path / "apply.yml",
        DesiredState(2),
        tmp_path / "admin.dsn",
        tmp_path / "dsn",
    )
    (play,) = yaml.safe_load(path.read_text())
    (task,) = play["tasks"]
    options = task["busdk.database.apply"]
    assert options["databases"] == ["bench_db_001", "bench_db_002"]
    assert options["roles"] == ["bench_service"]
    assert options["schemas"] == ["app"]
    assert options["dry_run"] is False
    assert options["confirm"] is True
    assert options["dsn_output_dir"] == str(tmp_path / "dsn")
    assert options["admin_dsn_file"] == str(tmp_path / "admin.dsn")


def test_parse_sizes_sorts_and_deduplicates():
    assert parse_sizes("50,1,10,10") == [1, 10, 50]


def test_parse_sizes_rejects_invalid():
    for text in ("", "a,b", "0", "1000"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_sizes(text)


def test_parse_approaches_rejects_unknown():
    with pytest.raises(argparse.ArgumentTypeError, match="choose from"):
        parse_approaches("floor,galaxy")


def test_community_plan_by_size():
    assert community_plan(10, 3, 1) == (3, ["check_empty", "first", "noop", "check"])
    assert community_plan(50, 3, 1) == (1, ["first", "noop", "check"])
    assert community_plan(200, 3, 2) == (2, ["first", "noop"])
