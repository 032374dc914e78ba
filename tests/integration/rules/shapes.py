"""Real Lambda event shapes (taken from the shared corpus) with one attacker-controlled
string injected where a real trigger would carry it. Used by corpus_test.py."""
import base64
import copy
import json
import os
import urllib.parse

BENIGN = "events/benign/powertools"


def _load(shared, name):
    with open(os.path.join(shared, "corpus", BENIGN, name), encoding="utf-8") as f:
        return json.load(f)


class Shapes:
    """name -> function(payload) -> event bytes"""

    def __init__(self, shared):
        self.v1 = _load(shared, "apiGatewayProxyEvent.json")
        self.v2 = _load(shared, "apiGatewayProxyV2Event.json")
        self.sqs = _load(shared, "sqsEvent.json")
        self.sns = _load(shared, "snsEvent.json")
        self.s3 = _load(shared, "s3Event.json")
        self.shapes = {
            "apigw-v1-query": self.v1_query,
            "apigw-v2-body": self.v2_body,
            "apigw-v2-body-b64": self.v2_body_b64,
            "header": self.header,
            "path-param": self.path_param,
            "sqs-body": self.sqs_body,
            "sns-message": self.sns_message,
            "s3-key": self.s3_key,
        }

    @staticmethod
    def _dump(ev):
        return json.dumps(ev).encode()

    def v1_query(self, p):
        ev = copy.deepcopy(self.v1)
        ev["queryStringParameters"] = {"q": p, "page": "2"}
        ev["multiValueQueryStringParameters"] = {"q": [p], "page": ["2"]}
        return self._dump(ev)

    def v2_body(self, p):
        ev = copy.deepcopy(self.v2)
        ev["body"] = json.dumps({"name": "report", "comment": p})
        ev["isBase64Encoded"] = False
        return self._dump(ev)

    def v2_body_b64(self, p):
        ev = copy.deepcopy(self.v2)
        ev["body"] = base64.b64encode(json.dumps({"comment": p}).encode()).decode()
        ev["isBase64Encoded"] = True
        return self._dump(ev)

    def header(self, p):
        ev = copy.deepcopy(self.v1)
        ev["headers"]["X-Forwarded-Host"] = p
        ev["multiValueHeaders"]["X-Forwarded-Host"] = [p]
        return self._dump(ev)

    def path_param(self, p):
        ev = copy.deepcopy(self.v1)
        ev["pathParameters"] = {"proxy": p}
        return self._dump(ev)

    def sqs_body(self, p):
        ev = copy.deepcopy(self.sqs)
        ev["Records"][0]["body"] = p
        return self._dump(ev)

    def sns_message(self, p):
        ev = copy.deepcopy(self.sns)
        ev["Records"][0]["Sns"]["Message"] = p
        return self._dump(ev)

    def s3_key(self, p):
        ev = copy.deepcopy(self.s3)
        # S3 notifications URL-encode the key, with '+' for a space
        ev["Records"][0]["s3"]["object"]["key"] = urllib.parse.quote_plus(p, safe="/")
        return self._dump(ev)
