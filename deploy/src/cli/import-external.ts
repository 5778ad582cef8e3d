// import() of a package the CLI's bundle leaves out (scripts/bundle-cli.mjs: external).
// The bundle runs as a classic script compiled through node:vm, where a plain import()
// would need vm's experimental dynamic-import hook; bin/deploy.js, a real ES module, puts
// its own import() on globalThis for that. Unbundled, import() works as usual.
type ImportHost = (specifier: string) => Promise<unknown>;

export function importExternal(specifier: string): Promise<unknown> {
  const host = (globalThis as { __flotillaImport?: ImportHost }).__flotillaImport;
  return host ? host(specifier) : import(specifier);
}
