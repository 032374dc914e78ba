#!/usr/bin/env python3
"""Default rule packs against the shared corpus, with the real protectlambda binary.

(a) every real event in corpus/events/benign/ (and tests/data/events-benign/) is allowed by the
    in packs (no deny, no alert);
    benign response shapes are allowed by the out packs, leaking ones are denied;
(b) every payload line of corpus/payloads/*.txt, injected into real event shapes taken from
    the corpus (API Gateway v1 query, v2 body, v2 base64 body, header, path parameter, SQS
    body, SNS Message, URL-encoded S3 key), is denied. Rates are printed per file and shape.

Thresholds: 100% of attack lines in every shape and 0 false positives. Lines that are not
attacks by themselves are listed in NOT_ATTACKS with the reason and excluded (and reported).
"""
import glob
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rulescommon as rc  # noqa: E402
from shapes import Shapes  # noqa: E402

# line -> why it is not an attack string by itself
NOT_ATTACKS = {
    "command-injection-unix.txt": {
        "|nid\\n": "a typo of '\\nid\\n' in the upstream list: it pipes into 'nid', which is not "
                   "a command; no shell would run anything from it",
    },
}
THRESHOLD = {"command-injection-unix.txt": 100.0, "path-traversal.txt": 100.0,
             "lfi-linux-files.txt": 100.0}


def main():
    rc.need_binary()
    failures = []
    with tempfile.TemporaryDirectory(prefix="pl-rules-corpus-") as tmp:
        db, _ = rc.compile_db(tmp)

        # (a) benign events
        files = sorted(glob.glob(os.path.join(rc.SHARED, "corpus", "events", "benign", "**",
                                              "*.json"), recursive=True))
        if not files:
            raise SystemExit("no benign events under %s" % rc.SHARED)
        # plus our own realistic events (webhooks with markdown, forms, Lambda destination
        # records with stack traces, S3 keys with spaces and '&', ...): tests/data/events-benign
        files += sorted(glob.glob(os.path.join(rc.DATA, "events-benign", "*.json")))
        docs = [open(f, "rb").read() for f in files]
        res = rc.check_many(db, "in", docs, tmp)
        bad = [(f, r) for f, r in zip(files, res) if r["verdict"] != "allow" or r["matches"]]
        print("benign events (in): %d/%d allowed without any match" % (len(files) - len(bad),
                                                                        len(files)))
        for f, r in bad:
            failures.append("benign event flagged: %s %s" % (os.path.basename(f),
                                                               json.dumps(r["matches"])[:300]))
        # the same events as responses: nothing in them is a leak (the AWS documentation
        # key AKIAIOSFODNN7EXAMPLE is allow-listed)
        # (only the corpus: our own events deliberately carry stack traces, which are leaks
        # in a response)
        corpus = [(f, d) for f, d in zip(files, docs) if f.startswith(rc.SHARED)]
        files = [f for f, _ in corpus]
        res = rc.check_many(db, "out", [d for _, d in corpus], tmp)
        bad = [(f, r) for f, r in zip(files, res) if r["verdict"] != "allow"]
        print("benign events (out): %d/%d allowed" % (len(files) - len(bad), len(files)))
        for f, r in bad:
            failures.append("benign event denied by out rules: %s %s" % (
                os.path.basename(f), json.dumps(r["matches"])[:300]))

        # benign and leaking responses
        for kind, want in (("benign", "allow"), ("leak", "deny")):
            rfiles = sorted(glob.glob(os.path.join(rc.DATA, "responses", kind + "-*.json")))
            rres = rc.check_many(db, "out", [open(f, "rb").read() for f in rfiles], tmp)
            ok = sum(1 for r in rres if r["verdict"] == want)
            print("%s responses (out): %d/%d %s" % (kind, ok, len(rfiles),
                                                    "allowed" if want == "allow" else "denied"))
            if not rfiles:
                failures.append("no %s responses in tests/data/responses" % kind)
            for f, r in zip(rfiles, rres):
                if r["verdict"] != want:
                    failures.append("%s response %s: %s" % (kind, os.path.basename(f),
                                                            r["verdict"]))

        # (b) payloads in event shapes
        shapes = Shapes(rc.SHARED)
        for pf in sorted(glob.glob(os.path.join(rc.SHARED, "corpus", "payloads", "*.txt"))):
            name = os.path.basename(pf)
            lines = rc.read_lines(pf)
            skip = NOT_ATTACKS.get(name, {})
            attacks = [l for l in lines if l not in skip]
            docs, keys = [], []
            for sname, fn in shapes.shapes.items():
                for l in attacks:
                    docs.append(fn(l))
                    keys.append((sname, l))
            res = rc.check_many(db, "in", docs, tmp)
            per_shape = {}
            missed = {}
            for (sname, l), r in zip(keys, res):
                tot, ok = per_shape.get(sname, (0, 0))
                denied = r["verdict"] == "deny"
                per_shape[sname] = (tot + 1, ok + denied)
                if not denied:
                    missed.setdefault(l, []).append(sname)
            total = sum(t for t, _ in per_shape.values())
            ok = sum(o for _, o in per_shape.values())
            rate = rc.pct(ok, total)
            print("%s: %d attack lines x %d shapes: %d/%d denied (%.1f%%)" % (
                name, len(attacks), len(shapes.shapes), ok, total, rate))
            print("    " + ", ".join("%s %.1f%%" % (s, rc.pct(o, t))
                                     for s, (t, o) in per_shape.items()))
            for l, why in skip.items():
                print("    not an attack by itself, excluded: %r (%s)" % (l, why))
            for l, s in sorted(missed.items()):
                print("    MISSED %r in %s" % (l, ",".join(s)))
            if rate < THRESHOLD.get(name, 100.0):
                failures.append("%s: %.1f%% denied, below the threshold %.1f%%" % (
                    name, rate, THRESHOLD.get(name, 100.0)))
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
