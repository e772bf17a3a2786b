// Compares `migrator lint` and squawk on the corpus: node compare.js manifest.txt ours.json squawk.json
// Prints, per tool, true catches, false alarms and misses against the manifest (what is really
// dangerous in each case), and exits 1 unless migrator matches the manifest exactly, catches every
// dangerous case squawk catches, and raises fewer false alarms.
'use strict';
const fs = require('fs');
const path = require('path');

// squawk's rules that name a danger one of ours names (a squawk finding counts as a catch when one
// of its rules is expected in that case).
const SQUAWK_TO_OURS = {
  'require-concurrent-index-creation': ['create-index-non-concurrently'],
  'require-concurrent-index-deletion': ['drop-index-non-concurrently'],
  'require-concurrent-reindex': ['reindex-non-concurrently'],
  'adding-field-with-default': ['add-column-volatile-default', 'add-stored-generated-column', 'add-serial-column'],
  'adding-serial-primary-key-field': ['add-serial-column', 'add-primary-key-without-index'],
  'adding-not-nullable-field': ['set-not-null'],
  'adding-foreign-key-constraint': ['constraint-without-not-valid'],
  // squawk also raises it on UNIQUE, PRIMARY KEY and EXCLUDE constraints, which take no NOT VALID:
  // credited when that statement is dangerous for another reason of ours.
  'constraint-missing-not-valid': ['constraint-without-not-valid', 'validate-in-same-transaction',
    'add-unique-without-index', 'add-primary-key-without-index', 'exclusion-constraint'],
  'changing-column-type': ['rewriting-type-change'],
  'renaming-column': ['rename-column'],
  'renaming-table': ['rename-table'],
  'ban-drop-column': ['drop-column'],
  'ban-drop-table': ['drop-table'],
  'disallowed-unique-constraint': ['add-unique-without-index', 'add-primary-key-without-index'],
  'ban-truncate-cascade': ['truncate'],
};
// squawk's rules about style or habits rather than locks (not counted either way): robustness on
// rerun, integer widths, identity over serial, text over varchar, timestamptz, enum value order, and
// timeouts (the migrator sets lock_timeout itself on every migration).
const SQUAWK_STYLE = new Set([
  'prefer-robust-stmts', 'prefer-bigint-over-int', 'prefer-bigint-over-smallint', 'prefer-identity',
  'prefer-text-field', 'prefer-timestamptz', 'prefer-timestamp-tz', 'ban-char-field', 'require-enum-value-ordering',
  'require-lock-timeout', 'require-statement-timeout',
]);

const [manifestPath, oursPath, squawkPath] = process.argv.slice(2);
const caseOf = (file) => path.basename(path.dirname(file));

const expected = new Map();  // case -> ["rule@line", ...]
for (const raw of fs.readFileSync(manifestPath, 'utf8').split('\n')) {
  const line = raw.trim();
  if (line === '' || line.startsWith('#')) continue;
  const colon = line.indexOf(':');
  expected.set(line.slice(0, colon), line.slice(colon + 1).split(/\s+/).filter(Boolean).sort());
}
const expectedRules = (name) => new Set((expected.get(name) || []).map((item) => item.split('@')[0]));
let dangers = 0;
for (const items of expected.values()) dangers += items.length;

let failed = false;
const fail = (message) => {
  console.log('FAIL: ' + message);
  failed = true;
};

// migrator: exactly the manifest, rule and line.
const ours = JSON.parse(fs.readFileSync(oursPath, 'utf8'));
const oursByCase = new Map([...expected.keys()].map((name) => [name, []]));
for (const finding of ours.findings) {
  const name = caseOf(finding.path);
  if (!oursByCase.has(name)) fail(`migrator reported ${finding.rule} in ${name}, which is not in the manifest`);
  else oursByCase.get(name).push(`${finding.rule}@${finding.line}`);
}
const oursScore = {catches: 0, falseAlarms: 0, misses: 0};
const oursCaught = new Set();  // "case rule"
for (const [name, want] of expected) {
  const got = (oursByCase.get(name) || []).sort();
  const remaining = [...got];
  for (const item of want) {
    const at = remaining.indexOf(item);
    if (at >= 0) {
      remaining.splice(at, 1);
      oursScore.catches++;
      oursCaught.add(name + ' ' + item.split('@')[0]);
    } else {
      oursScore.misses++;
    }
  }
  oursScore.falseAlarms += remaining.length;
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    fail(`${name}: migrator reported [${got.join(' ')}], the manifest expects [${want.join(' ')}]`);
  }
}

// squawk: each (case, rule) once.
const squawk = JSON.parse(fs.readFileSync(squawkPath, 'utf8'));
const seen = new Set();
const squawkScore = {catches: 0, falseAlarms: 0, misses: 0};
const squawkCaught = new Set();
const falseAlarms = [];
const outside = new Map();
for (const finding of squawk) {
  const name = caseOf(finding.file);
  const key = name + ' ' + finding.rule_name;
  if (seen.has(key)) continue;
  seen.add(key);
  if (SQUAWK_STYLE.has(finding.rule_name)) {
    outside.set(finding.rule_name, (outside.get(finding.rule_name) || 0) + 1);
    continue;
  }
  const mapped = (SQUAWK_TO_OURS[finding.rule_name] || []).filter((rule) => expectedRules(name).has(rule));
  if (mapped.length > 0) {
    for (const rule of mapped) squawkCaught.add(name + ' ' + rule);
  } else {
    falseAlarms.push(`${name}: ${finding.rule_name}`);
  }
}
squawkScore.catches = squawkCaught.size;
squawkScore.falseAlarms = falseAlarms.length;
squawkScore.misses = dangers - squawkCaught.size;
const squawkMisses = [];
for (const [name, want] of expected) {
  for (const item of want) {
    if (!squawkCaught.has(name + ' ' + item.split('@')[0])) squawkMisses.push(`${name}: ${item.split('@')[0]}`);
  }
}

const pad = (text, width) => String(text).padEnd(width);
console.log(`Lint comparison on ${expected.size} migrations (${dangers} real dangers in the manifest)`);
console.log(pad('tool', 10) + pad('true catches', 14) + pad('false alarms', 14) + 'misses');
console.log(pad('migrator', 10) + pad(oursScore.catches, 14) + pad(oursScore.falseAlarms, 14) + oursScore.misses);
console.log(pad('squawk', 10) + pad(squawkScore.catches, 14) + pad(squawkScore.falseAlarms, 14) + squawkScore.misses);
console.log('\nsquawk false alarms:');
for (const item of falseAlarms) console.log('  ' + item);
console.log('squawk misses:');
for (const item of squawkMisses) console.log('  ' + item);
console.log('squawk findings not counted (style and habit rules, per case):');
for (const [rule, count] of [...outside].sort()) console.log(`  ${rule}: ${count}`);

for (const caught of squawkCaught) {
  if (!oursCaught.has(caught)) fail(`squawk catches ${caught} and migrator does not`);
}
if (oursScore.falseAlarms >= squawkScore.falseAlarms) {
  fail(`migrator raised ${oursScore.falseAlarms} false alarms, squawk ${squawkScore.falseAlarms}: expected fewer`);
}
console.log(failed ? '\nlint comparison FAILED' : '\nlint comparison passed');
process.exit(failed ? 1 : 0);
