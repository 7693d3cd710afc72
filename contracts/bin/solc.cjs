// The subset of the solc command line that forge uses, served by the npm `solc` package (solcjs):
// `--version` prints a `Version:` line; `--standard-json` reads a standard-JSON input on stdin and
// writes the output on stdout. Nothing else goes to stdout, which forge parses. Other flags forge
// passes (`--allow-paths`, `--base-path`, `--include-path`) need no handling: forge puts every
// source's content in the input, and imports it could not inline are read below.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const solc = require('solc');

const args = process.argv.slice(2);
if (args.includes('--version')) {
  // solcjs says `0.8.37+commit.f401782d.Emscripten.clang`; forge reads the semver and commit.
  process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
  process.exit(0);
}
if (!args.includes('--standard-json')) {
  process.stderr.write(
    `this solc wrapper serves only --version and --standard-json (got: ${args.join(' ')})\n`,
  );
  process.exit(2);
}
const baseIndex = args.indexOf('--base-path');
const base = baseIndex >= 0 ? args[baseIndex + 1] : process.cwd();
const input = fs.readFileSync(0, 'utf8');
const findImports = (file) => {
  try {
    return { contents: fs.readFileSync(path.resolve(base, file), 'utf8') };
  } catch (error) {
    return { error: `cannot read ${file}: ${error.message}` };
  }
};
process.stdout.write(solc.compile(input, { import: findImports }));
