import { z } from 'zod';
import { periodPattern } from './period.js';

/**
 * The instants a query may name: 1970-01-01T00:00:00Z up to (not including) 2100-01-01T00:00:00Z. Counters keep
 * their hour as a ClickHouse DateTime (1970 to 2106), and a year like 0000 or 9999 is a client bug, not a question.
 */
export const earliestMs = Date.UTC(1970, 0, 1);
export const endMs = Date.UTC(2100, 0, 1);
export const rangeMessage = 'must lie between 1970-01-01T00:00:00Z and 2099-12-31T23:59:59Z';

export const instantInRange = (ms: number) => Number.isFinite(ms) && ms >= earliestMs && ms < endMs;

/** A billing period `YYYY-MM` within the range (1970-01 to 2099-12). */
export const periodSchema = z
  .string()
  .regex(periodPattern, 'must be YYYY-MM')
  .refine((p) => p >= '1970-01' && p <= '2099-12', 'must be a month from 1970-01 to 2099-12');

/** An ISO 8601 timestamp with a zone, within the range. */
export const instantSchema = z.iso
  .datetime({ offset: true })
  .refine((t) => instantInRange(Date.parse(t)), rangeMessage);
