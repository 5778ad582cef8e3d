// bin/deploy.js writes a command's V8 code cache after the command's first run and then
// keeps it; a run that showed help or stopped at a usage error compiled little of the
// command, and a cache written then would leave every later run compiling the rest. Such
// runs tell the bin not to write it (unbundled, nobody reads the flag).
export function skipCodeCache(): void {
  (globalThis as { __flotillaSkipCodeCache?: boolean }).__flotillaSkipCodeCache = true;
}
