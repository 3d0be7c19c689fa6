#!/usr/bin/env python3
"""Hark tagger: leave one writer out.  The nearest measure of complaints by
a writer the examples never saw, short of a fresh held-out set.

    HARK_BIN=bin HARK_ROOT=. /usr/bin/python3 tests/bench/tagger_lowo.py [--verbose]

config/reason_examples.tsv holds, each under a comment naming where it came
from, sets by independent writers (former held-out sets: "Formerly the
held-out set tests/heldout/complaints2.tsv", "The fifth writer's held-out set
(complaints5.tsv", ...) and sets written as training data by writers who saw
nothing of Hark ("trainA (720 texts", ...).  For each such set in turn this trains
`hark-intake --evaluate` on every other example (the project's own examples
and the other writers' sets) and tags the set: per-locale and total
accuracy, and their mean over the sets.  A set ends where the next comment
block starts.  Cross-validation (`hark-intake --cross-validate 5`) mixes one
writer's texts into both sides of a fold and flatters; this does not.

Prints a table; --json FILE writes the figures.  --verbose prints the
misses (they are training data: looking is allowed).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.environ.get("HARK_ROOT") or os.path.join(HERE, "..", ".."))
BIN = os.path.abspath(os.environ.get("HARK_BIN") or os.path.join(ROOT, "bin"))
LOCALES = ["en", "ru", "pl", "zh", "be"]
SET_RE = re.compile(r"\b(complaints\d+\.tsv|train[A-Z])\b")


def blocks(path):
    """[(name or None, [lines])]: the examples cut at each comment block;
    name: the writer's set a block's comment names, None for the rest"""
    out = []
    comment, cur = [], None
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("#") or not line.strip():
                if cur is not None:
                    out.append(cur)
                    cur = None
                comment.append(line)
                continue
            if cur is None:
                # only the comment's first line names the set: later lines
                # may mention other sets ("once trainA and trainB had joined")
                first = next((c for c in comment if c.strip("# ")), "")
                m = SET_RE.search(first)
                cur = (m.group(1) if m else None, [])
                comment = []
            cur[1].append(line)
    if cur is not None:
        out.append(cur)
    return out


def evaluate(train_lines, test_lines, tmp, verbose):
    ex = os.path.join(tmp, "train.tsv")
    test = os.path.join(tmp, "test.tsv")
    conf = os.path.join(tmp, "hark.conf")
    with open(ex, "w", encoding="utf-8") as f:
        f.write("\n".join(train_lines) + "\n")
    with open(test, "w", encoding="utf-8") as f:
        f.write("\n".join(test_lines) + "\n")
    with open(os.path.join(ROOT, "config", "hark.conf"), encoding="utf-8") as f:
        text = f.read()
    text, n = re.subn(r"(?m)^examples\s*=.*$", "examples = " + ex, text)
    assert n == 1, "config/hark.conf: no examples line"
    with open(conf, "w", encoding="utf-8") as f:
        f.write(text)
    r = subprocess.run([os.path.join(BIN, "hark-intake"), "-c", conf, "--evaluate", test],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    if r.returncode not in (0, 1):
        sys.exit("hark-intake failed: " + r.stderr[-2000:])
    res = {}
    for line in r.stdout.splitlines():
        if verbose and line.startswith("miss "):
            print("  " + line)
        m = re.match(r"(locale (\S+)|total) (\d+)/(\d+)", line)
        if m:
            res[m.group(2) or "total"] = (int(m.group(3)), int(m.group(4)))
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--examples", default=os.path.join(ROOT, "config", "reason_examples.tsv"))
    ap.add_argument("--json")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()
    bl = blocks(a.examples)
    sets = sorted({name for name, _ in bl if name})
    if not sets:
        sys.exit("no writer's set named in " + a.examples)
    results = {}
    with tempfile.TemporaryDirectory(prefix="hark-lowo-") as tmp:
        for s in sets:
            train = [l for name, lines in bl if name != s for l in lines]
            test = [l for name, lines in bl if name == s for l in lines]
            if a.verbose:
                print(s)
            results[s] = evaluate(train, test, tmp, a.verbose)
    cols = LOCALES + ["total"]
    print("%-18s" % "left out" + "".join("%8s" % c for c in cols))
    mean = {c: [] for c in cols}
    for s in sets:
        row = ""
        for c in cols:
            right, total = results[s].get(c, (0, 0))
            if total:
                mean[c].append(100.0 * right / total)
                row += "%8.1f" % (100.0 * right / total)
            else:  # a set without this language
                row += "%8s" % "-"
        print("%-18s" % s + row)
    # each set weighs the same; a language's mean is over the sets that have it
    print("%-18s" % "mean" + "".join("%8.1f" % (sum(v) / len(v)) for v in mean.values()))
    if a.json:
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump({s: {c: list(v) for c, v in r.items()} for s, r in results.items()}, f,
                      indent=1)


if __name__ == "__main__":
    main()
