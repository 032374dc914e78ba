#!/usr/bin/env python3
"""Binary bodies are not attacks: API Gateway events and responses whose base64 body decodes
to random bytes (compressed images, archives, encrypted blobs look like this) must be allowed.
Short patterns (';id', '|sh', '<%', '%x(') match random bytes by chance, so every rule that a
decoded body reaches must need printable context. 24 MB of pseudo-random bytes from fixed
seeds (deterministic), plus a multipart upload mixing a text field and a binary file."""
import base64
import json
import os
import random
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rulescommon as rc  # noqa: E402

N_EVENTS = 24
SIZE = 1 << 20


def main():
    rc.need_binary()
    failures = []
    with tempfile.TemporaryDirectory(prefix="pl-rules-binary-") as tmp:
        db, _ = rc.compile_db(tmp)
        with open(os.path.join(rc.SHARED, "corpus", "events", "benign", "powertools",
                               "apiGatewayProxyV2Event.json")) as f:
            v2 = json.load(f)
        events, responses = [], []
        for i in range(N_EVENTS):
            data = random.Random(1000 + i).randbytes(SIZE)
            ev = dict(v2)
            ev["headers"] = dict(v2["headers"], **{"content-type": "image/jpeg"})
            ev["body"] = base64.b64encode(data).decode()
            ev["isBase64Encoded"] = True
            events.append(json.dumps(ev).encode())
            responses.append(json.dumps({"statusCode": 200, "isBase64Encoded": True,
                                         "headers": {"Content-Type": "application/zip"},
                                         "body": ev["body"]}).encode())
        boundary = "----WebKitFormBoundary7MA4YWxkTrZu0gW"
        mp = ("--%s\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nMy holiday; "
              "day 1 & 2\r\n--%s\r\nContent-Disposition: form-data; name=\"file\"; "
              "filename=\"IMG_0001.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n" % (
                  boundary, boundary)).encode() + random.Random(7).randbytes(SIZE) + (
            "\r\n--%s--\r\n" % boundary).encode()
        ev = dict(v2)
        ev["headers"] = dict(v2["headers"], **{"content-type":
                                               "multipart/form-data; boundary=" + boundary})
        ev["body"] = base64.b64encode(mp).decode()
        ev["isBase64Encoded"] = True
        events.append(json.dumps(ev).encode())
        for direction, docs in (("in", events), ("out", responses)):
            res = rc.check_many(db, direction, docs, tmp)
            bad = [r for r in res if r["verdict"] != "allow" or r["matches"]]
            print("%s: %d binary bodies (%d MB): %d flagged" % (
                direction, len(docs), sum(len(d) for d in docs) * 3 // 4 >> 20, len(bad)))
            for r in bad:
                for m in r["matches"]:
                    print("    %s at %s: %r" % (m["rule"], m["path"], m["excerpt"]))
                failures.append("%s: binary body flagged" % direction)
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
