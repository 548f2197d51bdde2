#!/usr/bin/env bash
# A git work tree for the "burst" suite: branch a has 10,000 files in 100
# directories; branch b changes 5,000 of them, deletes 2,500 and adds 2,500 in
# 25 new directories, so that checking out one from the other changes 10,000
# paths at once, as a branch switch does.
#
#   scripts/lib/burst-tree.sh DIR    (DIR is created; branch a is checked out)
set -euo pipefail
d=$1
mkdir -p "$d"
cd "$d"
git init -q -b a .
git config user.email ferry@localhost
git config user.name ferry
python3 - <<'PY'
import os
for i in range(100):
    os.makedirs(f"d{i:03}", exist_ok=True)
    for j in range(100):
        with open(f"d{i:03}/f{j:03}.txt", "w") as f:
            f.write(f"a {i} {j}\n" * (1 + j % 7))
PY
git add -A && git commit -qm a
git checkout -q -b b
python3 - <<'PY'
import os
for i in range(100):
    for j in range(100):
        p = f"d{i:03}/f{j:03}.txt"
        if j < 50:
            with open(p, "w") as f:
                f.write(f"b {i} {j}\n" * (2 + j % 5))
        elif j < 75:
            os.remove(p)
for i in range(25):
    os.makedirs(f"n{i:02}", exist_ok=True)
    for j in range(100):
        with open(f"n{i:02}/g{j:03}.txt", "w") as f:
            f.write(f"new {i} {j}\n")
PY
git add -A && git commit -qm b
git checkout -q a
