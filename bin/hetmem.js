#!/usr/bin/env node
// Runs the built command (npm ci builds dist/ through the prepare script).
import '../dist/cli/main.js';
