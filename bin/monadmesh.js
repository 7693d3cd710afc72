#!/usr/bin/env node
// Package bin for the MonadMesh command-line tool. Node 24 runs the TypeScript source directly.
import { main } from '../cli/main.ts';
import { exit } from '../cli/output.ts';

const code = await main(process.argv.slice(2));
// undefined: the command (`node`) owns the process now and exits by itself.
if (code !== undefined) await exit(code);
