import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { event, startTestService, type TestService } from '../../test/support/service.js';
import { keepClockAwayFromMonthStart } from '../../test/support/clock.js';
import { tenantWithMeter } from '../../test/support/stripe.js';

keepClockAwayFromMonthStart();

const env = { STRIPE_SANDBOX_PORT: '0', PUSH_INTERVAL: 'PT1H', RECON_INTERVAL: 'PT1H', RECON_SETTLE: 'PT0S' };
let svc: TestService;
beforeAll(async () => {
  svc = await startTestService(env);
});
afterAll(async () => {
  await svc?.destroy();
});

const hour = 3600_000;
const iso = (ms: number) => new Date(ms).toISOString();
const period = () => new Date().toISOString().slice(0, 7);
const ingest = async (events: unknown[]) => (await svc.request('POST', '/v1/events/ingest', { body: { events } })).body;
const push = async (tenantId: string) => (await svc.request('POST', '/v1/push/run', { body: { tenantId } })).body;
const run = async (tenantId: string) => {
  const r = await svc.request('POST', '/v1/reconciliation/run', { body: { tenantId } });
  expect(r.status).toBe(200);
  return r.body;
};
const summary = async (tenantId: string) => (await svc.request('GET', `/v1/reconciliation/summary?tenantId=${tenantId}&metric=calls`)).body;
const metricsText = async () => (await svc.request('GET', '/metrics', { key: null })).body as string;

const setup = (id: string, customers: string[]) => tenantWithMeter(svc, id, 'calls', customers);

describe('reconciliation, the runbook examples', () => {
  it('re-aggregates a late event inside 48 h and aligns a residual within 0.5% with an adjustment', async () => {
    const { stripeTotal, stripeSideEvent } = await setup('r1', ['a']);
    const now = Date.now();
    await ingest([event({ tenantId: 'r1', metric: 'calls', customerRef: 'a', quantity: 1000, ts: iso(now) })]);
    const late = await ingest([event({ tenantId: 'r1', metric: 'calls', customerRef: 'a', quantity: 200, ts: iso(now - 20 * hour) })]);
    expect(late.results[0].lateness).toBe('late');
    await push('r1');
    expect(stripeTotal('a')).toBe(1200);
    expect((await run('r1')).items[0]).toMatchObject({ status: 'ok', local: '1200', stripe: '1200', diffAbs: '0', diffPct: 0 });

    await stripeSideEvent('a', 3); // 3 / 1200 = 0.25%
    const r = await run('r1');
    expect(r.items[0]).toMatchObject({ status: 'aligned', local: '1200', stripe: '1203', pushed: 1200, diffAbs: '-3' });
    expect(r.items[0].diffPct).toBeCloseTo(0.0025, 6);
    expect(r.items[0].causes).toContainEqual({ cause: 'stripe_differs_from_pushed', stripe: '1203', pushed: 1200 });
    const adj = await svc.request('GET', `/v1/adjustments/${r.items[0].adjustmentId}`);
    expect(adj.body).toMatchObject({ reason: 'reconciliation', status: 'approved', delta: '3', createdBy: 'reconciliation' });
    expect((await svc.request('GET', '/v1/usage?tenantId=r1&metric=calls')).body.total).toBe('1200'); // usage untouched

    expect((await push('r1')).unitsPushed).toBe(-3); // the re-based ledger makes the next push correct Stripe
    expect(stripeTotal('a')).toBe(1200);
    const again = await run('r1');
    expect(again.items[0]).toMatchObject({ status: 'ok', stripe: '1200', pushed: 1200, adjustmentId: null });
    const s = await summary('r1');
    expect(s).toMatchObject({ withinEpsilon: true, epsilon: 0.005, counts: { ok: 1 } });

    const m = await metricsText();
    expect(m).toContain(`reconciliation_diff_pct{tenant="r1",metric="calls",customer="a",period="${period()}"} 0`);
    expect(m).toContain(`reconciliation_diff_abs{tenant="r1",metric="calls",customer="a",period="${period()}"} 0`);
    expect(m).toMatch(/recon_runs_total\{result="success"\} \d+/);
    expect(m).toMatch(/recon_duration_seconds_count \d+/);
    expect(m).toMatch(/recon_items\{status="ok"\} \d+/);
  });

  it('flags drift above 0.5% and changes nothing until an operator approves the alignment', async () => {
    const { stripeTotal, stripeSideEvent } = await setup('r2', ['a']);
    await ingest([event({ tenantId: 'r2', metric: 'calls', customerRef: 'a', quantity: 1000 })]);
    await push('r2');
    await stripeSideEvent('a', 40); // 4%
    const r = await run('r2');
    expect(r.items[0]).toMatchObject({ status: 'drift', stripe: '1040', pushed: 1000, diffAbs: '-40' });
    expect(r.items[0].diffPct).toBeCloseTo(0.04, 6);
    const pending = (await svc.request('GET', '/v1/adjustments?tenantId=r2&status=pending&reason=reconciliation')).body.adjustments;
    expect(pending).toHaveLength(1);
    expect(pending[0]).toMatchObject({ id: r.items[0].adjustmentId, delta: '40' });
    expect(await metricsText()).toContain(`reconciliation_diff_pct{tenant="r2",metric="calls",customer="a",period="${period()}"} 0.04`);

    // Nothing automatic: another run and a push leave Stripe and the ledger alone, and reuse the pending adjustment.
    expect((await push('r2')).acked).toBe(0);
    const r2 = await run('r2');
    expect(r2.items[0]).toMatchObject({ status: 'drift', adjustmentId: r.items[0].adjustmentId });
    expect(stripeTotal('a')).toBe(1040);
    expect((await svc.request('GET', '/v1/adjustments?tenantId=r2&reason=reconciliation')).body.adjustments).toHaveLength(1);

    const approved = await svc.request('POST', `/v1/adjustments/${r.items[0].adjustmentId}/approve`);
    expect(approved.body.status).toBe('approved');
    expect((await push('r2')).unitsPushed).toBe(-40);
    expect(stripeTotal('a')).toBe(1000);
    expect((await run('r2')).items[0].status).toBe('ok');
  });

  it('shows late events beyond the window until a replay counts them; then Stripe gets the delta', async () => {
    const { stripeTotal } = await setup('r3', ['a']);
    const now = Date.now();
    await ingest([event({ tenantId: 'r3', metric: 'calls', customerRef: 'a', quantity: 500, ts: iso(now) })]);
    const late = await ingest([event({ tenantId: 'r3', metric: 'calls', customerRef: 'a', quantity: 20, ts: iso(now - 60 * hour) })]);
    expect(late.results[0].lateness).toBe('beyond_window');
    await push('r3');
    await run('r3');
    const before = (await summary('r3')).items[0];
    expect(before).toMatchObject({ status: 'ok', local: '500', lateEventsBeyondWindow: { count: 1, quantity: '20' } });

    const dry = await svc.request('POST', '/v1/replay', { body: { tenantId: 'r3', metrics: ['calls'], since: '-PT72H', until: 'now', mode: 'dry-run' } });
    expect(dry.body.result.summary).toMatchObject({ lateEvents: 1, delta: '20', stripeDelta: 20 });
    await svc.request('POST', '/v1/replay', { body: { tenantId: 'r3', metrics: ['calls'], since: '-PT72H', until: 'now', mode: 'apply' } });
    const mid = (await summary('r3')).items[0];
    expect(mid).toMatchObject({ local: '520', pending: 20, lateEventsBeyondWindow: { count: 0 } });
    expect(mid.causes).toContainEqual({ cause: 'unpushed_delta', units: 20 });
    await push('r3');
    expect(stripeTotal('a')).toBe(520);
    const after = await run('r3');
    expect(after.items[0]).toMatchObject({ status: 'ok', local: '520', stripe: '520' });
    expect((await summary('r3')).withinEpsilon).toBe(true);
  });

  it('reports unmapped usage, persists runs, and is idempotent', async () => {
    await setup('r4', ['a']);
    await ingest([
      event({ tenantId: 'r4', metric: 'calls', customerRef: 'a', quantity: 5 }),
      event({ tenantId: 'r4', metric: 'calls', customerRef: 'nobody', quantity: 7 }),
    ]);
    await push('r4');
    const first = await run('r4');
    expect(first.items.map((i: any) => [i.customerRef, i.status])).toEqual([
      ['a', 'ok'],
      ['nobody', 'unmapped'],
    ]);
    const second = await run('r4');
    expect(second.items.map((i: any) => [i.customerRef, i.status, i.adjustmentId])).toEqual([
      ['a', 'ok', null],
      ['nobody', 'unmapped', null],
    ]);
    const stored = await svc.request('GET', `/v1/reconciliation/runs/${first.id}`);
    expect(stored.body).toMatchObject({ id: first.id, tenantId: 'r4', status: 'succeeded', counts: { ok: 1, unmapped: 1 } });
    expect(stored.body.items).toHaveLength(2);
    expect((await svc.request('GET', '/v1/reconciliation/runs/rec_0000000000000000')).status).toBe(404);
  });
});

describe('adjustments', () => {
  it('count only once approved, revert with a linked opposite, and refuse bad input', async () => {
    const { stripeTotal } = await setup('a1', ['a']);
    await ingest([event({ tenantId: 'a1', metric: 'calls', customerRef: 'a', quantity: 10 })]);
    await push('a1');
    const created = await svc.request('POST', '/v1/adjustments', {
      body: { tenantId: 'a1', metric: 'calls', customerRef: 'a', period: period(), delta: '2.5', reason: 'backfill', note: 'lost batch' },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ status: 'pending', delta: '2.5', createdBy: 'admin' });
    expect((await push('a1')).acked).toBe(0);
    const approved = await svc.request('POST', `/v1/adjustments/${created.body.id}/approve`);
    expect(approved.body.status).toBe('approved');
    expect((await svc.request('POST', `/v1/adjustments/${created.body.id}/approve`)).status).toBe(409);
    expect((await push('a1')).unitsPushed).toBe(2);
    expect(stripeTotal('a')).toBe(12);

    const reverted = await svc.request('POST', `/v1/adjustments/${created.body.id}/revert`);
    expect(reverted.body.reverted.status).toBe('reverted');
    expect(reverted.body.opposite).toMatchObject({ delta: '-2.5', status: 'approved', revertsId: created.body.id });
    expect((await push('a1')).unitsPushed).toBe(-2);
    expect(stripeTotal('a')).toBe(10);
    const list = await svc.request('GET', '/v1/adjustments?tenantId=a1&reason=backfill');
    expect(list.body.adjustments.map((a: any) => [a.delta, a.status]).sort()).toEqual([
      ['-2.5', 'approved'],
      ['2.5', 'reverted'],
    ]);

    const bad = async (body: Record<string, unknown>) =>
      (await svc.request('POST', '/v1/adjustments', { body: { tenantId: 'a1', metric: 'calls', customerRef: 'a', period: period(), delta: 1, reason: 'manual', ...body } })).status;
    expect(await bad({ delta: 0 })).toBe(400);
    expect(await bad({ delta: '1.1234567' })).toBe(400);
    expect(await bad({ reason: 'gift' })).toBe(400);
    expect(await bad({ period: '2026-13' })).toBe(400);
    expect(await bad({ reason: 'reconciliation', delta: '1.5' })).toBe(400);
    expect(await bad({ tenantId: 'ghost' })).toBe(404);
    expect((await svc.request('POST', '/v1/adjustments/adj_0000000000000000/approve')).status).toBe(404);
  });
});
