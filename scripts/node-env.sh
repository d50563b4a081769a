# Sourced by bin/seerflow and the scripts: puts the project-local Node (scripts/install-node.sh installs it when the
# machine's Node is older than 24) first on PATH, so node, npm, npx and every process they start use it.
_seerflow_node_bin="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.seerflow/node/bin"
if [[ -x "$_seerflow_node_bin/node" && ":$PATH:" != *":$_seerflow_node_bin:"* ]]; then
  export PATH="$_seerflow_node_bin:$PATH"
fi
unset _seerflow_node_bin
