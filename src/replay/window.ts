import { parseDuration } from '../time/duration.js';
import { parseTimestamp } from '../ingest/timestamp.js';
import { instantInRange, rangeMessage } from '../time/range.js';

const hourMs = 3600_000;

export type ReplayWindow = {
  requested: { since: string; until: string };
  /** Widened to whole hours: counters are kept per hour. */
  effective: { since: string; until: string };
  widenedMs: { since: number; until: number };
  startMs: number;
  endMs: number;
};

/** `since`: `-PT24H`-style duration back from now, or an ISO timestamp. `until`: `now` or an ISO timestamp. */
export function resolveWindow(since: string, until: string, nowMs: number): ReplayWindow | { error: string; field: 'since' | 'until' } {
  let sinceMs: number | null;
  if (since.startsWith('-')) {
    const d = parseDuration(since.slice(1));
    if (d === null) return { error: 'since must be a negative ISO 8601 duration such as -PT24H or -P7D, or a timestamp', field: 'since' };
    sinceMs = nowMs - d;
  } else {
    sinceMs = parseTimestamp(since);
    if (sinceMs === null) return { error: 'since must be a timestamp with a zone (2025-01-01T00:00:00Z) or a duration such as -PT24H', field: 'since' };
  }
  const untilMs = until === 'now' ? nowMs : parseTimestamp(until);
  if (untilMs === null) return { error: 'until must be "now" or a timestamp with a zone', field: 'until' };
  if (!instantInRange(sinceMs)) return { error: `since ${rangeMessage}`, field: 'since' };
  if (!instantInRange(untilMs)) return { error: `until ${rangeMessage}`, field: 'until' };
  if (sinceMs >= untilMs) return { error: 'since must be before until', field: 'since' };
  const startMs = Math.floor(sinceMs / hourMs) * hourMs;
  const endMs = Math.ceil(untilMs / hourMs) * hourMs;
  return {
    requested: { since: new Date(sinceMs).toISOString(), until: new Date(untilMs).toISOString() },
    effective: { since: new Date(startMs).toISOString(), until: new Date(endMs).toISOString() },
    widenedMs: { since: sinceMs - startMs, until: endMs - untilMs },
    startMs,
    endMs,
  };
}

/**
 * Consecutive sub-windows of about `chunkMs`: long replays apply (and report progress) a chunk at a time. A tail
 * shorter than a quarter chunk joins the chunk before it: each chunk pays full scans, so `-PT24H` (25 whole hours)
 * with one-day chunks is one chunk, not 24 h + 1 h.
 */
export function chunks(startMs: number, endMs: number, chunkMs: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let s = startMs; s < endMs; s += chunkMs) out.push([s, Math.min(endMs, s + chunkMs)]);
  const last = out.at(-1);
  if (out.length > 1 && last && last[1] - last[0] < chunkMs / 4) {
    out.pop();
    out[out.length - 1]![1] = endMs;
  }
  return out;
}
