#!/usr/bin/env node
// The `streaming` command. Node 24 runs the TypeScript sources directly (type stripping).
import '../cli/main.ts';
