#!/bin/sh
# walls_test.sh - tests/walls.sh passes a tree with walls and fails each
# way a wall can be broken: a bare include of another service's header, a
# relative path into another service's folder, a unit test of two services.
#
#   sh tests/unit/walls_test.sh tests/walls.sh
check=$(realpath "${1:-tests/walls.sh}")
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT
fail=0

# s_tree - a small good tree in $tmp/t
s_tree() {
    rm -rf "$tmp/t"
    mkdir -p "$tmp/t/services/common" "$tmp/t/services/alpha" "$tmp/t/services/beta" \
             "$tmp/t/tests/unit"
    echo 'int buf_x(void);' > "$tmp/t/services/common/buf.h"
    echo 'int alpha_x(void);' > "$tmp/t/services/alpha/alpha.h"
    echo 'int beta_x(void);' > "$tmp/t/services/beta/beta.h"
    printf '#include <stdio.h>\n#include "buf.h"\n#include "alpha.h"\n' > "$tmp/t/services/alpha/alpha.c"
    printf '#include "beta.h"\n#include "buf.h"\n' > "$tmp/t/services/beta/beta.c"
    printf '#include "alpha.h"\n#include "buf.h"\n' > "$tmp/t/tests/unit/test_alpha.c"
}

# s_expect WANT WHAT - run the check on $tmp/t; WANT 0 (pass) or 1 (fail)
s_expect() {
    sh "$check" "$tmp/t" > "$tmp/out" 2>&1
    rc=$?
    if [ "$rc" -ne "$1" ]; then
        echo "FAIL: $2: walls.sh exited $rc, expected $1"; cat "$tmp/out"; fail=1
    else
        echo "ok: $2"
    fi
}

s_tree
s_expect 0 "a tree with walls passes"

s_tree
printf '#include "beta.h"\n' >> "$tmp/t/services/alpha/alpha.c"
s_expect 1 "alpha including beta.h fails"
grep -q 'services/alpha/alpha.c includes "beta.h" of services/beta/' "$tmp/out" ||
    { echo "FAIL: the message names the file and the header"; cat "$tmp/out"; fail=1; }

s_tree
printf '#include "../beta/beta.h"\n' > "$tmp/t/services/alpha/alpha.h"
s_expect 1 "a header including ../beta/beta.h fails"

s_tree
printf '#include "beta.h"\n' >> "$tmp/t/tests/unit/test_alpha.c"
s_expect 1 "a unit test of two services fails"

s_tree
printf '#include "../../services/beta/beta.h"\n' > "$tmp/t/tests/unit/test_beta.c"
s_expect 0 "a unit test of one service, by path, passes"

exit $fail
