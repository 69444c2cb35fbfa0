#!/bin/bash
# Tree checks for the benchmark, sourced by bench/run.
#   tree_manifest DIR OUT   writes OUT: one sorted line per entry (type, mode, owner, size, mtime in ns,
#                           link target, link count, device numbers), then the sha256 of every regular
#                           file and every xattr (hex), so two trees are equal when their manifests are.
#   tree_changes A B OUT    writes OUT: what changed from manifest A to manifest B, as "Kind /path" lines
#                           sorted by path, with a deleted directory named once (as a layer's changes are).
#   tree_same WHAT A B [loose]
#                           fails loudly, showing the first differences, when manifests A and B differ.
#                           With "loose", directory mtimes and the root's own mode are not compared:
#                           containers-storage leaves a directory the tarball does not name with the time
#                           of the apply when it re-creates a file in it, and ignores the tarball's root entry.

tree_manifest() {
    local dir=$1 out=$2
    (
        cd "$dir" || exit 1
        # Directory sizes depend on the history of the directory's blocks, not on its entries: left out.
        find . -type d -printf 'entry /%P %y %m %U:%G %T@\n'
        find . ! -type d -printf 'entry /%P %y %m %U:%G %s %T@ %l %n\n'
        find . \( -type c -o -type b \) -printf '%P\0' | xargs -0r stat -c 'device %n %t:%T'
        find . -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0r sha256sum | sed 's/^/sha256 /'
        getfattr -R -h -P -d -m - -e hex . 2>/dev/null |
            awk '/^# file: / { f = substr($0, 9); next } /=/ { print "xattr " f " " $0 }'
    ) | LC_ALL=C sort >"$out"
    [[ -s $out ]] || { echo "tree_manifest: nothing listed in $dir" >&2; return 1; }
}

tree_same() {
    local what=$1 a=$2 b=$3 loose=${4:-}
    if [[ $loose == loose ]]; then
        awk '$1 == "entry" && $3 == "d" { $NF = "-" } $2 == "/" { $4 = "-" } { print }' "$a" >"$a.loose"
        awk '$1 == "entry" && $3 == "d" { $NF = "-" } $2 == "/" { $4 = "-" } { print }' "$b" >"$b.loose"
        a=$a.loose b=$b.loose
    fi
    if ! cmp -s "$a" "$b"; then
        echo "CHECK FAILED: $what: they differ ($a vs $b); first differences:" >&2
        diff "$a" "$b" | head -20 >&2
        return 1
    fi
}

tree_changes() {
    awk '
        FNR == 1 { file++ }
        $1 == "entry" { line = $0; sub(/^entry [^ ]+ /, "", line); if (file == 1) a[$2] = line; else b[$2] = line }
        $1 == "xattr" { if (file == 1) ax["/" $2] = ax["/" $2] " " $3; else bx["/" $2] = bx["/" $2] " " $3 }
        END {
            for (p in b) if (!(p in a)) print "Added " p
            for (p in a) {
                if (!(p in b)) {
                    parent = p; sub(/\/[^\/]*$/, "", parent); if (parent == "") parent = "/"
                    if (parent in b) print "Deleted " p
                } else if (a[p] != b[p] || ax[p] != bx[p]) print "Modified " p
            }
        }' "$1" "$2" | LC_ALL=C sort -k2 >"$3"
}
