#!/usr/bin/env bash
# Regenerate expected.yaml of every patch case with kubectl itself:
#   kubectl patch --local -f original.yaml --type <strategic|merge|json> -p "$(cat patch.json)" -o yaml
# The type is in each case's `type` file (default: strategic). Run from anywhere.
set -euo pipefail
cd "$(dirname "$0")"
for d in */; do
  d=${d%/}
  type=$(cat "$d/type" 2>/dev/null || echo strategic)
  kubectl patch --local -f "$d/original.yaml" --type "$type" -p "$(cat "$d/patch.json")" -o yaml > "$d/expected.yaml"
done
echo "regenerated $(ls -d */ | wc -l) cases with $(kubectl version --client | head -1)"
