import http from 'node:http';

export type BatchResult = { accepted: number; duplicates: number; rejected: number; latencyMs: number; doneAtMs: number };

export type PhaseResult = {
  batches: number;
  events: number;
  accepted: number;
  duplicates: number;
  rejected: number;
  elapsedMs: number;
  eventsPerSec: number;
  latenciesMs: number[];
  /** Events/s in each tenth of the run (by completed batches): shows whether the rate holds as the table grows. */
  timeline: number[];
};

export class IngestClient {
  constructor(
    private readonly port: number,
    private readonly apiKey: string,
  ) {}

  /** One POST /v1/events/ingest with a pre-encoded body. Only the response's leading counts are parsed. */
  post(agent: http.Agent, body: Buffer): Promise<Omit<BatchResult, 'latencyMs' | 'doneAtMs'>> {
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: this.port,
          method: 'POST',
          path: '/v1/events/ingest',
          agent,
          headers: {
            'content-type': 'application/json',
            'content-length': body.length,
            authorization: `Bearer ${this.apiKey}`,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const head = Buffer.concat(chunks).subarray(0, 256).toString('utf8');
            const m = /^\{"accepted":(\d+),"duplicates":(\d+),"rejected":(\d+)/.exec(head);
            if (res.statusCode !== 200 || !m) {
              reject(new Error(`ingest answered ${res.statusCode}: ${Buffer.concat(chunks).toString('utf8').slice(0, 500)}`));
              return;
            }
            resolve({ accepted: Number(m[1]), duplicates: Number(m[2]), rejected: Number(m[3]) });
          });
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  /** Closed loop: `concurrency` requests in flight until every body was sent. */
  async closedLoop(bodies: Buffer[], eventsPerBody: number, concurrency: number): Promise<PhaseResult> {
    const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
    const results: BatchResult[] = [];
    let next = 0;
    const started = performance.now();
    const worker = async () => {
      while (next < bodies.length) {
        const body = bodies[next++]!;
        const t0 = performance.now();
        const r = await this.post(agent, body);
        const now = performance.now();
        results.push({ ...r, latencyMs: now - t0, doneAtMs: now - started });
      }
    };
    try {
      await Promise.all(Array.from({ length: concurrency }, worker));
    } finally {
      agent.destroy();
    }
    return summarise(results, eventsPerBody, performance.now() - started);
  }

  /**
   * Open loop: batch i starts at `i * intervalMs` whether or not earlier batches finished, so a slow response
   * cannot hide queueing (no coordinated omission). Latency counts from the scheduled start.
   */
  async openLoop(bodies: Buffer[], eventsPerBody: number, intervalMs: number): Promise<PhaseResult & { maxInFlight: number; lateStartsMs: number }> {
    const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
    const results: BatchResult[] = [];
    const pending: Promise<void>[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    let lateStartsMs = 0;
    const started = performance.now();
    try {
      for (let i = 0; i < bodies.length; i++) {
        const due = started + i * intervalMs;
        const wait = due - performance.now();
        if (wait > 1) await new Promise((r) => setTimeout(r, wait - 0.5));
        while (performance.now() < due) {
          // spin the last fraction of a millisecond: timers are only ms-accurate
        }
        lateStartsMs = Math.max(lateStartsMs, performance.now() - due);
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        pending.push(
          this.post(agent, bodies[i]!).then((r) => {
            inFlight--;
            const now = performance.now();
            results.push({ ...r, latencyMs: now - due, doneAtMs: now - started });
          }),
        );
      }
      await Promise.all(pending);
    } finally {
      agent.destroy();
    }
    return { ...summarise(results, eventsPerBody, performance.now() - started), maxInFlight, lateStartsMs };
  }
}

function summarise(results: BatchResult[], eventsPerBody: number, elapsedMs: number): PhaseResult {
  const events = results.length * eventsPerBody;
  return {
    batches: results.length,
    events,
    accepted: results.reduce((n, r) => n + r.accepted, 0),
    duplicates: results.reduce((n, r) => n + r.duplicates, 0),
    rejected: results.reduce((n, r) => n + r.rejected, 0),
    elapsedMs,
    eventsPerSec: events / (elapsedMs / 1000),
    latenciesMs: results.map((r) => r.latencyMs),
    timeline: deciles(results.map((r) => r.doneAtMs), eventsPerBody),
  };
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))]!;
}

/** Rate per tenth of the work: `doneAtMs` are completion times (ms from start) of equal-sized units. */
export function deciles(doneAtMs: number[], unitsPer: number): number[] {
  const sorted = [...doneAtMs].sort((a, b) => a - b);
  const out: number[] = [];
  let prevT = 0;
  let prevI = 0;
  for (let d = 1; d <= 10; d++) {
    const i = Math.round((d * sorted.length) / 10);
    if (i <= prevI) continue;
    const t = sorted[i - 1]!;
    out.push(((i - prevI) * unitsPer) / ((t - prevT) / 1000));
    prevT = t;
    prevI = i;
  }
  return out;
}
