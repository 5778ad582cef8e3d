// How many status-only writes the deployment loop makes per second, all deployments
// together: a token bucket. At scale every pod's bound/Running/Ready change moves its
// deployment's and ReplicaSet's status, and with hundreds of deployments changing at once
// their status writes alone would compete with the bindings and the pod status reports
// for etcd (Kubernetes' controllers are held back the same way by their client's QPS
// limit). A pass that would only write statuses and finds the bucket empty writes nothing
// and looks again once a token is due; passes that create, scale or delete anything are
// never held back, and a quiet cluster never empties the bucket. Pure: the caller passes
// the time.
export class StatusBudget {
  private tokens: number;
  private last: number;

  constructor(
    /** Tokens added per second. */
    private readonly perSecond: number,
    /** The most tokens held: writes allowed at once after a quiet spell. */
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.last = now;
  }

  /** Takes a token; false (and nothing taken) when there is none at now. */
  take(now: number): boolean {
    this.refill(now);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Milliseconds from now until a token is there (0 when one is). */
  waitMs(now: number): number {
    this.refill(now);
    return this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) * 1000) / this.perSecond);
  }

  private refill(now: number): void {
    const elapsed = Math.max(0, now - this.last);
    this.last = now;
    this.tokens = Math.min(this.burst, this.tokens + (elapsed * this.perSecond) / 1000);
  }
}
