/**
 * Per-client token buckets (queries per second with a burst). Buckets live in a
 * bounded LRU: a flood of spoofed sources evicts old buckets rather than
 * growing memory; an evicted client simply starts with a full bucket.
 */
import { LRUCache } from 'lru-cache';

interface Bucket {
  tokens: number;
  at: number;
}

export class RateLimiter {
  private readonly buckets: LRUCache<string, Bucket>;

  constructor(private readonly qps: number, private readonly burst: number, private readonly now: () => number = Date.now, maxClients = 100_000) {
    this.buckets = new LRUCache({ max: maxClients });
  }

  /** Take one token for `client`; false when its bucket is empty. */
  take(client: string): boolean {
    const now = this.now();
    let b = this.buckets.get(client);
    if (!b) {
      b = { tokens: this.burst, at: now };
      this.buckets.set(client, b);
    } else {
      b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.qps);
      b.at = now;
    }
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }
}
