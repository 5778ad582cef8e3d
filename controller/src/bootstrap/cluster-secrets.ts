// The cluster's secrets live in etcd: the CA and the NATS operator/account keys. The
// first controller creates them; create-if-absent makes racing controllers agree on
// whichever write landed first.
import { createCertificateAuthority, createNatsKeys, type KeyAndCert, type NatsKeys } from '@flotilla/common';
import { asRecord, jsonCodec, stringField } from '../store/codecs.js';
import { keys } from '../store/keys.js';
import type { Store } from '../store/types.js';

export interface ClusterSecrets {
  ca: KeyAndCert;
  nats: NatsKeys;
  /** Whether this call created them (first start of the cluster). */
  created: { ca: boolean; nats: boolean };
}

export const caCodec = jsonCodec<KeyAndCert>('cluster CA', (value) => {
  const r = asRecord('cluster CA', value);
  return { certPem: stringField('cluster CA', r, 'certPem'), keyPem: stringField('cluster CA', r, 'keyPem') };
});

export const natsKeysCodec = jsonCodec<NatsKeys>('NATS keys', (value) => {
  const r = asRecord('NATS keys', value);
  return {
    operatorSeed: stringField('NATS keys', r, 'operatorSeed'),
    accountSeed: stringField('NATS keys', r, 'accountSeed'),
    systemAccountSeed: stringField('NATS keys', r, 'systemAccountSeed'),
  };
});

export const caCommonName = 'flotilla-ca';

export async function ensureClusterSecrets(store: Store): Promise<ClusterSecrets> {
  let ca = (await store.get(caCodec, keys.clusterCa))?.value;
  let caCreated = false;
  if (!ca) {
    const result = await store.create(
      caCodec,
      keys.clusterCa,
      await createCertificateAuthority(caCommonName),
    );
    ca = result.entry.value;
    caCreated = result.created;
  }
  let nats = (await store.get(natsKeysCodec, keys.clusterNats))?.value;
  let natsCreated = false;
  if (!nats) {
    const result = await store.create(natsKeysCodec, keys.clusterNats, createNatsKeys());
    nats = result.entry.value;
    natsCreated = result.created;
  }
  return { ca, nats, created: { ca: caCreated, nats: natsCreated } };
}
