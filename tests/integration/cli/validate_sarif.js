// Validate SARIF files against the official SARIF 2.1.0 schema (tests/data) with ajv
// (draft-07) and ajv-formats. Usage: node validate_sarif.js SCHEMA FILE...
// Exit 0 when every file is valid; prints ajv's errors and exits 1 otherwise.
'use strict';
const fs = require('fs');
const path = require('path');
const modules = path.join(process.env.PL_SOURCE_DIR || path.join(__dirname, '..', '..', '..'),
                          'tests', 'node_modules');
const Ajv = require(path.join(modules, 'ajv'));
const addFormats = require(path.join(modules, 'ajv-formats'));

const [schemaPath, ...files] = process.argv.slice(2);
const ajv = new Ajv({strict: false, allErrors: true});
addFormats(ajv);
const validate = ajv.compile(JSON.parse(fs.readFileSync(schemaPath, 'utf8')));
let bad = 0;
for (const f of files) {
  const doc = JSON.parse(fs.readFileSync(f, 'utf8'));
  if (!validate(doc)) {
    bad++;
    console.error(`${f}: invalid SARIF`);
    console.error(JSON.stringify(validate.errors, null, 2));
  }
}
process.exit(bad ? 1 : 0);
