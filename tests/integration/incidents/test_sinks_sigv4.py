#!/usr/bin/env python3
"""Sinks and the Lambda API against a local server that recomputes every SigV4 signature with
the independent aws4 package: webhook, SNS Publish, SQS SendMessage, PutFunctionConcurrency
(terminate) and Get/UpdateFunctionConfiguration (remote quarantine ADDS to the environment)."""
import json
import os
import urllib.parse

from plinc import *

d = tmpdir()
log = os.path.join(d, "requests.jsonl")
existing = {"DB_HOST": "db.internal", "API_KEY": "not-a-real-key", "QUARANTINE_MODE": "false"}
srv, port = start_sigv4_server(log, ["--env", json.dumps(existing)])
base = "http://127.0.0.1:%d" % port
common = {
    "PROTECTLAMBDA_STORE": "none",
    "PROTECTLAMBDA_FUNCTION_NAME": "orders-api",
    "PROTECTLAMBDA_WEBHOOK_URL": base + "/webhook/T000/B000",
    "PROTECTLAMBDA_SNS_TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:security-alerts",
    "PROTECTLAMBDA_SNS_ENDPOINT": base,
    "PROTECTLAMBDA_SQS_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/security",
    "PROTECTLAMBDA_SQS_ENDPOINT": base,
    "PROTECTLAMBDA_LAMBDA_ENDPOINT": base,
    "PROTECTLAMBDA_EMF": "true",
}

# 1. CRITICAL command injection: terminate + alert -> webhook, SNS, SQS, PutFunctionConcurrency
lines, err = run_probe(aws_env(dict(common, AWS_SESSION_TOKEN="FwoGZXIvYXdzEXAMPLETOKEN//+=")),
                       "COMMAND_INJECTION", "CRITICAL")
r = reports(lines)[0]
st = stats(lines)
check(r["actions"] == "terminate,alert" and r["deny"] and r["terminate"], "CRITICAL injection: terminate,alert, denied")
check(st["terminating"], "the sandbox is terminating")
reqs = read_log(log)
aws = [q for q in reqs if q["kind"] != "webhook"]
check(len(aws) == 3, "three signed AWS requests (SNS, SQS, Lambda): %d" % len(aws))
bad = [q for q in aws if not q["signature_ok"]]
check(not bad, "every SigV4 signature verified by aws4 %s" % [(q["path"], q["signature_reason"]) for q in bad])
check(all("x-amz-security-token" in q["headers"] for q in aws), "session token sent (and signed)")
check(all(SECRET not in json.dumps(q) for q in reqs), "the secret key never travels")

conc = [q for q in aws if q["kind"] == "lambda"]
check(len(conc) == 1 and conc[0]["method"] == "PUT" and conc[0]["path"] == "/2017-10-31/functions/orders-api/concurrency",
      "terminate: PUT /2017-10-31/functions/orders-api/concurrency")
check(json.loads(conc[0]["body"]) == {"ReservedConcurrentExecutions": 0}, "terminate body: ReservedConcurrentExecutions 0")

sns = [q for q in aws if q["kind"] == "sns"][0]
form = urllib.parse.parse_qs(sns["body"])
check(form["Action"] == ["Publish"] and form["TopicArn"] == [common["PROTECTLAMBDA_SNS_TOPIC_ARN"]], "SNS Publish to the topic")
msg = json.loads(form["Message"][0])
check(msg["id"] == r["id"] and msg["level"] == "CRITICAL" and msg["type"] == "COMMAND_INJECTION", "SNS message is the incident")
check("Subject" in form and "COMMAND_INJECTION" in form["Subject"][0], "SNS subject names the event type")

sqs = [q for q in aws if q["kind"] == "sqs"][0]
check(sqs["headers"].get("x-amz-target") == "AmazonSQS.SendMessage", "SQS SendMessage (JSON protocol)")
sb = json.loads(sqs["body"])
check(sb["QueueUrl"] == common["PROTECTLAMBDA_SQS_QUEUE_URL"] and json.loads(sb["MessageBody"])["id"] == r["id"], "SQS message body is the incident")

hook = [q for q in reqs if q["kind"] == "webhook"]
check(len(hook) == 1 and "authorization" not in hook[0]["headers"], "one webhook POST, unsigned")
hb = json.loads(hook[0]["body"])
check(hb["incident_id"] == r["id"] and hb["threat_level"] == "CRITICAL" and "orders-api" in hb["affected_resources"],
      "webhook: incident id, threat level, affected resources")
fields = {f["title"]: f["value"] for f in hb["attachments"][0]["fields"]}
check(fields["Incident ID"] == r["id"] and fields["Threat Level"] == "CRITICAL" and "orders-api" in fields["Affected Resources"],
      "webhook is Slack-compatible (text + attachments fields)")
check(isinstance(hb["text"], str) and hb["attachments"][0]["color"] == "danger", "Slack text and colour")
check(st["sns_sent"] == 1 and st["sqs_sent"] == 1 and st["webhook_sent"] == 1 and st["lambda_failures"] == 0, "sinks counted as delivered")
emf = [json.loads(l) for l in err.splitlines() if l.startswith("{\"_aws\"")]
check(len(emf) == 1 and emf[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Lambda/Security"
      and emf[0]["EventType"] == "COMMAND_INJECTION" and emf[0]["Severity"] == "CRITICAL" and emf[0]["SecurityEvents"] == 1,
      "EMF line: Lambda/Security SecurityEvents by EventType and Severity")
check(emf[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["EventType", "Severity"]], "EMF dimensions")
check(ACCESS_KEY not in err and SECRET not in err, "credentials never logged")
inc_lines = [json.loads(l) for l in err.splitlines() if '"component":"incidents"' in l and '"incident"' in l]
check(len(inc_lines) == 1 and inc_lines[0]["incident"]["id"] == r["id"] and "detail" not in inc_lines[0]["incident"]
      and inc_lines[0]["level"] == "error", "incident log line: a summary (no monitor action), level error")

# 2. HIGH: quarantine + alert; remote quarantine ADDS to the existing environment; HIGH < aws_level: no SNS/SQS
os.unlink(log)
lines, err = run_probe(aws_env(dict(common, PROTECTLAMBDA_QUARANTINE_REMOTE="true")), "COMMAND_INJECTION", "HIGH")
r = reports(lines)[0]
reqs = read_log(log)
lam = [q for q in reqs if q["kind"] == "lambda"]
check([(q["method"], q["path"]) for q in lam] == [("GET", "/2015-03-31/functions/orders-api/configuration"),
                                                 ("PUT", "/2015-03-31/functions/orders-api/configuration")],
      "remote quarantine: GetFunctionConfiguration then UpdateFunctionConfiguration")
check(all(q["signature_ok"] for q in lam), "Lambda API requests signed correctly")
put = json.loads(lam[1]["body"])
vars_ = put["Environment"]["Variables"]
check(vars_["DB_HOST"] == "db.internal" and vars_["API_KEY"] == "not-a-real-key", "existing variables kept")
check(vars_["QUARANTINE_MODE"] == "true" and vars_["QUARANTINE_REASON"] == "COMMAND_INJECTION" and vars_["QUARANTINE_TIMESTAMP"],
      "QUARANTINE_MODE/REASON/TIMESTAMP added")
check(len(vars_) == 5 and "RevisionId" in put, "nothing else changed; guarded by RevisionId")
check(not [q for q in reqs if q["kind"] in ("sns", "sqs")], "HIGH is below sinks.aws_level: no SNS/SQS")
check(len([q for q in reqs if q["kind"] == "webhook"]) == 1, "HIGH alert: webhook")
check("not-a-real-key" not in err, "environment values never logged")

# 3. wrong secret: the server refuses (403) and the failures are counted, not fatal
os.unlink(log)
env = aws_env(common)
env["AWS_SECRET_ACCESS_KEY"] = "wrong/secret"
lines, err = run_probe(env, "CODE_INJECTION", "CRITICAL")
st = stats(lines)
reqs = read_log(log)
check(reqs and all(not q["signature_ok"] for q in reqs if q["kind"] != "webhook"), "a wrong signature is detected by the server")
check(st["sns_failed"] == 1 and st["sqs_failed"] == 1 and st["lambda_failures"] == 1, "403s counted as failures")
check(err.count("sns delivery failed") == 1, "failure logged once")
stop(srv)
print("PASS")
