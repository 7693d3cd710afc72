#!/usr/bin/env node
// Package bin for the headless compute node. Node 24 runs the TypeScript source directly.
import '../browser-node/src/headless/cli.ts';
