#!/usr/bin/env node
// The `deploy` command. A committed file rather than dist/main.js, so that `npm ci` can
// link it before the first build; it only loads the built CLI.
import '../dist/main.js';
