// A keyed work queue for level-triggered loops, as client-go's: a key added many times
// before it is taken runs once; a key is never handled by two workers at once (added
// while running, it runs again after); addAfter keeps the earliest of its timers.
export class WorkQueue {
  private readonly pending = new Set<string>();
  private readonly running = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private waiters: (() => void)[] = [];
  private stopped = false;

  add(key: string): void {
    if (this.stopped) return;
    if (this.running.has(key)) {
      this.dirty.add(key);
      return;
    }
    this.pending.add(key);
    this.wake();
  }

  /** Adds the key after delayMs, unless an earlier timer for it is already set. */
  addAfter(key: string, delayMs: number): void {
    if (this.stopped) return;
    const at = Date.now() + delayMs;
    const existing = this.timers.get(key);
    if (existing && existing.at <= at) return;
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, delayMs);
    timer.unref();
    this.timers.set(key, { at, timer });
  }

  /** The next key to handle, once there is one; undefined once stopped. */
  async take(): Promise<string | undefined> {
    for (;;) {
      if (this.stopped) return undefined;
      const key = this.pending.values().next();
      if (!key.done) {
        this.pending.delete(key.value);
        this.running.add(key.value);
        return key.value;
      }
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /** Marks a taken key handled; added meanwhile, it is queued again. */
  done(key: string): void {
    this.running.delete(key);
    if (this.dirty.delete(key)) this.add(key);
  }

  get length(): number {
    return this.pending.size;
  }

  stop(): void {
    this.stopped = true;
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.wake();
  }

  private wake(): void {
    // Every waiting worker looks again; those that find nothing wait again.
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
