#!/bin/bash
# Applies the benchmark's change set in place to a Debian bookworm minbase tree:
#   500 additions (20 directories, 360 files, 40 files with user.* xattrs, 40 symlinks, 40 hardlinks),
#   300 deletions (usr/share/doc/util-linux as a whole, the 35 entries of usr/share/lintian, which is then
#     re-created with new files, and 205 single files),
#   200 content changes and 100 chmod-only changes.
# Picks come from a fixed seed and file contents from fixed offsets of a source file, and every time it
# sets is a fixed one, so the same tree and seed always give the same tree (and so the same diff tarball).
# Usage: changeset.sh TREE SEED CONTENT-SOURCE-FILE
set -euo pipefail
tree=$1 seed=$2 source=$3
stamp=1700000000
cd "$tree"

gone_dir=usr/share/doc/util-linux
redo_dir=usr/share/lintian
for d in "$gone_dir" "$redo_dir"; do
    [[ -d $d ]] || { echo "changeset: $tree/$d is missing; is this a bookworm minbase tree?" >&2; exit 1; }
done

# A Park-Miller generator in awk: its products stay below 2^53, so mawk and gawk give the same order.
shuffle() {
    awk -v seed="$1" 'BEGIN { x = seed % 2147483646 + 1 }
        { x = (x * 16807) % 2147483647; printf "%010d\t%s\n", x, $0 }' | LC_ALL=C sort | cut -f2-
}

source_size=$(stat -c %s "$source")
# Writes N bytes taken from the content source at an offset derived from K.
content() {
    local k=$1 n=$2
    dd if="$source" iflag=skip_bytes,count_bytes skip=$(( (k * 7919 * 4096 + seed * 104729) % (source_size - n) )) count="$n" status=none
}
size_of() { echo $(( ($1 * 2654435761 + seed) % 65536 )); }

mapfile -t pool < <(find . -type f -links 1 ! -perm -020 -size +0 \
    ! -path "./$gone_dir/*" ! -path "./$redo_dir/*" -printf '%P\n' | LC_ALL=C sort | shuffle "$seed")
mapfile -t dirs < <(find . -mindepth 1 -type d ! -path "./$gone_dir*" ! -path "./$redo_dir*" \
    -printf '%P\n' | LC_ALL=C sort | shuffle $((seed + 1)))

(( ${#pool[@]} >= 640 )) || { echo "changeset: only ${#pool[@]} candidate files in $tree" >&2; exit 1; }
touched=()   # added or rewritten entries, whose times are set to the fixed stamp at the end
parents=()   # directories that gained or lost entries

# 200 content changes: half appended to, half rewritten in place (same inode, new size).
for i in $(seq 0 199); do
    f=${pool[i]}
    if (( i % 2 )); then content $((1000 + i)) 512 >>"$f"; else content $((1000 + i)) "$(size_of $((1000 + i)))" >"$f"; fi
    touched+=("$f")
done

# 100 chmod-only changes: group write added, nothing else.
for i in $(seq 200 299); do chmod g+w "${pool[i]}"; done

# 300 deletions: one whole directory, one directory emptied and re-created, and single files for the rest.
deleted=$(find "$gone_dir" | wc -l)
emptied=$(find "$redo_dir" -mindepth 1 | wc -l)
rm -rf "$gone_dir"
parents+=("$(dirname "$gone_dir")")
rm -rf "$redo_dir"
mkdir "$redo_dir"
parents+=("$(dirname "$redo_dir")" "$redo_dir")
singles=$((300 - deleted - emptied))
for i in $(seq 300 $((300 + singles - 1))); do
    rm -f "${pool[i]}"
    parents+=("$(dirname "${pool[i]}")")
done

# 500 additions.
mkdir -p opt/bench
added_dirs=(opt/bench)
for j in $(seq -w 1 19); do mkdir "opt/bench/d$j"; added_dirs+=("opt/bench/d$j"); done
parents+=(opt)
touched+=("${added_dirs[@]}")

files=()
for i in $(seq 0 359); do
    if (( i < 5 )); then f=$redo_dir/bench-add-$i
    elif (( i < 205 )); then f=${added_dirs[i % 20]}/bench-add-$i
    else d=${dirs[i % ${#dirs[@]}]}; f=$d/bench-add-$i; parents+=("$d")
    fi
    # One file in 40 is large, the rest up to 64 KiB.
    if (( i % 40 == 7 )); then n=$((1 << 20)); else n=$(size_of "$i"); fi
    content "$i" "$n" >"$f"
    files+=("$f")
done

for i in $(seq 0 39); do
    f=${added_dirs[i % 20]}/bench-xattr-$i
    content $((500 + i)) "$(size_of $((500 + i)))" >"$f"
    setfattr -n user.bench.seed -v "$seed-$i" "$f"
    if (( i % 2 )); then setfattr -n user.bench.note -v "file $i of the change set" "$f"; fi
    files+=("$f")
done

for i in $(seq 0 39); do
    l=${added_dirs[i % 20]}/bench-symlink-$i
    case $((i % 4)) in
        0) ln -s "bench-add-$((20 + i % 20))" "$l" ;;   # relative, to an added file in the same directory
        1) ln -s "/${pool[600 + i]}" "$l" ;;            # absolute, into the base
        2) ln -s "../../../${pool[600 + i]}" "$l" ;;    # relative, into the base
        3) ln -s "bench-missing-$i" "$l" ;;             # dangling
    esac
    files+=("$l")
done

# Hardlinks between added files, one group of three among them.
for i in $(seq 0 39); do
    l=${added_dirs[(i + 7) % 20]}/bench-hardlink-$i
    if (( i < 2 )); then ln "${files[0]}" "$l"; else ln "${files[i * 7 % 360]}" "$l"; fi
    files+=("$l")
done

(( ${#files[@]} + ${#added_dirs[@]} == 500 )) || { echo "changeset: made $(( ${#files[@]} + ${#added_dirs[@]} )) additions, not 500" >&2; exit 1; }

touched+=("${files[@]}")
parents+=(.)
for p in "${touched[@]}" "${parents[@]}"; do touch -h -d "@$stamp" "$p"; done
