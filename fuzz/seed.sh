#!/bin/sh
# Seed corpora from the repository's own inputs.
set -eu
cd "$(dirname "$0")"
root=..
mkdir -p corpus/load corpus/selector corpus/patch corpus/template
n=0
for f in $(find "$root/examples" "$root/tests/it/cases" -name '*.yaml' -o -name '*.yml' -o -name '*.j2' -o -name '*.json' | sort); do
  n=$((n + 1))
  # first byte picks which file of the base fleet the input replaces
  { printf "\\$(printf '%03o' $((n % 7)))"; cat "$f"; } > "corpus/load/seed-$n"
done
for f in $(find "$root/examples" "$root/tests/it/cases" -name '*.j2' | sort); do
  n=$((n + 1)); cp "$f" "corpus/template/seed-$n"
done
printf 'matchLabels: {env: prod}\nmatchExpressions:\n- {key: region, operator: In, values: [eu, us]}\n\0env: prod\nregion: eu\n' > corpus/selector/seed-1
printf 'matchExpressions:\n- {key: tier, operator: DoesNotExist}\n\0env: dev\n' > corpus/selector/seed-2
printf 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec:\n  template:\n    spec:\n      containers:\n      - {name: a, image: x}\n      - {name: b, image: y}\n\0spec:\n  template:\n    spec:\n      containers:\n      - {name: b, image: z}\n      - {name: c, $patch: delete}\n' > corpus/patch/seed-1
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {a: "1", b: "2"}\n\0- {op: replace, path: /data/a, value: "3"}\n- {op: remove, path: /data/b}\n' > corpus/patch/seed-2
printf 'apiVersion: example.com/v1\nkind: Thing\nmetadata: {name: a}\nspec: {x: {y: 1}, l: [1, 2]}\n\0spec: {x: {y: null, z: 2}, l: [3]}\n' > corpus/patch/seed-3
echo "seeded: $(ls corpus/load | wc -l) load, $(ls corpus/template | wc -l) template, 2 selector, 3 patch"
