#!/usr/bin/env node
// Launcher for the built CLI (npm run build first).
import { main } from '../dist/main.js';

main(process.argv.slice(2)).then((code) => process.exit(code));
