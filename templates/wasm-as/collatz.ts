/**
 * MonadMesh WebAssembly template (AssemblyScript, WASI): Collatz statistics over [from, to).
 *
 * Like every WebAssembly function, a WASI command: it reads one input as JSON on stdin and writes
 * one output as JSON on stdout; stderr becomes the task's logs. Input {"from": 1, "to": 100000};
 * output {"from", "to", "longest": {"start", "steps"}, "peak", "totalSteps"}: the start with the
 * longest trajectory, the highest value any trajectory reaches, and the sum of all step counts.
 *
 * Built by `npm run build:wasm` with the AssemblyScript compiler and `@assemblyscript/wasi-shim`
 * (see asconfig.json). With the shim, `console.log` writes to stdout: log with
 * `process.stderr.write` instead, or the output is no longer JSON.
 */

/** Ranges wider than this are refused: split the work over more inputs instead. */
const MAX_SPAN: u64 = 10_000_000;

/** Reads stdin to the end (the platform caps inputs at 64 KiB). */
function readInput(): string {
  const chunk = new ArrayBuffer(4096);
  let text = '';
  for (;;) {
    const n = process.stdin.read(chunk);
    if (n <= 0) break;
    text += String.UTF8.decode(chunk.slice(0, n));
  }
  return text;
}

/** The unsigned integer after `"key":` in a flat JSON object, or -1 when it is missing. */
function readUint(json: string, key: string): i64 {
  const quoted = '"' + key + '"';
  let at = json.indexOf(quoted);
  if (at < 0) return -1;
  at += quoted.length;
  while (at < json.length && isSpace(json.charCodeAt(at))) at++;
  if (at >= json.length || json.charCodeAt(at) != 58 /* : */) return -1;
  at++;
  while (at < json.length && isSpace(json.charCodeAt(at))) at++;
  let value: i64 = -1;
  while (at < json.length) {
    const c = json.charCodeAt(at);
    if (c < 48 || c > 57) break;
    value = (value < 0 ? 0 : value) * 10 + (c - 48);
    if (value > 1_000_000_000_000) return -1;
    at++;
  }
  return value;
}

function isSpace(c: i32): bool {
  return c == 32 || c == 9 || c == 10 || c == 13;
}

const json = readInput();
const from = readUint(json, 'from');
const to = readUint(json, 'to');
if (from < 1 || to < from || <u64>(to - from) > MAX_SPAN) {
  process.stderr.write(
    'expected input like {"from": 1, "to": 100000} with 1 <= from <= to and at most ' +
      MAX_SPAN.toString() +
      ' numbers, got: ' +
      json.slice(0, 200) +
      '\n',
  );
  process.exit(2);
}

let bestStart: u64 = 0;
let bestSteps: u64 = 0;
let peak: u64 = 0;
let totalSteps: u64 = 0;
for (let start = <u64>from; start < <u64>to; start++) {
  let n = start;
  let steps: u64 = 0;
  while (n != 1) {
    n = n & 1 ? 3 * n + 1 : n >> 1;
    if (n > peak) peak = n;
    steps++;
  }
  if (start > peak) peak = start;
  totalSteps += steps;
  if (steps > bestSteps || bestStart == 0) {
    bestSteps = steps;
    bestStart = start;
  }
}

process.stderr.write('walked ' + (to - from).toString() + ' trajectories\n');
process.stdout.write(
  '{"from":' +
    from.toString() +
    ',"to":' +
    to.toString() +
    ',"longest":' +
    (bestStart == 0 ? 'null' : '{"start":' + bestStart.toString() + ',"steps":' + bestSteps.toString() + '}') +
    ',"peak":' +
    (bestStart == 0 ? 'null' : peak.toString()) +
    ',"totalSteps":' +
    totalSteps.toString() +
    '}\n',
);
