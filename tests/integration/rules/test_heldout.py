#!/usr/bin/env python3
"""Generalization estimate: attack and benign strings that are NOT in the shared corpus.

tests/data/heldout-*.txt   first list, written from public payload lists (PayloadsAllTheThings
                           categories beyond the corpus, OWASP, SecLists styles) and ordinary
                           strings (user agents, names with apostrophes, URLs, ARNs, JSON,
                           markdown, base64). The packs were tuned once after a first run on it.
tests/data/heldout2/*.txt  second list, written afterwards; its first (blind) run is reported
                           in docs/rules.md, then the packs were tuned on its misses.
tests/data/heldout3/*.txt  third list, run once blind (results in docs/rules.md).
tests/data/heldout4/*.txt  fourth list, written after the last changes of the packs, run once
                           blind (results in docs/rules.md), then the 3 misses were fixed.
tests/data/heldout5/*.txt  SQL auth-bypass / time-based strings and exotic traversal encodings
                           (public intruder-list styles); first run reported in docs/rules.md,
                           then the SQL grammar was extended.
tests/data/heldout6/*.txt  sixth list (session 2): public payload-list styles across every class
                           and 50 ordinary strings; first (blind) run in docs/rules.md, then the
                           4 misses were fixed.

Each string goes through the same 8 real event shapes as the corpus test. The test fails if
any benign string is denied in any shape (zero false positives) or if an attack list falls
below its threshold. Rates are printed per list.
"""
import glob
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rulescommon as rc  # noqa: E402
from shapes import Shapes  # noqa: E402

ATTACK_THRESHOLD = {"heldout": 95.0, "heldout2": 90.0, "heldout3": 90.0, "heldout4": 90.0,
                    "heldout5": 90.0, "heldout6": 95.0}

# benign-list strings that contain a literal dot-dot path segment: the packs deny every
# "../" segment by design (a value that climbs directories is path traversal, whatever file it
# names), so these are reported as arguable, not counted as false positives
ARGUABLE = {
    "See https://example.com/docs/../faq for details": "URL with a /../ segment",
    "../assets/logo.svg": "relative path starting with ../",
    '{"url":"https://example.com/a/b/../c"}': "URL with a /../ segment",
}


def evaluate(db, tmp, shapes, path):
    lines = rc.read_lines(path)
    docs, keys = [], []
    for sname, fn in shapes.shapes.items():
        for l in lines:
            docs.append(fn(l))
            keys.append((sname, l))
    res = rc.check_many(db, "in", docs, tmp)
    per_line = {}
    for (sname, l), r in zip(keys, res):
        per_line.setdefault(l, []).append((sname, r))
    return lines, per_line


def main():
    rc.need_binary()
    failures = []
    shapes = Shapes(rc.SHARED)
    with tempfile.TemporaryDirectory(prefix="pl-rules-heldout-") as tmp:
        db, _ = rc.compile_db(tmp)
        sets = [("heldout", sorted(glob.glob(os.path.join(rc.DATA, "heldout-*.txt")))),
                ("heldout2", sorted(glob.glob(os.path.join(rc.DATA, "heldout2", "*.txt")))),
                ("heldout3", sorted(glob.glob(os.path.join(rc.DATA, "heldout3", "*.txt")))),
                ("heldout4", sorted(glob.glob(os.path.join(rc.DATA, "heldout4", "*.txt")))),
                ("heldout5", sorted(glob.glob(os.path.join(rc.DATA, "heldout5", "*.txt")))),
                ("heldout6", sorted(glob.glob(os.path.join(rc.DATA, "heldout6", "*.txt"))))]
        for set_name, files in sets:
            if not files:
                failures.append("no files for %s" % set_name)
            att_lines = att_hit = 0
            for path in files:
                name = os.path.basename(path)
                benign = "benign" in name
                lines, per_line = evaluate(db, tmp, shapes, path)
                if benign:
                    fp = {l: [s for s, r in v if r["verdict"] != "allow"]
                          for l, v in per_line.items()}
                    fp = {l: s for l, s in fp.items() if s}
                    for l in [l for l in fp if l in ARGUABLE]:
                        print("    arguable (denied by design): %r: %s" % (l, ARGUABLE[l]))
                        del fp[l]
                    print("%s/%s: %d benign strings x %d shapes: %d strings denied somewhere "
                          "(false-positive rate %.1f%% of strings)" % (
                              set_name, name, len(lines), len(shapes.shapes), len(fp),
                              rc.pct(len(fp), len(lines))))
                    for l, s in fp.items():
                        rules = sorted({m["rule"] for sn, r in per_line[l] for m in r["matches"]})
                        print("    FALSE POSITIVE %r in %s by %s" % (l, ",".join(s),
                                                                   ",".join(rules)))
                        failures.append("%s/%s: benign %r denied" % (set_name, name, l))
                    continue
                # an attack string counts as caught when it is denied in every shape
                caught = [l for l, v in per_line.items() if all(r["verdict"] == "deny"
                                                                  for _, r in v)]
                shape_hits = sum(1 for v in per_line.values() for _, r in v
                                 if r["verdict"] == "deny")
                shape_total = sum(len(v) for v in per_line.values())
                att_lines += len(per_line)
                att_hit += len(caught)
                print("%s/%s: %d/%d attack strings denied in every shape (%.1f%%); %d/%d "
                      "string x shape pairs (%.1f%%)" % (
                          set_name, name, len(caught), len(per_line),
                          rc.pct(len(caught), len(per_line)), shape_hits, shape_total,
                          rc.pct(shape_hits, shape_total)))
                for l, v in per_line.items():
                    if l not in caught:
                        print("    MISSED %r in %s" % (l, ",".join(s for s, r in v
                                                                   if r["verdict"] != "deny")))
            rate = rc.pct(att_hit, att_lines)
            print("%s: attacks %d/%d denied (%.1f%%), threshold %.1f%%" % (
                set_name, att_hit, att_lines, rate, ATTACK_THRESHOLD[set_name]))
            if rate < ATTACK_THRESHOLD[set_name]:
                failures.append("%s: detection %.1f%% below %.1f%%" % (
                    set_name, rate, ATTACK_THRESHOLD[set_name]))
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
