#!/usr/bin/env python3
"""`protectlambda report`: text, JSON and ONE self-contained HTML file, rendered in headless
Chromium (no network); the screenshot must not be blank (decoded with zlib: many colours and
enough non-white pixels)."""
import json
import os
import shutil
import struct
import subprocess
import zlib

from plinc import *

d = tmpdir()
db = os.path.join(d, "incidents.db")
env = aws_env({"PROTECTLAMBDA_STORE": "sqlite", "PROTECTLAMBDA_STORE_PATH": db,
               "PROTECTLAMBDA_FUNCTION_NAME": "report-fn", "PROTECTLAMBDA_TERMINATE_REMOTE": "false"})
run_probe(env, "DANGEROUS_FUNCTION_CALL", "HIGH", 4)
run_probe(env, "IN_RULE_VIOLATION", "MEDIUM", 8)
run_probe(env, "COMMAND_INJECTION", "MEDIUM", 3)

r = subprocess.run([PL_BIN, "report", "--since", "1h"], env=env, capture_output=True, text=True)
check(r.returncode == 0, "text report: %s" % r.stderr)
t = r.stdout
check("total events: 15" in t, "text: total")
check("DANGEROUS_FUNCTION_CALL" in t and "IN_RULE_VIOLATION" in t, "text: by type")
check("code review" in t and "Review the" in t, "text: recommendations (review HIGH, code review)")
r = subprocess.run([PL_BIN, "report", "--format", "json"], env=env, capture_output=True, text=True)
j = json.loads(r.stdout)
check(j["total"] == 15 and len(j["recent"]) == 10, "json: total and the 10 most recent")
check(j["by_type"]["COMMAND_INJECTION"] == 3 and j["by_severity"]["CRITICAL"] >= 1, "json: by type / severity")
check(j["correlated_total"] >= 2, "json: correlated incidents (%d)" % j["correlated_total"])
check(j["quarantine"]["active"], "json: quarantine state (injections escalated by the shared rapid rule)")
r = subprocess.run([PL_BIN, "report", "--since", "bogus"], env=env, capture_output=True, text=True)
check(r.returncode == 2 and "protectlambda report:" in r.stderr, "bad --since: exit 2 with a message")

html = os.path.join(d, "report.html")
r = subprocess.run([PL_BIN, "report", "--format", "html", "-o", html], env=env, capture_output=True, text=True)
check(r.returncode == 0 and os.path.getsize(html) > 2000, "html report written")
h = open(html).read()
check("<svg" in h and "src=" not in h and "href=" not in h and "https://" not in h and "<script" not in h,
      "html: inline SVG, no external resource, no script")

chromium = shutil.which("chromium") or shutil.which("chromium-browser")
if not chromium:
    fail("chromium is not installed (scripts/setup.sh installs it)")
png = os.path.join(d, "shot.png")
prof = os.path.join(d, "profile")
r = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--user-data-dir=" + prof, "--screenshot=" + png, "--window-size=1200,900",
                    "file://" + html], capture_output=True, text=True, timeout=120)
check(os.path.exists(png), "chromium wrote a screenshot (%s)" % r.stderr[-300:])


def decode_png(path):
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, w = 8, b"", 0
    while pos < len(data):
        n, typ = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if typ == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and ctype in (2, 6), (depth, ctype)
            bpp = 3 if ctype == 2 else 4
        elif typ == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows, prev, i = [], bytearray(stride), 0
    for _ in range(h):
        f = raw[i]
        line = bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, bpp, rows


w, h, bpp, rows = decode_png(png)
colours, nonwhite = set(), 0
for row in rows[::3]:
    for x in range(0, w * bpp, bpp * 3):
        px = row[x:x + 3]
        colours.add(px)
        if px != b"\xff\xff\xff":
            nonwhite += 1
sampled = (len(rows[::3])) * len(range(0, w * bpp, bpp * 3))
check(w == 1200 and h == 900, "screenshot 1200x900")
check(len(colours) >= 20, "the page is not blank: %d distinct colours" % len(colours))
check(nonwhite / sampled > 0.03, "non-white pixels: %.1f%%" % (100.0 * nonwhite / sampled))
check(any(abs(p[0] - 0xdc) < 8 and abs(p[1] - 0x26) < 8 and abs(p[2] - 0x26) < 8 for p in colours) or
      any(abs(p[0] - 0xf9) < 8 and abs(p[1] - 0x73) < 8 and abs(p[2] - 0x16) < 8 for p in colours),
      "the severity bars are drawn (red or orange pixels)")
print("PASS")
