import fs from 'node:fs';
import path from 'node:path';

export type Formula = 'sum' | 'count' | 'last';

/** The platform account: requests without a `Stripe-Account` header. */
export const platformAccount = '';

export type Customer = {
  id: string;
  /** The connected account that owns it (`acct_...`), or '' for the platform. */
  account: string;
  created: number;
  name: string | null;
  email: string | null;
  description: string | null;
  phone: string | null;
  metadata: Record<string, string>;
  deleted: boolean;
};

export type Meter = {
  id: string;
  account: string;
  created: number;
  updated: number;
  display_name: string;
  event_name: string;
  status: 'active' | 'inactive';
  deactivated_at: number | null;
  formula: Formula;
  customer_key: string;
  value_key: string;
  event_time_window: 'hour' | 'day' | null;
};

export type MeterEvent = {
  account: string;
  identifier: string;
  event_name: string;
  meter: string;
  customer: string;
  value: number;
  /** Event time, unix seconds, as sent. */
  timestamp: number;
  /** Receipt time, unix seconds (Stripe's `created`). */
  created: number;
  /** Receipt time in ms: the dedupe TTL, the cancel window and the aggregation delay run on it. */
  received_ms: number;
  payload: Record<string, string>;
  cancelled: boolean;
};

/** Lines written before accounts existed have no `account`: they are the platform's. */
type MaybeAccount<T extends { account: string }> = Omit<T, 'account'> & { account?: string };

/** One line of the journal. Records carry every derived value (ids, times), so replay never consults the clock. */
export type JournalRecord =
  | { t: 'customer'; c: MaybeAccount<Customer> }
  | { t: 'customer.deleted'; id: string; at: number }
  | { t: 'meter'; m: MaybeAccount<Meter> }
  | { t: 'event'; e: MaybeAccount<Omit<MeterEvent, 'cancelled'>> }
  | { t: 'cancel'; account?: string; identifier: string; at: number };

const journalVersion = 1;

/**
 * Append-only JSON lines: one record per mutation, written before the mutation is applied (and so before the
 * response), so anything a client was told happened survives a restart. Replay is one sequential read.
 */
class Journal {
  private fd: number | undefined;

  constructor(readonly file: string) {}

  /** Reads existing records, drops a torn last line (a crash mid-append), then opens for appending. */
  load(): JournalRecord[] {
    fs.mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
    const records: JournalRecord[] = [];
    if (fs.existsSync(this.file)) {
      const buf = fs.readFileSync(this.file);
      const end = buf.lastIndexOf(0x0a) + 1;
      if (end < buf.length) fs.truncateSync(this.file, end);
      const lines = buf.subarray(0, end).toString('utf8').split('\n');
      for (let i = 0; i < lines.length; i++) {
        const line = lines[i]!;
        if (!line) continue;
        let rec: { t?: string; v?: number };
        try {
          rec = JSON.parse(line) as { t?: string };
        } catch {
          throw new Error(`stripe sandbox journal ${this.file}: line ${i + 1} is not valid JSON; refusing to start on a corrupt journal`);
        }
        if (rec.t === 'header') {
          if (rec.v !== journalVersion) throw new Error(`stripe sandbox journal ${this.file}: unsupported version ${String(rec.v)}`);
          continue;
        }
        records.push(rec as JournalRecord);
      }
    }
    // The journal holds customers and usage: owner-only, and tightened when an older version left it 0644.
    this.fd = fs.openSync(this.file, 'a', 0o600);
    const st = fs.fstatSync(this.fd);
    if ((st.mode & 0o077) !== 0 && st.uid === process.getuid?.()) fs.fchmodSync(this.fd, st.mode & 0o600);
    if (fs.fstatSync(this.fd).size === 0) fs.appendFileSync(this.fd, `${JSON.stringify({ t: 'header', v: journalVersion })}\n`);
    return records;
  }

  append(rec: JournalRecord): void {
    if (this.fd === undefined) throw new Error('stripe sandbox journal is closed');
    fs.appendFileSync(this.fd, `${JSON.stringify(rec)}\n`);
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}

const seriesKey = (meter: string, customer: string) => `${meter}\u0000${customer}`;
/** Event names and identifiers are unique per account, as on Stripe. */
const accountKey = (account: string, name: string) => `${account}\u0000${name}`;

/** Applies a formula to events in arrival order. `last` takes the latest event time; ties go to the later arrival. */
export function aggregate(formula: Formula, events: readonly MeterEvent[]): number {
  if (formula === 'count') return events.length;
  if (formula === 'last') {
    let best: MeterEvent | undefined;
    for (const e of events) if (!best || e.timestamp >= best.timestamp) best = e;
    return best?.value ?? 0;
  }
  let sum = 0;
  for (const e of events) sum += e.value;
  return sum;
}

export class SandboxStore {
  readonly customers = new Map<string, Customer>();
  readonly meters = new Map<string, Meter>();
  private readonly meterByEventName = new Map<string, string>();
  private readonly allEvents: MeterEvent[] = [];
  /** Latest event per identifier; an identifier reused after the dedupe TTL points at its newest event. */
  private readonly byIdentifier = new Map<string, MeterEvent>();
  /** Events per (meter, customer), in arrival order: what summaries and totals scan. */
  private readonly series = new Map<string, MeterEvent[]>();
  private cancelledCount = 0;
  private readonly journal: Journal | undefined;

  constructor(stateFile?: string) {
    if (stateFile) {
      this.journal = new Journal(stateFile);
      for (const rec of this.journal.load()) this.apply(rec);
    }
  }

  /** Journal first, then memory: if the write fails, nothing changed and the caller answers 500. */
  commit(rec: JournalRecord): void {
    this.journal?.append(rec);
    this.apply(rec);
  }

  private apply(rec: JournalRecord): void {
    switch (rec.t) {
      case 'customer':
        this.customers.set(rec.c.id, { ...rec.c, account: rec.c.account ?? platformAccount });
        break;
      case 'customer.deleted': {
        const c = this.customers.get(rec.id);
        if (c) c.deleted = true;
        break;
      }
      case 'meter': {
        const m: Meter = { ...rec.m, account: rec.m.account ?? platformAccount };
        const old = this.meters.get(m.id);
        if (old && old.event_name !== m.event_name) this.meterByEventName.delete(accountKey(old.account, old.event_name));
        this.meters.set(m.id, m);
        this.meterByEventName.set(accountKey(m.account, m.event_name), m.id);
        break;
      }
      case 'event': {
        const e: MeterEvent = { ...rec.e, account: rec.e.account ?? platformAccount, cancelled: false };
        this.allEvents.push(e);
        this.byIdentifier.set(accountKey(e.account, e.identifier), e);
        const key = seriesKey(e.meter, e.customer);
        let list = this.series.get(key);
        if (!list) this.series.set(key, (list = []));
        list.push(e);
        break;
      }
      case 'cancel': {
        const e = this.byIdentifier.get(accountKey(rec.account ?? platformAccount, rec.identifier));
        if (e && !e.cancelled) {
          e.cancelled = true;
          this.cancelledCount++;
        }
        break;
      }
      default:
        // A record from a newer version: skipping it beats refusing to start.
        break;
    }
  }

  /** A customer as `account` sees it: another account's customer does not exist for it. */
  customer(account: string, id: string): Customer | undefined {
    const c = this.customers.get(id);
    return c?.account === account ? c : undefined;
  }

  meter(account: string, id: string): Meter | undefined {
    const m = this.meters.get(id);
    return m?.account === account ? m : undefined;
  }

  meterForEventName(account: string, eventName: string): Meter | undefined {
    const id = this.meterByEventName.get(accountKey(account, eventName));
    return id === undefined ? undefined : this.meters.get(id);
  }

  eventByIdentifier(account: string, identifier: string): MeterEvent | undefined {
    return this.byIdentifier.get(accountKey(account, identifier));
  }

  seriesOf(meter: string, customer: string): readonly MeterEvent[] {
    return this.series.get(seriesKey(meter, customer)) ?? [];
  }

  events(): readonly MeterEvent[] {
    return this.allEvents;
  }

  counts(): { customers: number; deletedCustomers: number; meters: number; events: number; cancelled: number } {
    let deleted = 0;
    for (const c of this.customers.values()) if (c.deleted) deleted++;
    return {
      customers: this.customers.size - deleted,
      deletedCustomers: deleted,
      meters: this.meters.size,
      events: this.allEvents.length,
      cancelled: this.cancelledCount,
    };
  }

  close(): void {
    this.journal?.close();
  }
}
