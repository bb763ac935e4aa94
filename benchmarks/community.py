"""The desired state written with community.postgresql modules, as a playbook.

Databases and schemas use one loop item per database, because
``postgresql_db`` and ``postgresql_schema`` handle one object per call. Both
privilege tasks pass every database in one ``objs`` list, which is the fastest
form ``postgresql_privs`` offers, so the comparison does not favour ours by
looping where a single call works.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from benchmarks.desired import PUBLIC_REVOKED, DesiredState


def write_playbook(
    path: Path, desired: DesiredState, *, port: int, password: str, role_password: str
) -> Path:
    """Write the community.postgresql playbook for ``desired`` with mode 0600.

    The file contains the admin and role passwords of a throwaway cluster.
    """
    login = {
        "login_host": "127.0.0.1",
        "login_port": port,
        "login_user": "postgres",
        "login_password": password,
        "ssl_mode": "disable",
    }
    databases = json.dumps(desired.databases)
    text = f"""\
- name: Converge the benchmark databases with community.postgresql
  hosts: localhost
  gather_facts: false
  vars:
    bench_databases: {databases}
  module_defaults:
    group/community.postgresql.all: {json.dumps(login)}
  tasks:
    - name: Create the service role
      community.postgresql.postgresql_user:
        name: {desired.role}
        password: {json.dumps(role_password)}
        login_db: postgres

    - name: Create the databases
      community.postgresql.postgresql_db:
        name: "{{{{ item }}}}"
        owner: {desired.role}
      loop: "{{{{ bench_databases }}}}"

    - name: Create the schema in each database
      community.postgresql.postgresql_schema:
        login_db: "{{{{ item }}}}"
        name: {desired.schema}
        owner: {desired.role}
      loop: "{{{{ bench_databases }}}}"

    - name: Grant CONNECT on the databases to the service role
      community.postgresql.postgresql_privs:
        login_db: postgres
        type: database
        objs: "{{{{ bench_databases | join(',') }}}}"
        privs: CONNECT
        roles: {desired.role}
        state: present

    - name: Revoke CONNECT and TEMPORARY on the databases from PUBLIC
      community.postgresql.postgresql_privs:
        login_db: postgres
        type: database
        objs: "{{{{ bench_databases | join(',') }}}}"
        privs: {",".join(PUBLIC_REVOKED)}
        roles: PUBLIC
        state: absent
"""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return path
