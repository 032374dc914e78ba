// A local stand-in for the AWS endpoints protectlambda calls (Lambda, SNS, SQS) and for a
// webhook. Every AWS request's SigV4 signature is recomputed with the independent `aws4`
// package; a mismatch is answered 403 (InvalidSignatureException). Every request is appended
// to a JSON-lines log for the test to check (method, path, headers, body, signature result).
//
// usage: node sigv4_server.js --log FILE [--port N] [--access-key K] [--secret S]
//          [--webhook-delay-ms N] [--webhook-status N] [--env JSON]
// Prints "LISTENING <port>" on stdout once bound to 127.0.0.1.
'use strict';
const http = require('http');
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const aws4 = require(path.join(__dirname, '..', '..', 'node_modules', 'aws4'));

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const logFile = args.log;
const accessKey = args['access-key'] || 'AKIDEXAMPLE';
const secret = args.secret || 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
const webhookDelay = parseInt(args['webhook-delay-ms'] || '0', 10);
const webhookStatus = parseInt(args['webhook-status'] || '200', 10);

// the Lambda function's state: environment variables and revision
const functions = {};
function fn(name) {
  if (!functions[name]) {
    functions[name] = {
      env: args.env ? JSON.parse(args.env) : {},
      revision: crypto.randomUUID(),
      concurrency: null,
    };
  }
  return functions[name];
}

function record(entry) {
  fs.appendFileSync(logFile, JSON.stringify(entry) + '\n');
}

// recompute the signature of a request with aws4; returns [ok, reason, service]
function verify(req, body) {
  const auth = req.headers['authorization'] || '';
  const m = auth.match(/^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/);
  if (!m) return [false, 'no or malformed SigV4 Authorization header', null];
  const [, key, date, region, service, signedHeaders, signature] = m;
  if (key !== accessKey) return [false, 'unknown access key', service];
  const amzDate = req.headers['x-amz-date'];
  if (!amzDate || amzDate.slice(0, 8) !== date) return [false, 'x-amz-date missing or not the credential date', service];
  const names = signedHeaders.split(';');
  if (names.indexOf('host') < 0 || names.indexOf('x-amz-date') < 0) return [false, 'host and x-amz-date must be signed', service];
  if (req.headers['x-amz-security-token'] && names.indexOf('x-amz-security-token') < 0)
    return [false, 'session token sent but not signed', service];
  const headers = {};
  for (const n of names) {
    if (req.headers[n] === undefined) return [false, 'signed header ' + n + ' missing', service];
    headers[n] = req.headers[n];
  }
  const q = req.url.indexOf('?');
  const opts = {
    host: req.headers.host,
    method: req.method,
    path: req.url,
    headers,
    body,
    service,
    region,
    doNotModifyHeaders: true,
  };
  const creds = { accessKeyId: accessKey, secretAccessKey: secret };
  if (req.headers['x-amz-security-token']) creds.sessionToken = req.headers['x-amz-security-token'];
  const signer = new aws4.RequestSigner(opts, creds);
  signer.datetime = amzDate;
  const expected = signer.signature();
  if (signedHeaders !== signer.signedHeaders()) return [false, 'signed header list differs', service];
  if (expected !== signature) return [false, 'signature mismatch', service];
  void q;
  return [true, 'ok', service];
}

function json(res, status, obj, type) {
  const s = JSON.stringify(obj);
  res.writeHead(status, { 'Content-Type': type || 'application/json', 'Content-Length': Buffer.byteLength(s) });
  res.end(s);
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    const entry = { t: Date.now(), method: req.method, path: req.url, headers: req.headers, body };
    if (req.url.startsWith('/webhook')) {
      entry.kind = 'webhook';
      setTimeout(() => {
        entry.answered = Date.now();
        record(entry);
        json(res, webhookStatus, { ok: webhookStatus < 300 });
      }, webhookDelay);
      return;
    }
    const [ok, reason, service] = verify(req, body);
    entry.kind = service;
    entry.signature_ok = ok;
    entry.signature_reason = reason;
    record(entry);
    if (!ok) {
      json(res, 403, { __type: 'com.amazon.coral.service#InvalidSignatureException', message: reason });
      return;
    }
    let m;
    if (service === 'lambda' && (m = req.url.match(/^\/2015-03-31\/functions\/([^/]+)\/configuration$/))) {
      const f = fn(decodeURIComponent(m[1]));
      if (req.method === 'GET') {
        json(res, 200, { FunctionName: m[1], Runtime: 'nodejs20.x', RevisionId: f.revision,
          Environment: { Variables: f.env } });
        return;
      }
      if (req.method === 'PUT') {
        const b = JSON.parse(body);
        if (b.RevisionId && b.RevisionId !== f.revision) {
          json(res, 412, { Type: 'User', message: 'The RevisionId provided does not match the latest RevisionId' });
          return;
        }
        if (b.Environment) f.env = b.Environment.Variables || {};
        f.revision = crypto.randomUUID();
        json(res, 200, { FunctionName: m[1], RevisionId: f.revision, Environment: { Variables: f.env } });
        return;
      }
    }
    if (service === 'lambda' && req.method === 'PUT' &&
        (m = req.url.match(/^\/2017-10-31\/functions\/([^/]+)\/concurrency$/))) {
      const b = JSON.parse(body);
      fn(decodeURIComponent(m[1])).concurrency = b.ReservedConcurrentExecutions;
      json(res, 200, { ReservedConcurrentExecutions: b.ReservedConcurrentExecutions });
      return;
    }
    if (service === 'sns' && req.method === 'POST') {
      const p = new URLSearchParams(body);
      if (p.get('Action') !== 'Publish' || !p.get('TopicArn') || !p.get('Message')) {
        json(res, 400, { message: 'bad Publish' });
        return;
      }
      const xml = '<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult>' +
        '<MessageId>' + crypto.randomUUID() + '</MessageId></PublishResult></PublishResponse>';
      res.writeHead(200, { 'Content-Type': 'text/xml', 'Content-Length': Buffer.byteLength(xml) });
      res.end(xml);
      return;
    }
    if (service === 'sqs' && req.headers['x-amz-target'] === 'AmazonSQS.SendMessage') {
      const b = JSON.parse(body);
      json(res, 200, { MessageId: crypto.randomUUID(),
        MD5OfMessageBody: crypto.createHash('md5').update(b.MessageBody || '').digest('hex') },
        'application/x-amz-json-1.0');
      return;
    }
    json(res, 404, { message: 'no such operation here' });
  });
});
server.listen(parseInt(args.port || '0', 10), '127.0.0.1', () => {
  process.stdout.write('LISTENING ' + server.address().port + '\n');
});
process.on('SIGTERM', () => process.exit(0));
