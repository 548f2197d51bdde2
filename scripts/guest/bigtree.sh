# The guest half of scripts/bigtree-test.sh (run by the "script" suite with sh -x): walks,
# stats and copies /mnt/bigtree/src and prints what it saw, one "BIGTREE name value" line
# each, for the host to compare with what it made. Nothing here decides pass or fail, except
# a command that fails outright.
set -u
cd /mnt/bigtree || exit 1
t() { awk '{ printf "%.1f", $1 }' /proc/uptime; }
t0=$(t)
echo "BIGTREE walk_files $(find src -type f | wc -l)"
echo "BIGTREE walk_dirs $(find src -type d | wc -l)"
t1=$(t)
# ls -l stats every entry: regular files and the sum of their sizes.
ls -lR src >/tmp/ls.out || echo "BIGTREE stat_error $?"
echo "BIGTREE stat_files $(awk '/^-/ { n++ } END { print n + 0 }' /tmp/ls.out)"
echo "BIGTREE stat_bytes $(awk '/^-/ { s += $5 } END { printf "%d", s }' /tmp/ls.out)"
t2=$(t)
cp -a src copy || echo "BIGTREE copy_error $?"
echo "BIGTREE copy_files $(find copy -type f | wc -l)"
t3=$(t)
echo "BIGTREE seconds walk $(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }') stat $(awk -v a="$t1" -v b="$t2" 'BEGIN { print b - a }') copy $(awk -v a="$t2" -v b="$t3" 'BEGIN { print b - a }')"
