// Turns pushed values (from event emitters, callbacks) into an async iterator. end()
// lets the consumer drain what is queued; fail() delivers the queued items, then throws;
// an aborted signal stops the iteration at once.

export class AsyncQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private waiter: (() => void) | undefined;
  private ended = false;
  private aborted = false;
  private failure: { error: unknown } | undefined;
  private readonly consumer = new AbortController();

  /** Aborts when the consumer stops iterating (break, throw, return): the producer can stop. */
  get consumerGone(): AbortSignal {
    return this.consumer.signal;
  }

  constructor(signal?: AbortSignal) {
    if (signal?.aborted) this.aborted = true;
    signal?.addEventListener(
      'abort',
      () => {
        this.aborted = true;
        this.wake();
      },
      { once: true },
    );
  }

  push(item: T): void {
    if (this.closed) return;
    this.items.push(item);
    this.wake();
  }

  end(): void {
    this.ended = true;
    this.wake();
  }

  fail(error: unknown): void {
    if (this.closed) return;
    this.failure = { error };
    this.wake();
  }

  /** How many items wait for the consumer. */
  get size(): number {
    return this.items.length;
  }

  get closed(): boolean {
    return this.ended || this.aborted || this.failure !== undefined;
  }

  private wake(): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    try {
      for (;;) {
        if (this.aborted) return;
        if (this.items.length > 0) {
          yield this.items.shift() as T;
          continue;
        }
        if (this.failure) throw this.failure.error;
        if (this.ended) return;
        await new Promise<void>((resolve) => (this.waiter = resolve));
      }
    } finally {
      this.consumer.abort();
    }
  }
}
