// What bin/deploy.js's launcher did about trust (see there): when it ran, this process's
// Node trusts no CA by default, and NODE_EXTRA_CA_CERTS (extraCaFile, when set) was kept
// from Node's start, so the registry client must name the CAs itself. Undefined when Node
// has its usual defaults (`node bin/deploy.js`, dist/main.js, --use-openssl-ca).
import type { ExplicitTrust } from '@flotilla/images';

export function launcherTrust(): ExplicitTrust | undefined {
  return (globalThis as { __flotillaLauncherTrust?: ExplicitTrust }).__flotillaLauncherTrust;
}
