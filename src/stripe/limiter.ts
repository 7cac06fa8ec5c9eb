/**
 * Paces Stripe calls: a token bucket holds the account-wide rate (calls per second, bursting up to one second's
 * worth), a cap bounds calls in flight, and calls sharing a key (customer + meter) run one at a time, as Stripe
 * allows one concurrent meter event call per customer per meter.
 */
export class StripeLimiter {
  private tokens: number;
  private refilledAt = performance.now();
  private inFlight = 0;
  private waiting: Array<() => void> = [];
  private keyTails = new Map<string, Promise<void>>();

  constructor(
    readonly ratePerSecond: number,
    private readonly maxInFlight: number,
  ) {
    this.tokens = Math.min(ratePerSecond, 1);
  }

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.keyTails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = previous.then(() => mine);
    this.keyTails.set(key, tail);
    await previous;
    try {
      await this.acquire();
      try {
        return await fn();
      } finally {
        this.inFlight--;
        this.waiting.shift()?.();
      }
    } finally {
      release();
      if (this.keyTails.get(key) === tail) this.keyTails.delete(key);
    }
  }

  private async acquire(): Promise<void> {
    while (this.inFlight >= this.maxInFlight) await new Promise<void>((r) => this.waiting.push(r));
    this.inFlight++;
    for (;;) {
      const now = performance.now();
      this.tokens = Math.min(this.ratePerSecond, this.tokens + ((now - this.refilledAt) / 1000) * this.ratePerSecond);
      this.refilledAt = now;
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      await new Promise((r) => setTimeout(r, ((1 - this.tokens) / this.ratePerSecond) * 1000));
    }
  }
}
