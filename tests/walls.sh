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

# s_owner FILE - the services/<dir> a path lies in ("" outside services/)
s_owner() {
    case "$1" in
    services/*/*) d=${1#services/}; echo "${d%%/*}" ;;
    *) echo "" ;;
    esac
}

# s_resolve FROM_DIR NAME - where NAME resolves from a file in FROM_DIR,
# relative to the root; "" when it is not a file of the tree
s_resolve() {
    case "$2" in
    */*)
        p=$(cd "$1" 2>/dev/null && realpath -m --relative-to="$OLDPWD" "$2" 2>/dev/null)
        [ -n "$p" ] && [ -f "$p" ] && echo "$p"
        ;;
    *)
        if [ -f "$1/$2" ]; then echo "$1/$2"
        elif [ -f "services/common/$2" ]; then echo "services/common/$2"
        fi
        ;;
    esac
}

# s_elsewhere NAME - the services/<B>/NAME files there are
s_elsewhere() {
    for f in services/*/"$1"; do [ -f "$f" ] && echo "$f"; done
}

for f in $(find services tests/unit -name '*.[ch]' | sort); do
    dir=$(dirname "$f")
    own=$(s_owner "$f")
    seen=""
    for inc in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f"); do
        at=$(s_resolve "$dir" "$inc")
        if [ -z "$at" ] && [ "${inc#*/}" = "$inc" ]; then
            # a bare name neither beside the file nor in common/: the
            # include path would have to carry another service's folder
            at=$(s_elsewhere "$inc" | head -n 1)
        fi
        [ -n "$at" ] || continue
        to=$(s_owner "$at")
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
    done
    set -- $seen
    if [ $# -gt 1 ]; then
        echo "walls: $f includes headers of several services:$seen (a unit test tests one)" >&2
        bad=1
    fi
done
[ $bad -eq 0 ] && echo "walls: every service includes only its own headers and common/'s"
exit $bad
