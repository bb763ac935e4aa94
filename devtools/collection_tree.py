"""Expose the working tree as the busdk.database collection for Ansible.

Ansible finds collections only under ``<path>/ansible_collections/<namespace>/<name>``.
This writes a symlink with that shape under ``.cache/collections`` pointing back at
the repository root and prints the path to put in ``ANSIBLE_COLLECTIONS_PATH``.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
COLLECTIONS_ROOT = REPO_ROOT / ".cache" / "collections"


def ensure_collection_tree() -> Path:
    """Create the symlink if needed and return the collections path."""
    link = COLLECTIONS_ROOT / "ansible_collections" / "busdk" / "database"
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() and link.resolve() != REPO_ROOT:
        link.unlink()
    if not link.is_symlink():
        link.symlink_to(REPO_ROOT, target_is_directory=True)
    return COLLECTIONS_ROOT


if __name__ == "__main__":
    print(ensure_collection_tree())
    sys.exit(0)
