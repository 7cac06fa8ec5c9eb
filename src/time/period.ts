/**
 * Billing periods are calendar months in the tenant's IANA time zone (UTC by default).
 * A period is named by its local month, `YYYY-MM`; its bounds are UTC instants.
 */

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

export function isValidTimeZone(timeZone: string): boolean {
  try {
    formatter(timeZone);
    return true;
  } catch {
    return false;
  }
}

/**
 * The spelling of a zone that ClickHouse also accepts. Intl reads names case-insensitively, ClickHouse does not
 * (`europe/berlin` would fail every query that passes the zone), so a name differing from Intl's canonical one only
 * in case, or written all in lower case, takes the canonical spelling; an alias (`Asia/Kolkata`) is kept as given.
 */
export function canonicalTimeZone(timeZone: string): string {
  const resolved = formatter(timeZone).resolvedOptions().timeZone;
  return resolved.toLowerCase() === timeZone.toLowerCase() || timeZone === timeZone.toLowerCase() ? resolved : timeZone;
}

type LocalParts = { year: number; month: number; day: number; hour: number; minute: number; second: number };

export function localParts(instantMs: number, timeZone: string): LocalParts {
  const out: Record<string, number> = {};
  for (const p of formatter(timeZone).formatToParts(new Date(instantMs))) {
    if (p.type !== 'literal') out[p.type] = Number(p.value);
  }
  return out as LocalParts;
}

/** Offset of the zone from UTC at an instant, in ms (local = utc + offset). */
export function offsetAt(instantMs: number, timeZone: string): number {
  const p = localParts(instantMs, timeZone);
  const asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  return asUtc - Math.floor(instantMs / 1000) * 1000;
}

/** The UTC instant of local midnight on a day (the earliest local time on that day if midnight is skipped). */
function localMidnight(year: number, month: number, day: number, timeZone: string): number {
  const wall = Date.UTC(year, month - 1, day);
  let guess = wall - offsetAt(wall, timeZone);
  guess = wall - offsetAt(guess, timeZone);
  const p = localParts(guess, timeZone);
  // A DST jump at midnight can land the guess on the previous day's evening or after 00:00; step to the first local instant of the day.
  if (p.day !== day) guess += 3600_000;
  return guess;
}

/** The UTC instant of local midnight on the first of a month. */
const monthStart = (year: number, month: number, timeZone: string) => localMidnight(year, month, 1, timeZone);

// Period lookups sit on the ingest hot path: zone offsets only change on the quarter hour, so cache per 15-minute bucket.
const bucketMs = 15 * 60_000;
const periodCache = new Map<string, string>();

// The UTC month of the last instant asked, as its bounds in epoch ms: the events of a batch mostly share one.
let utcMonth = { start: NaN, end: NaN, period: '' };

export function periodOf(instantMs: number, timeZone = 'UTC'): string {
  if (timeZone === 'UTC') {
    if (instantMs >= utcMonth.start && instantMs < utcMonth.end) return utcMonth.period;
    const d = new Date(instantMs);
    const year = d.getUTCFullYear();
    const month = d.getUTCMonth();
    const period = `${year}-${String(month + 1).padStart(2, '0')}`;
    // From 1970 on, Date's truncation of fractional ms rounds down, as the bounds check does.
    if (year >= 1970) utcMonth = { start: Date.UTC(year, month, 1), end: Date.UTC(year, month + 1, 1), period };
    return period;
  }
  const bucket = Math.floor(instantMs / bucketMs);
  const key = `${timeZone}|${bucket}`;
  let period = periodCache.get(key);
  if (period === undefined) {
    const p = localParts(instantMs, timeZone);
    period = `${p.year}-${String(p.month).padStart(2, '0')}`;
    // A bucket that straddles a month boundary (odd offsets) is not cached.
    const end = localParts(bucket * bucketMs + bucketMs - 1, timeZone);
    const start = localParts(bucket * bucketMs, timeZone);
    if (start.month === end.month) {
      if (periodCache.size > 100_000) periodCache.clear();
      periodCache.set(key, period);
    }
  }
  return period;
}

export const periodPattern = /^(\d{4})-(0[1-9]|1[0-2])$/;

// Bounds are asked per item by the push cycle and push status (100,000 items, a handful of distinct periods), and
// each computation costs a few Intl calls: cached per zone and period, as epoch ms.
const boundsCache = new Map<string, { start: number; end: number }>();

/** UTC bounds [start, end) of a period in a zone. */
export function periodBounds(period: string, timeZone = 'UTC'): { start: Date; end: Date } {
  const key = `${timeZone}|${period}`;
  let b = boundsCache.get(key);
  if (!b) {
    const m = periodPattern.exec(period);
    if (!m) throw new RangeError(`period must be YYYY-MM, got ${period}`);
    const year = Number(m[1]);
    const month = Number(m[2]);
    const next = month === 12 ? { year: year + 1, month: 1 } : { year, month: month + 1 };
    b = { start: monthStart(year, month, timeZone), end: monthStart(next.year, next.month, timeZone) };
    if (boundsCache.size > 10_000) boundsCache.clear();
    boundsCache.set(key, b);
  }
  return { start: new Date(b.start), end: new Date(b.end) };
}

const dayCache = new Map<string, number>();

/**
 * The UTC instant at which the local day holding an instant starts in a zone (ingest writes it on metered events, for
 * the daily meter states). Cached per 15-minute bucket like periodOf, except buckets that straddle local midnight.
 */
export function dayStartOf(instantMs: number, timeZone = 'UTC'): number {
  if (timeZone === 'UTC') return Math.floor(instantMs / 86_400_000) * 86_400_000;
  const bucket = Math.floor(instantMs / bucketMs);
  const key = `${timeZone}|${bucket}`;
  let start = dayCache.get(key);
  if (start === undefined) {
    const p = localParts(instantMs, timeZone);
    start = localMidnight(p.year, p.month, p.day, timeZone);
    if (localParts(bucket * bucketMs, timeZone).day === localParts(bucket * bucketMs + bucketMs - 1, timeZone).day) {
      if (dayCache.size > 100_000) dayCache.clear();
      dayCache.set(key, start);
    }
  }
  return start;
}
