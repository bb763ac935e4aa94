#!/usr/bin/python
"""Module busdk.database.verify."""

from __future__ import annotations

DOCUMENTATION = r"""
module: verify
short_description: Check connectivity and the listener policy of a Bus deployment's PostgreSQL
version_added: 0.1.0
description:
  - V(connectivity) connects with the admin DSN and with every C(*.dsn) file in
    O(dsn_output_dir), and reports for each whether the connection succeeded and
    whether TLS is actually in use.
  - V(listener-policy) reads C(listen_addresses), C(ssl), C(password_encryption)
    and C(pg_hba_file_rules) and reports each rule as passed, failed or
    unverifiable. Settings waiting for a restart are listed.
  - The task fails with RV(error_class=verify_failed) when a requested check
    fails. A rule that cannot be verified (for example because only superusers
    may read C(pg_hba_file_rules)) fails its check unless
    O(listener_policy.allow_unverifiable=true).
  - Never changes anything.
author:
  - Bus platform team (!UNKNOWN)
extends_documentation_fragment:
  - busdk.database.common
options:
  checks:
    description:
      - Checks to run, in order.
    type: list
    elements: str
    choices: [connectivity, listener-policy]
    required: true
  listener_policy:
    description:
      - Rules for V(listener-policy).
    type: dict
    suboptions:
      allowed_addresses:
        description:
          - Listen addresses allowed. V(loopback) and V(private) (RFC 1918,
            RFC 4193 and link-local ranges) are keywords; other entries are
            addresses, CIDR networks or host names.
          - Defaults to V([loopback, private]).
        type: list
        elements: str
      allow_wildcard:
        description:
          - Boolean. Allow C(*), C(0.0.0.0) or C(::) in C(listen_addresses).
          - Defaults to V(false).
        type: raw
      require_tls:
        description:
          - V(auto) (the default) requires TLS whenever the server listens
            beyond loopback.
          - Boolean V(true) or V(false) forces the rule on or off.
        type: raw
      require_scram:
        description:
          - Boolean. Require C(password_encryption=scram-sha-256) and no C(md5)
            or C(password) rules in C(pg_hba.conf).
          - Defaults to V(true).
        type: raw
      allow_unverifiable:
        description:
          - Boolean. Let the check pass when a rule cannot be verified; such a
            rule is still reported as unverifiable, never as passed.
          - Defaults to V(false).
        type: raw
attributes:
  check_mode:
    description: Runs the same way in check mode; it never changes anything.
    support: full
  diff_mode:
    description: Returns no diff because it never changes anything.
    support: none
  idempotent:
    description: Never changes anything.
    support: full
"""

EXAMPLES = r"""
- name: Verify connectivity and the listener policy
  busdk.database.verify:
    deployment_id: example-dev
    admin_dsn_file: /etc/bus/postgres-admin-dsn
    dsn_output_dir: /etc/bus/dsn
    checks: [connectivity, listener-policy]

- name: Allow a server listening on a public interface with TLS
  busdk.database.verify:
    deployment_id: example-prod
    admin_dsn_file: /etc/bus/postgres-admin-dsn
    checks: [listener-policy]
    listener_policy:
      allowed_addresses: [loopback, private, 203.0.113.10]
      require_tls: true
"""

RETURN = r"""
ok:
  description: Whether every requested check passed.
  returned: always
  type: bool
  sample: true
checks:
  description: One result per requested check.
  returned: always
  type: list
  elements: dict
  sample:
    - name: connectivity
      ok: true
      diagnostic: "2 connection(s) succeeded; without TLS: admin, bus_auth.dsn"
      targets:
        - {name: admin, ok: true, tls: false, server_version: 180006, latency_ms: 4.2}
    - name: listener-policy
      ok: true
      diagnostic: "listener policy: 4 passed, 0 failed, 0 unverifiable"
      rules:
        - {name: listen-addresses, status: passed, detail: listening on 127.0.0.1}
      pending_restart: []
actions:
  description: Steps taken.
  returned: always
  type: list
  elements: str
  sample: [discover-provider, verify-connectivity, verify-listener-policy]
diagnostics:
  description: Human-readable notes; on failure, what failed.
  returned: always
  type: list
  elements: str
  sample: []
error_class:
  description: Failure class, C(verify_failed) when a check failed.
  returned: failure
  type: str
  sample: verify_failed
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.busdk.database.plugins.module_utils.ansible_adapter import (
    MUTUALLY_EXCLUSIVE,
    argument_spec,
    run_module,
)

FIELDS = ("checks", "listener_policy")
# Booleans are raw so that the core rejects strings such as "false"; unset
# suboptions get the core's defaults.
POLICY_SPEC = {
    "allowed_addresses": {"type": "list", "elements": "str"},
    "allow_wildcard": {"type": "raw"},
    "require_tls": {"type": "raw"},
    "require_scram": {"type": "raw"},
    "allow_unverifiable": {"type": "raw"},
}


def main() -> None:
    """Run the module."""
    module = AnsibleModule(
        argument_spec=argument_spec(
            {
                "checks": {
                    "type": "list",
                    "elements": "str",
                    "choices": ["connectivity", "listener-policy"],
                    "required": True,
                },
                "listener_policy": {"type": "dict", "options": POLICY_SPEC},
            }
        ),
        mutually_exclusive=MUTUALLY_EXCLUSIVE,
        supports_check_mode=True,
    )
    run_module(module, "verify", FIELDS)


if __name__ == "__main__":
    main()
