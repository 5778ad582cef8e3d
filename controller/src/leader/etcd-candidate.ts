// The Candidate over etcd: etcd3's Election (etcd's concurrency/election: each candidate
// puts election/<name>/<lease id> under its own lease; the oldest key leads). Leadership
// ends when the campaign fails (lease lost) or when this controller cannot confirm its
// key for the lease TTL: by then etcd may have expired the lease and elected another.
import type { Campaign, Election } from 'etcd3';
import { errorMessage, type Logger } from '@flotilla/common';
import type { Codec, Store } from '../store/types.js';
import type { Candidate, Leadership } from './candidate.js';

export interface EtcdCandidateOptions {
  /** The store the fence is checked in; its keyspace holds the election's keys. */
  store: Store;
  election: Election;
  /** Keys relative to the store: election/<name>/. */
  keyPrefix: string;
  ttlMs: number;
  log: Logger;
}

/** Election values are plain text (the identity), not JSON. */
const textCodec: Codec<string> = { kind: 'election key', encode: (s) => s, decode: (t) => t };

export class EtcdCandidate implements Candidate {
  constructor(private readonly options: EtcdCandidateOptions) {}

  async leader(): Promise<string | undefined> {
    return this.options.election.leader();
  }

  async campaign(identity: string, signal: AbortSignal): Promise<Leadership> {
    const { election, log } = this.options;
    const campaign = election.campaign(identity);
    const lost = new AbortController();
    campaign.on('error', (err: Error) => {
      if (!lost.signal.aborted) log.warn('leader election campaign failed', { err: errorMessage(err) });
      lost.abort(err);
    });
    const resign = async (): Promise<void> => {
      lost.abort();
      await campaign.resign().catch(() => undefined);
    };
    try {
      await waitElected(campaign, signal);
      const key = await this.campaignKey(campaign);
      const entry = await this.options.store.get(textCodec, key);
      if (!entry) throw new Error(`the election key ${key} vanished as the election was won`);
      const leadership: Leadership = {
        identity,
        since: Date.now(),
        fence: [{ type: 'check', key, expect: entry.modRevision }],
        lost: lost.signal,
        resign,
      };
      this.watchdog(key, entry.modRevision, lost);
      return leadership;
    } catch (err) {
      await resign();
      throw err;
    }
  }

  private async campaignKey(campaign: Campaign): Promise<string> {
    const full = await campaign.getCampaignKey();
    return `${this.options.keyPrefix}${full.slice(full.lastIndexOf('/') + 1)}`;
  }

  /**
   * Reads the election key every third of the TTL. Gone or changed: deposed. Unreadable
   * for a whole TTL since the last good read: etcd may have expired the lease meanwhile,
   * so step down rather than wait for the client library (it gives up only after 2×TTL).
   */
  private watchdog(key: string, revision: number, lost: AbortController): void {
    const { store, ttlMs, log } = this.options;
    let confirmed = Date.now();
    let reading = false;
    const timer = setInterval(() => {
      if (lost.signal.aborted) {
        clearInterval(timer);
        return;
      }
      if (Date.now() - confirmed >= ttlMs) {
        log.warn('cannot confirm leadership within the lease TTL; stepping down', { ttlMs });
        lost.abort();
        return;
      }
      if (reading) return;
      reading = true;
      store
        .get(textCodec, key)
        .then((entry) => {
          if (entry?.modRevision === revision) confirmed = Date.now();
          else {
            log.warn('the election key is gone: deposed', { key });
            lost.abort();
          }
        })
        .catch(() => undefined)
        .finally(() => (reading = false));
    }, ttlMs / 3);
    timer.unref();
  }
}

function waitElected(campaign: Campaign, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) reject(new Error('campaign cancelled'));
    signal.addEventListener('abort', () => reject(new Error('campaign cancelled')), { once: true });
    campaign.once('elected', () => resolve());
    campaign.once('error', reject);
  });
}
