"""A function that dumps its environment (a debugging endpoint left in production, or what an
attacker's injected code does): os.environ holds the execution role's credentials
(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN) and any secret configured as an
environment variable. Protected, the response is denied at the exit (secret canaries:
`Out Rule violation for PL-CANARY-<VAR>`); the event {"source": "proc"} reads
/proc/self/environ instead."""
import os


def handler(event, context):
    if isinstance(event, dict) and event.get("source") == "proc":
        with open("/proc/self/environ", "rb") as f:
            return {"environ": f.read().decode("latin-1").split("\0")}
    return {"environ": dict(os.environ)}
