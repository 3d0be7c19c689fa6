#!/bin/sh
# walls.sh - fail when a file under services/<A>/ includes a header that
# lives in services/<B>/ (B is neither A nor common), or when a unit test
# includes headers of two services.  What two programs share belongs in
# services/common/; the Makefile gives each program only -Iservices/common
# and its own folder, and this check says which include is wrong.
#
#   sh tests/walls.sh [ROOT]      (ROOT: the checkout, default .)
#
# A quoted include is resolved as the compiler would: a path with a folder
# ("../mailer/x.h") from the including file's folder, a bare name from the
# file's own folder, then common/.  Anything that lands in another
# service's folder, or a bare name found only there, is a crossing.
root=${1:-.}
cd "$root" || exit 2
[ -d services/common ] || { echo "walls: no services/common under $root" >&2; exit 2; }
bad=0

# The checks below run once per include (about a thousand), so they set
# variables rather than print: a $(...) forks a subshell each time, and the
# forks were nearly all of the check's 19 s on the shared 2-core machine.

# s_owner FILE - sets owner to the services/<dir> a path lies in ("" outside
# services/)
s_owner() {
    case "$1" in
    services/*/*) owner=${1#services/}; owner=${owner%%/*} ;;
    *) owner="" ;;
    esac
}

# s_resolve FROM_DIR NAME - sets at to where NAME resolves from a file in
# FROM_DIR, relative to the root; "" when it is not a file of the tree
s_resolve() {
    at=""
    case "$2" in
    */*)
        p=$(cd "$1" 2>/dev/null && realpath -m --relative-to="$OLDPWD" "$2" 2>/dev/null)
        [ -n "$p" ] && [ -f "$p" ] && at=$p
        ;;
    *)
        if [ -f "$1/$2" ]; then at="$1/$2"
        elif [ -f "services/common/$2" ]; then at="services/common/$2"
        fi
        ;;
    esac
}

# s_elsewhere NAME - sets at to the first services/<B>/NAME file there is
s_elsewhere() {
    for e in services/*/"$1"; do
        if [ -f "$e" ]; then at=$e; return; fi
    done
}

# s_several - a unit test (the file in cur) that includes headers of more
# than one service is a crossing
s_several() {
    set -- $seen
    if [ $# -gt 1 ]; then
        echo "walls: $cur includes headers of several services:$seen (a unit test tests one)" >&2
        bad=1
    fi
}

# every quoted include as "FILE NAME", files sorted, in one grep: one sed
# per file was another few hundred forks
files=$(find services tests/unit -name '*.[ch]' | sort)
incs=$(grep -H '^[[:space:]]*#[[:space:]]*include[[:space:]]*"[^"]*"' $files /dev/null |
    sed 's/^\([^:]*\):[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1 \2/')
cur=""
seen=""
while read -r f inc; do
    [ -n "$f" ] || continue
    if [ "$f" != "$cur" ]; then
        [ -z "$cur" ] || s_several
        cur=$f
        dir=${f%/*}
        s_owner "$f"
        own=$owner
        seen=""
    fi
    s_resolve "$dir" "$inc"
    if [ -z "$at" ] && [ "${inc#*/}" = "$inc" ]; then
        # a bare name neither beside the file nor in common/: the
        # include path would have to carry another service's folder
        s_elsewhere "$inc"
    fi
    [ -n "$at" ] || continue
    s_owner "$at"
    to=$owner
    [ -n "$to" ] && [ "$to" != common ] || continue
    if [ -n "$own" ]; then
        if [ "$to" != "$own" ]; then
            echo "walls: $f includes \"$inc\" of services/$to/ (share it through services/common/)" >&2
            bad=1
        fi
    else
        # a unit test: the parts of one service at most
        case " $seen " in *" $to "*) ;; *) seen="$seen $to" ;; esac
    fi
done <<EOF_INCS
$incs
EOF_INCS
[ -z "$cur" ] || s_several
[ $bad -eq 0 ] && echo "walls: every service includes only its own headers and common/'s"
exit $bad
