import { describe, expect, it } from 'vitest';
import type { Intent, PushItem } from './ledger.js';
import { itemState, newIntent, planItem } from './plan.js';

const now = Date.UTC(2026, 5, 15);
const ts = Math.floor(now / 1000);
const settleAfterMs = 23 * 3600_000;

const item = (over: Partial<PushItem> = {}): PushItem => ({
  tenantId: 't',
  metric: 'calls',
  customerRef: 'a',
  period: '2026-06',
  localTotal: '15.5',
  aggregation: '',
  formula: 'sum',
  customerPayloadKey: 'stripe_customer_id',
  valuePayloadKey: 'value',
  target: 15,
  pushed: 10,
  seq: 2,
  delta: 5,
  meterId: 'mtr_1',
  eventName: 'calls',
  mappingActive: true,
  stripeCustomerId: 'cus_1',
  ...over,
});
const failed = (over: Partial<Intent> = {}): Intent => ({
  ...newIntent(item(), 3, 0, ts, now - 60_000),
  status: 'failed',
  lastError: 'No such customer',
  lastErrorCode: 'resource_missing',
  lastHttpStatus: 400,
  nextAttemptAt: now + 60_000,
  ...over,
});

describe('planItem: how a delta becomes intents', () => {
  it('a delta becomes one fresh intent for the difference, saved before it is sent, with a deterministic identifier', () => {
    const plan = planItem(item(), [], undefined, ts, now, settleAfterMs);
    expect(plan.state).toBe('pending');
    expect(plan.save).toEqual(plan.send);
    expect(plan.send).toHaveLength(1);
    expect(plan.send[0]).toMatchObject({ seq: 3, generation: 0, baseTotal: 10, targetTotal: 15, value: 5, eventTs: ts, status: 'pending' });
    expect(plan.send[0]!.identifier).toMatch(/^sm_[0-9a-f]{40}$/);
    expect(planItem(item(), [], undefined, ts, now + 5000, settleAfterMs).send[0]!.identifier).toBe(plan.send[0]!.identifier);
    expect(planItem(item({ target: 16, delta: 6 }), [], undefined, ts, now, settleAfterMs).send[0]!.identifier).not.toBe(plan.send[0]!.identifier);
  });

  it('a negative delta is a correction sent as a negative value', () => {
    expect(planItem(item({ target: 7, delta: -3 }), [], undefined, ts, now, settleAfterMs).send[0]).toMatchObject({ value: -3, targetTotal: 7 });
  });

  it('sends nothing for an item up to date, unmapped, inactive, or past the 35-day rule', () => {
    const none = { save: [], send: [], settle: undefined };
    expect(planItem(item({ delta: 0, target: 10 }), [], undefined, ts, now, settleAfterMs)).toEqual({ state: 'ok', ...none });
    expect(planItem(item({ meterId: '' }), [], undefined, ts, now, settleAfterMs)).toEqual({ state: 'unmapped', ...none });
    expect(planItem(item({ mappingActive: false }), [], undefined, ts, now, settleAfterMs)).toEqual({ state: 'unmapped', ...none });
    expect(planItem(item({ stripeCustomerId: '' }), [], undefined, ts, now, settleAfterMs)).toEqual({ state: 'unmapped', ...none });
    expect(planItem(item(), [], undefined, null, now, settleAfterMs)).toEqual({ state: 'unpushable', ...none });
  });

  it('refuses a total beyond 2^53 - 1 as an error and sends nothing', () => {
    const huge = item({ target: 2 ** 53, delta: 2 ** 53 - 10, localTotal: String(2 ** 53) });
    expect(itemState(huge, undefined, true)).toBe('error');
    expect(planItem(huge, [], undefined, ts, now, settleAfterMs).send).toEqual([]);
  });

  it('re-sends pending intents first, oldest first, and settles one older than the dedupe window instead', () => {
    const p1 = newIntent(item(), 3, 0, ts, now - 1000);
    const p2 = newIntent(item({ pushed: 15, target: 18 }), 4, 0, ts, now - 500);
    expect(planItem(item(), [p1, p2], undefined, ts, now, settleAfterMs)).toEqual({ state: 'pending', save: [], send: [p1, p2], settle: undefined });
    const old = { ...p1, createdAt: now - settleAfterMs - 1 };
    expect(planItem(item(), [old, p2], undefined, ts, now, settleAfterMs)).toEqual({ state: 'pending', save: [], send: [], settle: old });
  });

  it('a refused intent waits out its back-off, then is retried as it was when nothing changed', () => {
    const held = failed();
    expect(planItem(item(), [], held, ts, now, settleAfterMs)).toEqual({ state: 'error', save: [], send: [], settle: undefined });
    const due = failed({ nextAttemptAt: now - 1 });
    const retry = { ...due, status: 'pending' };
    expect(planItem(item(), [], due, ts, now, settleAfterMs)).toEqual({ state: 'pending', save: [retry], send: [retry], settle: undefined });
  });

  it('a refused intent is superseded by a fresh one of the next generation when the mapping or the total changed', () => {
    const held = failed();
    const plan = planItem(item({ stripeCustomerId: 'cus_2' }), [], held, ts, now, settleAfterMs);
    expect(plan.state).toBe('pending');
    expect(plan.save).toEqual([{ ...held, status: 'superseded' }, plan.send[0]]);
    expect(plan.send[0]).toMatchObject({ seq: 3, generation: 1, stripeCustomerId: 'cus_2' });
    expect(plan.send[0]!.identifier).not.toBe(held.identifier);
  });

  it('a refused intent is superseded, with nothing sent, once the item is up to date again', () => {
    const held = failed();
    expect(planItem(item({ target: 10, delta: 0 }), [], held, ts, now, settleAfterMs)).toEqual({
      state: 'ok',
      save: [{ ...held, status: 'superseded' }],
      send: [],
      settle: undefined,
    });
  });
});
