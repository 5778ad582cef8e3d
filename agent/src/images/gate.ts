// Pulls and GC must not interleave: a pull stores blobs before it records the image's
// name, and a GC sweep in between would take those blobs for garbage. Pulls share the
// gate; GC holds it alone. A waiting GC lets no new pull in, so pulls cannot starve it.

type Waiter = { exclusive: boolean; resolve: () => void };

export class PullGcGate {
  private shared = 0;
  private exclusive = false;
  private readonly waiting: Waiter[] = [];

  async withShared<T>(fn: () => Promise<T>): Promise<T> {
    await this.acquire(false);
    try {
      return await fn();
    } finally {
      this.release(false);
    }
  }

  async withExclusive<T>(fn: () => Promise<T>): Promise<T> {
    await this.acquire(true);
    try {
      return await fn();
    } finally {
      this.release(true);
    }
  }

  private canEnter(exclusive: boolean): boolean {
    if (this.exclusive) return false;
    if (exclusive) return this.shared === 0;
    return !this.waiting.some((w) => w.exclusive);
  }

  private acquire(exclusive: boolean): Promise<void> {
    if (this.waiting.length === 0 && this.canEnter(exclusive)) {
      this.enter(exclusive);
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push({ exclusive, resolve }));
  }

  private enter(exclusive: boolean): void {
    if (exclusive) this.exclusive = true;
    else this.shared++;
  }

  private release(exclusive: boolean): void {
    if (exclusive) this.exclusive = false;
    else this.shared--;
    // Wake in arrival order: a GC at the head waits for the pulls inside; pulls behind a
    // waiting GC wait for it.
    while (this.waiting.length > 0) {
      const next = this.waiting[0]!;
      if (this.exclusive || (next.exclusive && this.shared > 0)) break;
      this.waiting.shift();
      this.enter(next.exclusive);
      next.resolve();
      if (next.exclusive) break;
    }
  }
}
