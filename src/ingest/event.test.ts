import { describe, expect, it } from 'vitest';
import { acceptedWithoutSchema, eventSchema } from './event.js';

const base = {
  tenantId: 'demo',
  metric: 'api_calls',
  customerRef: 'cus_1',
  resourceId: 'i-1',
  quantity: '1.5',
  ts: '2026-11-25T10:00:00Z',
  idempotencyKey: 'k1',
  meta: { region: 'eu' },
  source: 'sdk',
};

const text = (n: number, c = 'a') => c.repeat(n);
const values: Record<string, unknown[]> = {
  tenantId: ['', 'a', text(64), text(65), 'Demo', '-demo', 'de mo', 'd_e-1', 1, null, undefined],
  metric: ['', 'm', text(128), text(129), '.m', 'm.a:b-c_d', 'm/x', 'é', 1, undefined],
  customerRef: ['', 'c', text(255), text(256), text(128, '😀'), 'any thing/ü', 0, undefined],
  resourceId: ['', text(255), text(256), null, 5, undefined],
  quantity: [0, 1.5, -1, Number.NaN, Number.POSITIVE_INFINITY, '', 'x', true, null, [], undefined],
  ts: ['', text(64), text(65), 0, undefined],
  idempotencyKey: ['', 'k', text(255), text(256), 7, null, undefined],
  meta: [
    {},
    { a: 'b', c: 'd' },
    { a: 1 },
    { a: null },
    [],
    ['a'],
    null,
    'x',
    new Date(0),
    Object.assign(Object.create(null), { a: 'b' }),
    JSON.parse('{"__proto__": "x", "a": "b"}'),
    { big: text(4085) },
    { big: text(4086) },
    { big: text(1000, '\u0001') },
    Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, 'v'])),
    undefined,
  ],
  source: ['', text(128), text(129), 1, undefined],
};

/** Each field of the base event replaced by each candidate value, plus whole-input oddities. */
function* inputs(): Generator<unknown> {
  yield base;
  for (const [field, candidates] of Object.entries(values)) {
    for (const v of candidates) yield { ...base, [field]: v };
  }
  const { resourceId: _r, idempotencyKey: _k, meta: _m, source: _s, ...required } = base;
  yield required;
  yield { ...base, extra: 1 };
  yield JSON.parse(`{"__proto__": {}, ${JSON.stringify(base).slice(1)}`);
  yield Object.assign(Object.create(null), base);
  yield [base];
  yield 'event';
  yield null;
}

describe('acceptedWithoutSchema', () => {
  it('accepts only events the schema accepts, unchanged', () => {
    for (const input of inputs()) {
      const fast = acceptedWithoutSchema(input);
      if (fast === undefined) continue;
      const parsed = eventSchema.safeParse(input);
      expect(parsed.success, JSON.stringify(input).slice(0, 200)).toBe(true);
      expect(fast).toEqual(parsed.data);
    }
  });

  it('accepts the ordinary valid event without the schema', () => {
    expect(acceptedWithoutSchema(base)).toBe(base);
    expect(acceptedWithoutSchema({ tenantId: 'demo', metric: 'm', customerRef: 'c', quantity: 3, ts: base.ts })).toBeDefined();
  });
});
