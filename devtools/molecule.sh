#!/usr/bin/env bash
# Run molecule for the collection's scenarios (extensions/molecule/) offline.
#
# Usage: devtools/molecule.sh [molecule arguments]   (default: test --all)
#
# Ansible finds busdk.database through the symlink tree that
# devtools/collection_tree.py keeps under .cache/collections, so molecule tests
# this working tree and never a copy installed elsewhere. HOME points at
# .cache/molecule-home, so molecule's ephemeral files and Ansible's temporary
# files stay in the repository and ~/.ansible is never touched.
set -euo pipefail

repo_root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
venv_bin=${BUS_VENV_BIN:-$repo_root/.venv/bin}
if [[ ! -x $venv_bin/python ]]; then
    echo "error: no Python at $venv_bin/python; create the venv or set BUS_VENV_BIN" >&2
    exit 2
fi

cd "$repo_root"
collections_path=$("$venv_bin/python" -m devtools.collection_tree)

export PATH="$venv_bin:$PATH"
export HOME="$repo_root/.cache/molecule-home"
export ANSIBLE_COLLECTIONS_PATH="$collections_path"
unset ANSIBLE_HOME ANSIBLE_COLLECTIONS_PATHS
mkdir -p "$HOME"

if [[ $# -eq 0 ]]; then
    set -- test --all
fi
exec molecule "$@"
