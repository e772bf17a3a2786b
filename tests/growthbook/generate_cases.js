#!/usr/bin/env node
// Generates bucketing cases and asks GrowthBook's own JavaScript SDK for the answer to each.
//
//   node generate_cases.js [COUNT] > cases.json                  (COUNT defaults to 12000)
//   node generate_cases.js COUNT experiments > experiments.json    experiment cases instead
//
// Each case is a flag (key, salt), a user id and a rollout percentage with two decimals. The
// expected answer is not computed here: a GrowthBook instance is given a feature whose only rule
// forces `true` for a percentage rollout (coverage, hashAttribute "id", seed, hashVersion 2), the
// rule pg_rollout's flags are equivalent to, and `isOn` is asked for the user. A null salt means
// "bucket by the flag key": the rule then has no seed, and the SDK falls back to the feature key.
//
// The cases are deterministic (a seeded PRNG), so a difference is reproducible. Ids are numeric
// (negative and up to 2^63-1), uuids, ASCII words and e-mails, Latin with accents (also as
// combining marks), Cyrillic, CJK, Hangul, emoji and other characters above U+FFFF (surrogate
// pairs in JavaScript), and mixes of these; salts and keys mix the same alphabets. A fifth of the
// cases sit on the edge of their user's bucket: the SDK's own answers locate the smallest
// percentage that includes the user, and the case uses it or the step below it.
"use strict";

const { GrowthBook } = require("@growthbook/growthbook");
const sdkVersion = require("@growthbook/growthbook/package.json").version;

const SEED = 20240611;
const count = Number(process.argv[2] || 12000);
const mode = process.argv[3] || "flags";
if (!Number.isInteger(count) || count < 1 || (mode !== "flags" && mode !== "experiments")) {
  process.stderr.write("usage: node generate_cases.js [COUNT [flags|experiments]]\n");
  process.exit(2);
}

// mulberry32: a small 32-bit PRNG; deterministic for a given seed.
function prng(seed) {
  let a = seed >>> 0;
  return function next() {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = prng(SEED);
const int = (n) => Math.floor(random() * n);  // 0 .. n-1
const pick = (list) => list[int(list.length)];
const charIn = (lo, hi) => String.fromCodePoint(lo + int(hi - lo + 1));
const repeat = (n, f) => Array.from({ length: n }, f).join("");

const words = ["alice", "bob", "carol", "dave", "user", "checkout", "beta", "pro", "team", "x", "Z9", "acct"];
const accented = ["josé", "Zoë", "Ñandú", "straße", "Ærøskøbing", "François", "naïve", "cafe\u0301", "Łódź", "Ğüşçö"];
const cyrillic = ["пользователь", "ключ", "Юлия", "ёж"];
const astralFixed = ["😀", "👩‍💻", "🇫🇷", "𝔘ser", "\u{10000}", "\u{10FFFF}", "\u{FFFF}", "\u{1F4A9}", "𠜎𠜱"];

function numericId() {
  switch (int(5)) {
    case 0:
      return String(int(1000));
    case 1:
      return String(int(100000000));
    case 2:
      return String(-1 - int(1000000));
    case 3: {
      // Up to 2^63-1, the bigint range; built from two halves so it is exact.
      const hi = BigInt(int(0x7fffffff)) << 32n;
      return String(hi | BigInt(int(0x100000000)));
    }
    default:
      return pick(["0", "1", "9223372036854775807", "-9223372036854775808", "42", "1000000"]);
  }
}

function uuid() {
  const hex = repeat(32, () => "0123456789abcdef"[int(16)]);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function asciiWord() {
  switch (int(4)) {
    case 0:
      return pick(words) + int(100000);
    case 1:
      return `${pick(words)}.${pick(words)}@example.com`;
    case 2:
      return repeat(1 + int(30), () => String.fromCharCode(0x21 + int(94)));  // printable ASCII
    default:
      return pick(words).toUpperCase() + "-" + pick(words);
  }
}

function nonAscii() {
  switch (int(3)) {
    case 0:
      return pick(accented);
    case 1:
      return pick(cyrillic) + int(1000);
    default:
      return repeat(1 + int(8), () => charIn(0xa0, 0x7ff));  // 2-byte UTF-8
  }
}

function cjk() {
  switch (int(3)) {
    case 0:
      return repeat(1 + int(6), () => charIn(0x4e00, 0x9fff));
    case 1:
      return repeat(1 + int(6), () => charIn(0xac00, 0xd7a3));  // Hangul
    default:
      return "ユーザー" + int(1000);
  }
}

function astral() {
  switch (int(3)) {
    case 0:
      return pick(astralFixed);
    case 1:
      return repeat(1 + int(4), () => charIn(0x1f300, 0x1faff));  // emoji blocks
    default:
      return repeat(1 + int(4), () => charIn(0x10000, 0x10ffff));  // any supplementary plane
  }
}

function mixed() {
  const parts = [numericId, asciiWord, nonAscii, cjk, astral];
  return repeat(2 + int(3), () => pick(parts)());
}

const idKinds = { numeric: numericId, uuid, ascii: asciiWord, non_ascii: nonAscii, cjk, astral, mixed };
const kindNames = Object.keys(idKinds);

function salt() {
  switch (int(6)) {
    case 0:
      return null;  // bucket by the flag key
    case 1:
      return pick([pick(accented), cjk(), astral()]);
    case 2:
      return mixed();
    default:
      return pick(words) + "_" + int(100000);
  }
}

// The SDK's answer: a fresh GrowthBook instance per evaluation, so nothing is cached between cases.
function sdkIsOn(key, seed, id, basisPoints) {
  const rule = { force: true, coverage: basisPoints / 10000, hashAttribute: "id", hashVersion: 2 };
  if (seed !== null) rule.seed = seed;
  const gb = new GrowthBook({
    attributes: { id },
    features: { [key]: { defaultValue: false, rules: [rule] } },
  });
  const on = gb.isOn(key);
  gb.destroy();
  return on;
}

// The smallest percentage (in basis points) at which the SDK includes the user; 10001 if none.
function sdkThreshold(key, seed, id) {
  let lo = 0;
  let hi = 10001;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (mid <= 10000 && sdkIsOn(key, seed, id, mid)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

// Experiment cases: COUNT users over COUNT / 10 experiments (10 users each). Each experiment has
// 2 to 5 variations with uneven weights (random, normalised; some with GrowthBook's equal weights;
// some with the 0.1/0.2/0.7 split whose cumulative 0.30000000000000004 tests the double
// arithmetic), a coverage below 1 in half of them (0 in a few), a namespace range in a third,
// hash version 1 or 2 and a seed (null: the key). The expected answer is `run()` of a fresh
// GrowthBook instance: the variation index when `inExperiment`, else null.
function experimentWeights(variations) {
  switch (int(6)) {
    case 0:
      return null;  // equal weights
    case 1:
      if (variations === 3) return [0.1, 0.2, 0.7];
      return Array.from({ length: variations }, () => 1 / variations);
    default: {
      const raw = Array.from({ length: variations }, () => 0.05 + random());
      const total = raw.reduce((a, b) => a + b, 0);
      const w = raw.map((x) => x / total);
      const sum = w.reduce((a, b) => a + b, 0);
      w[w.length - 1] += 1 - sum;  // as close to 1 as doubles allow
      return w;
    }
  }
}

function sdkRun(experiment, id) {
  const gb = new GrowthBook({ attributes: { id } });
  const spec = {
    key: experiment.key,
    variations: Array.from({ length: experiment.variations }, (_, i) => `v${i}`),
    hashVersion: experiment.hash_version,
    coverage: experiment.coverage,
  };
  if (experiment.weights !== null) spec.weights = experiment.weights;
  if (experiment.seed !== null) spec.seed = experiment.seed;
  if (experiment.namespace !== null) spec.namespace = experiment.namespace;
  const result = gb.run(spec);
  gb.destroy();
  return result.inExperiment ? result.variationId : null;
}

if (mode === "experiments") {
  const experimentCases = [];
  let experiment = null;
  for (let n = 1; n <= count; n++) {
    if ((n - 1) % 10 === 0) {
      const variations = 2 + int(4);
      const s = salt();
      const shape = int(10);
      experiment = {
        key: s === null ? `ex${n}_${pick([pick(words), pick(accented), cjk(), astral()])}` : `ex${n}`,
        seed: s,
        hash_version: 1 + int(2),
        variations,
        weights: experimentWeights(variations),
        coverage: shape < 5 ? 1 : shape === 5 ? pick([0, 0.001, 0.999]) : Math.round(random() * 1000) / 1000,
        namespace: int(3) === 0 ? namespaceRange() : null,
      };
    }
    const kind = kindNames[(n - 1) % kindNames.length];
    const id = idKinds[kind]();
    experimentCases.push({ n, ...experiment, id, kind, expected: sdkRun(experiment, id) });
  }
  process.stdout.write(
    JSON.stringify({ sdk: `@growthbook/growthbook ${sdkVersion}`, prng_seed: SEED, experiment_cases: experimentCases }) + "\n",
  );
  process.exit(0);
}

function namespaceRange() {
  const name = pick(["checkout", "pricing", pick(accented), cjk(), astral()]);
  const a = Math.round(random() * 100) / 100;
  const b = Math.round(random() * 100) / 100;
  if (a === b) return [name, 0, 1];
  return [name, Math.min(a, b), Math.max(a, b)];
}

const cases = [];
for (let n = 1; n <= count; n++) {
  const kind = kindNames[(n - 1) % kindNames.length];
  const id = idKinds[kind]();
  const s = salt();
  // A flag with its own salt gets a plain key; a flag bucketed by its key gets a key with text.
  const key = s === null ? `gb${n}_${pick([pick(words), pick(accented), cjk(), astral()])}` : `gb${n}`;
  let basisPoints;
  const shape = int(10);
  if (shape < 2) {
    const t = sdkThreshold(key, s, id);
    basisPoints = Math.min(10000, Math.max(0, int(2) === 0 ? t : t - 1));
  } else if (shape === 2) {
    basisPoints = pick([0, 1, 9999, 10000, 5000, 2500]);
  } else {
    basisPoints = int(10001);
  }
  cases.push({
    n,
    key,
    salt: s,
    id,
    kind,
    percentage: (basisPoints / 100).toFixed(2),
    expected: sdkIsOn(key, s, id, basisPoints),
  });
}

process.stdout.write(
  JSON.stringify({ sdk: `@growthbook/growthbook ${sdkVersion}`, prng_seed: SEED, cases }, null, 0) + "\n",
);
