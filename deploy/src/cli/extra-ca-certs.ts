// The NODE_EXTRA_CA_CERTS file that bin/deploy.js's launcher kept from Node's start (see
// there): Node did not load it, so the registry client must add those CAs itself. Undefined
// when Node loaded it as usual (`node bin/deploy.js`, dist/main.js, --use-openssl-ca) or
// it is not set; then the registry client adds nothing.
export function keptExtraCaCerts(): string | undefined {
  return (globalThis as { __flotillaExtraCaCerts?: string }).__flotillaExtraCaCerts;
}
