import { randomUUID } from 'node:crypto';
import { invalid, missingParam, noSuch, unknownParam } from './errors.js';
import { type FormObject, isFormObject } from './form.js';
import { newId, stableId } from './random.js';
import { aggregate, type Customer, type Formula, type Meter, type MeterEvent, type SandboxStore } from './state.js';

export const dayMs = 86_400_000;
/** Stripe accepts meter event timestamps from the past 35 days up to 5 minutes ahead. */
export const maxEventAgeSeconds = 35 * 86_400;
export const maxEventLeadSeconds = 5 * 60;
/** Cancellations reach only events received within the last 24 hours. */
export const cancelWindowMs = dayMs;

export type ApiContext = {
  store: SandboxStore;
  now: () => number;
  identifierTtlMs: number;
  aggregationDelayMs: number;
};

/** `account`: the `Stripe-Account` header ('' for the platform); every object read or written is that account's. */
type Request = { form: FormObject; params: Record<string, string>; path: string; account: string };

// ---------------------------------------------------------------------------------------------------------------
// Parameter reading with Stripe's messages. Everything arrives as strings (form encoding).

/** Rejects parameters the endpoint does not know, as Stripe does; `expand` is accepted and ignored everywhere. */
function allowOnly(form: FormObject, allowed: readonly string[], prefix = ''): void {
  for (const key of Object.keys(form)) {
    if (key === 'expand' && !prefix) continue;
    if (!allowed.includes(key)) throw unknownParam(prefix ? `${prefix}[${key}]` : key);
  }
}

function str(form: FormObject, name: string, opts: { required?: boolean; max?: number; param?: string } = {}): string | undefined {
  const param = opts.param ?? name;
  const v = form[name];
  if (v === undefined) {
    if (opts.required) throw missingParam(param);
    return undefined;
  }
  if (typeof v !== 'string') throw invalid(`Invalid ${param}: must be a string`, param, 'parameter_invalid_string');
  if (v === '') {
    if (opts.required) {
      throw invalid(
        `You passed an empty string for '${param}'. We assume empty values are an attempt to unset a parameter; however '${param}' cannot be unset. You should remove '${param}' from your request or supply a non-empty value.`,
        param,
        'parameter_invalid_empty',
      );
    }
    return undefined;
  }
  if (opts.max !== undefined && v.length > opts.max) {
    throw invalid(`Invalid string: ${v.slice(0, 20)}...; must be at most ${opts.max} characters`, param, 'string_too_long');
  }
  return v;
}

function obj(form: FormObject, name: string, param = name): FormObject | undefined {
  const v = form[name];
  if (v === undefined || v === '') return undefined;
  if (!isFormObject(v)) throw invalid(`Invalid object`, param, 'parameter_invalid_object');
  return v;
}

function int(form: FormObject, name: string, opts: { required?: boolean; min?: number; max?: number } = {}): number | undefined {
  const raw = str(form, name, { required: opts.required });
  if (raw === undefined) return undefined;
  if (!/^-?\d+$/.test(raw) || !Number.isSafeInteger(Number(raw))) throw invalid(`Invalid integer: ${raw}`, name, 'parameter_invalid_integer');
  const n = Number(raw);
  if (opts.min !== undefined && n < opts.min) throw invalid(`This value must be greater than or equal to ${opts.min}.`, name);
  if (opts.max !== undefined && n > opts.max) throw invalid(`This value must be less than or equal to ${opts.max}.`, name);
  return n;
}

function oneOf<T extends string>(value: string | undefined, allowed: readonly T[], param: string): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) {
    throw invalid(`Invalid ${param}: must be one of ${allowed.join(', ')}`, param, 'parameter_invalid_string');
  }
  return value as T;
}

/** metadata[k]=v; an empty value removes the key, as on Stripe. */
function applyMetadata(current: Record<string, string>, form: FormObject): Record<string, string> {
  const raw = form.metadata;
  if (raw === undefined) return current;
  const next = { ...current };
  if (raw === '') return {};
  if (!isFormObject(raw)) throw invalid('Invalid object', 'metadata', 'parameter_invalid_object');
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== 'string') throw invalid('Invalid metadata value: must be a string', `metadata[${k}]`);
    if (k.length > 40) throw invalid('Metadata keys can have up to 40 characters', `metadata[${k}]`);
    if (v.length > 500) throw invalid('Metadata values can have up to 500 characters', `metadata[${k}]`);
    if (v === '') delete next[k];
    else next[k] = v;
  }
  if (Object.keys(next).length > 50) throw invalid('You can have at most 50 metadata keys', 'metadata');
  return next;
}

// ---------------------------------------------------------------------------------------------------------------
// Lists

type Page<T> = { object: 'list'; data: T[]; has_more: boolean; url: string };

/** Stripe's cursor pagination over an already ordered list. */
function paginate<T extends { id: string }>(items: T[], form: FormObject, url: string, kind: string): Page<T> {
  const limit = int(form, 'limit', { min: 1, max: 100 }) ?? 10;
  const after = str(form, 'starting_after');
  const before = str(form, 'ending_before');
  if (after && before) throw invalid('You may only specify one of these parameters: ending_before, starting_after.', 'ending_before');
  if (before) {
    const i = items.findIndex((x) => x.id === before);
    if (i < 0) throw noSuch(kind, before, 'ending_before');
    const from = Math.max(0, i - limit);
    return { object: 'list', data: items.slice(from, i), has_more: from > 0, url };
  }
  let from = 0;
  if (after) {
    const i = items.findIndex((x) => x.id === after);
    if (i < 0) throw noSuch(kind, after, 'starting_after');
    from = i + 1;
  }
  return { object: 'list', data: items.slice(from, from + limit), has_more: from + limit < items.length, url };
}

/** Newest first, as Stripe lists objects; insertion order breaks ties within a second. */
function newestFirst<T extends { created: number }>(items: Iterable<T>): T[] {
  return [...items].map((x, i) => ({ x, i })).sort((a, b) => b.x.created - a.x.created || b.i - a.i).map(({ x }) => x);
}

// ---------------------------------------------------------------------------------------------------------------
// Shapes

export function customerJson(c: Customer) {
  if (c.deleted) return { id: c.id, object: 'customer' as const, deleted: true as const };
  return {
    id: c.id,
    object: 'customer' as const,
    address: null,
    balance: 0,
    created: c.created,
    currency: null,
    default_source: null,
    delinquent: false,
    description: c.description,
    discount: null,
    email: c.email,
    invoice_prefix: c.id.slice(4, 12).toUpperCase(),
    invoice_settings: { custom_fields: null, default_payment_method: null, footer: null, rendering_options: null },
    livemode: false,
    metadata: c.metadata,
    name: c.name,
    next_invoice_sequence: 1,
    phone: c.phone,
    preferred_locales: [],
    shipping: null,
    tax_exempt: 'none',
    test_clock: null,
  };
}

export function meterJson(m: Meter) {
  return {
    id: m.id,
    object: 'billing.meter' as const,
    created: m.created,
    customer_mapping: { event_payload_key: m.customer_key, type: 'by_id' as const },
    default_aggregation: { formula: m.formula },
    display_name: m.display_name,
    event_name: m.event_name,
    event_time_window: m.event_time_window,
    livemode: false,
    status: m.status,
    status_transitions: { deactivated_at: m.deactivated_at },
    updated: m.updated,
    value_settings: { event_payload_key: m.value_key },
  };
}

export function meterEventJson(e: MeterEvent) {
  return {
    object: 'billing.meter_event' as const,
    created: e.created,
    event_name: e.event_name,
    identifier: e.identifier,
    livemode: false,
    payload: e.payload,
    timestamp: e.timestamp,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Customers

const customerParams = ['name', 'email', 'description', 'phone', 'metadata'] as const;

function customerFields(form: FormObject, base: Customer): Customer {
  allowOnly(form, customerParams);
  const email = form.email === undefined ? base.email : (str(form, 'email', { max: 512 }) ?? null);
  if (email !== null && !/^[^\s@]+@[^\s@]+$/.test(email)) throw invalid(`Invalid email address: ${email}`, 'email', 'email_invalid');
  const pick = (k: 'name' | 'description' | 'phone', max: number) => (form[k] === undefined ? base[k] : (str(form, k, { max }) ?? null));
  return {
    ...base,
    name: pick('name', 256),
    email,
    description: pick('description', 350),
    phone: pick('phone', 20),
    metadata: applyMetadata(base.metadata, form),
  };
}

function liveCustomer(ctx: ApiContext, req: Request, id: string): Customer {
  const c = ctx.store.customer(req.account, id);
  if (!c || c.deleted) throw noSuch('customer', id);
  return c;
}

export function createCustomer(ctx: ApiContext, req: Request) {
  const base: Customer = {
    id: newId('cus', 14),
    account: req.account,
    created: Math.floor(ctx.now() / 1000),
    name: null,
    email: null,
    description: null,
    phone: null,
    metadata: {},
    deleted: false,
  };
  const c = customerFields(req.form, base);
  ctx.store.commit({ t: 'customer', c });
  return customerJson(c);
}

export function retrieveCustomer(ctx: ApiContext, req: Request) {
  const id = req.params.id!;
  const c = ctx.store.customer(req.account, id);
  // A deleted customer still retrieves, as a `deleted: true` stub.
  if (!c) throw noSuch('customer', id);
  return customerJson(c);
}

export function updateCustomer(ctx: ApiContext, req: Request) {
  const c = customerFields(req.form, liveCustomer(ctx, req, req.params.id!));
  ctx.store.commit({ t: 'customer', c });
  return customerJson(c);
}

export function deleteCustomer(ctx: ApiContext, req: Request) {
  const c = liveCustomer(ctx, req, req.params.id!);
  ctx.store.commit({ t: 'customer.deleted', id: c.id, at: Math.floor(ctx.now() / 1000) });
  return { id: c.id, object: 'customer' as const, deleted: true as const };
}

export function listCustomers(ctx: ApiContext, req: Request) {
  allowOnly(req.form, ['limit', 'starting_after', 'ending_before', 'email']);
  const email = str(req.form, 'email');
  const live = [...ctx.store.customers.values()].filter((c) => c.account === req.account && !c.deleted && (email === undefined || c.email === email));
  const page = paginate(newestFirst(live), req.form, '/v1/customers', 'customer');
  return { ...page, data: page.data.map(customerJson) };
}

// ---------------------------------------------------------------------------------------------------------------
// Meters

function meterById(ctx: ApiContext, req: Request, id: string): Meter {
  const m = ctx.store.meter(req.account, id);
  if (!m) throw noSuch('billing.meter', id);
  return m;
}

export function createMeter(ctx: ApiContext, req: Request) {
  const f = req.form;
  allowOnly(f, ['display_name', 'event_name', 'default_aggregation', 'customer_mapping', 'value_settings', 'event_time_window']);
  const display_name = str(f, 'display_name', { required: true, max: 250 })!;
  const event_name = str(f, 'event_name', { required: true, max: 100 })!;

  const agg = obj(f, 'default_aggregation');
  if (agg) allowOnly(agg, ['formula'], 'default_aggregation');
  const formula =
    oneOf<Formula>(agg && str(agg, 'formula', { required: true, param: 'default_aggregation[formula]' }), ['sum', 'count', 'last'], 'default_aggregation[formula]') ??
    'sum';

  const mapping = obj(f, 'customer_mapping');
  let customer_key = 'stripe_customer_id';
  if (mapping) {
    allowOnly(mapping, ['event_payload_key', 'type'], 'customer_mapping');
    oneOf(str(mapping, 'type', { required: true, param: 'customer_mapping[type]' }), ['by_id'], 'customer_mapping[type]');
    customer_key = str(mapping, 'event_payload_key', { required: true, max: 100, param: 'customer_mapping[event_payload_key]' })!;
  }

  const valueSettings = obj(f, 'value_settings');
  let value_key = 'value';
  if (valueSettings) {
    allowOnly(valueSettings, ['event_payload_key'], 'value_settings');
    value_key = str(valueSettings, 'event_payload_key', { required: true, max: 100, param: 'value_settings[event_payload_key]' })!;
  }
  if (value_key === customer_key) {
    throw invalid('value_settings[event_payload_key] must differ from customer_mapping[event_payload_key]', 'value_settings[event_payload_key]');
  }
  const event_time_window = oneOf(str(f, 'event_time_window'), ['hour', 'day'], 'event_time_window') ?? null;

  const existing = ctx.store.meterForEventName(req.account, event_name);
  if (existing) {
    throw invalid(`A meter with event_name '${event_name}' already exists: ${existing.id}`, 'event_name', 'resource_already_exists');
  }
  const now = Math.floor(ctx.now() / 1000);
  const m: Meter = {
    id: newId('mtr', 24),
    account: req.account,
    created: now,
    updated: now,
    display_name,
    event_name,
    status: 'active',
    deactivated_at: null,
    formula,
    customer_key,
    value_key,
    event_time_window,
  };
  ctx.store.commit({ t: 'meter', m });
  return meterJson(m);
}

export function retrieveMeter(ctx: ApiContext, req: Request) {
  return meterJson(meterById(ctx, req, req.params.id!));
}

export function updateMeter(ctx: ApiContext, req: Request) {
  allowOnly(req.form, ['display_name']);
  const m = meterById(ctx, req, req.params.id!);
  const display_name = str(req.form, 'display_name', { max: 250 });
  if (display_name === undefined) return meterJson(m);
  const next: Meter = { ...m, display_name, updated: Math.floor(ctx.now() / 1000) };
  ctx.store.commit({ t: 'meter', m: next });
  return meterJson(next);
}

/** Deactivating an inactive meter (or reactivating an active one) changes nothing and answers the meter. */
export function setMeterStatus(status: Meter['status']) {
  return (ctx: ApiContext, req: Request) => {
    allowOnly(req.form, []);
    const m = meterById(ctx, req, req.params.id!);
    if (m.status === status) return meterJson(m);
    const now = Math.floor(ctx.now() / 1000);
    const next: Meter = { ...m, status, updated: now, deactivated_at: status === 'inactive' ? now : null };
    ctx.store.commit({ t: 'meter', m: next });
    return meterJson(next);
  };
}

export function listMeters(ctx: ApiContext, req: Request) {
  allowOnly(req.form, ['limit', 'starting_after', 'ending_before', 'status']);
  const status = oneOf(str(req.form, 'status'), ['active', 'inactive'], 'status');
  const meters = [...ctx.store.meters.values()].filter((m) => m.account === req.account && (status === undefined || m.status === status));
  const page = paginate(newestFirst(meters), req.form, '/v1/billing/meters', 'billing.meter');
  return { ...page, data: page.data.map(meterJson) };
}

// ---------------------------------------------------------------------------------------------------------------
// Meter events

function payloadOf(form: FormObject): Record<string, string> {
  const raw = obj(form, 'payload');
  if (!raw) throw missingParam('payload');
  const payload: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== 'string') throw invalid(`Invalid payload[${k}]: payload values must be strings`, `payload[${k}]`);
    payload[k] = v;
  }
  return payload;
}

export function createMeterEvent(ctx: ApiContext, req: Request) {
  const f = req.form;
  allowOnly(f, ['event_name', 'payload', 'identifier', 'timestamp']);
  const event_name = str(f, 'event_name', { required: true, max: 100 })!;
  const payload = payloadOf(f);
  const identifier = str(f, 'identifier', { max: 100 });
  const sentTimestamp = int(f, 'timestamp');
  const nowMs = ctx.now();
  const nowSec = Math.floor(nowMs / 1000);

  // A retried identifier gets the event that was recorded, before anything that may have changed since
  // (meter deactivated, clock moved) could refuse it: the first attempt already counted.
  if (identifier !== undefined) {
    const prior = ctx.store.eventByIdentifier(req.account, identifier);
    if (prior && nowMs - prior.received_ms < ctx.identifierTtlMs) return meterEventJson(prior);
  }

  const meter = ctx.store.meterForEventName(req.account, event_name);
  if (!meter) throw invalid(`No active meter was found for event_name '${event_name}'.`, 'event_name', 'no_meter');
  if (meter.status !== 'active') {
    throw invalid(
      `The meter ${meter.id} for event_name '${event_name}' is inactive and does not accept meter events. Reactivate the meter first.`,
      'event_name',
      'archived_meter',
    );
  }

  const customerParam = `payload[${meter.customer_key}]`;
  const customerId = payload[meter.customer_key];
  if (!customerId) {
    throw invalid(`The meter event payload is missing the customer key '${meter.customer_key}'.`, customerParam, 'meter_event_no_customer_defined');
  }
  const customer = ctx.store.customer(req.account, customerId);
  if (!customer || customer.deleted) throw noSuch('customer', customerId, customerParam);

  const valueParam = `payload[${meter.value_key}]`;
  const rawValue = payload[meter.value_key];
  let value: number;
  if (rawValue === undefined || rawValue === '') {
    // A count meter counts events; only sum and last need a value.
    if (meter.formula !== 'count') {
      throw invalid(`The meter event payload is missing the value key '${meter.value_key}'.`, valueParam, 'meter_event_value_not_found');
    }
    value = 1;
  } else if (!/^-?\d+$/.test(rawValue) || !Number.isSafeInteger(Number(rawValue))) {
    throw invalid(`Invalid value '${rawValue}': meter event values must be whole numbers.`, valueParam, 'meter_event_invalid_value');
  } else {
    value = Number(rawValue);
  }

  const timestamp = sentTimestamp ?? nowSec;
  if (timestamp < nowSec - maxEventAgeSeconds) {
    throw invalid('Timestamp must be within the past 35 calendar days.', 'timestamp', 'timestamp_too_far_in_past');
  }
  if (timestamp > nowSec + maxEventLeadSeconds) {
    throw invalid('Timestamp must be no more than 5 minutes in the future.', 'timestamp', 'timestamp_in_future');
  }

  const e: Omit<MeterEvent, 'cancelled'> = {
    account: req.account,
    identifier: identifier ?? randomUUID(),
    event_name,
    meter: meter.id,
    customer: customer.id,
    value,
    timestamp,
    created: nowSec,
    received_ms: nowMs,
    payload,
  };
  ctx.store.commit({ t: 'event', e });
  return meterEventJson({ ...e, cancelled: false });
}

export function createMeterEventAdjustment(ctx: ApiContext, req: Request) {
  const f = req.form;
  allowOnly(f, ['event_name', 'type', 'cancel']);
  const event_name = str(f, 'event_name', { required: true, max: 100 })!;
  oneOf(str(f, 'type', { required: true }), ['cancel'], 'type');
  const cancel = obj(f, 'cancel');
  if (!cancel) throw missingParam('cancel');
  allowOnly(cancel, ['identifier'], 'cancel');
  const identifier = str(cancel, 'identifier', { required: true, max: 100, param: 'cancel[identifier]' })!;

  const e = ctx.store.eventByIdentifier(req.account, identifier);
  if (!e) throw noSuch('meter event with identifier', identifier, 'cancel[identifier]');
  if (e.event_name !== event_name) {
    throw invalid(`The meter event '${identifier}' belongs to event_name '${e.event_name}', not '${event_name}'.`, 'event_name');
  }
  const nowMs = ctx.now();
  if (!e.cancelled) {
    if (nowMs - e.received_ms > cancelWindowMs) {
      throw invalid(`The meter event '${identifier}' was received more than 24 hours ago and can no longer be cancelled.`, 'cancel[identifier]');
    }
    ctx.store.commit({ t: 'cancel', account: req.account, identifier, at: Math.floor(nowMs / 1000) });
  }
  return {
    object: 'billing.meter_event_adjustment' as const,
    cancel: { identifier },
    event_name,
    livemode: false,
    status: 'pending' as const,
    type: 'cancel' as const,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Event summaries

const windowSeconds = { hour: 3600, day: 86_400 } as const;

export function listEventSummaries(ctx: ApiContext, req: Request) {
  const f = req.form;
  allowOnly(f, ['customer', 'start_time', 'end_time', 'value_grouping_window', 'limit', 'starting_after', 'ending_before']);
  const meter = meterById(ctx, req, req.params.id!);
  const customerId = str(f, 'customer', { required: true })!;
  const start = int(f, 'start_time', { required: true })!;
  const end = int(f, 'end_time', { required: true })!;
  const grouping = oneOf(str(f, 'value_grouping_window'), ['hour', 'day'], 'value_grouping_window');
  for (const [name, t] of [['start_time', start], ['end_time', end]] as const) {
    if (t % 60 !== 0) throw invalid(`${name} must be aligned with minute boundaries (a multiple of 60 seconds).`, name);
    if (grouping && t % windowSeconds[grouping] !== 0) {
      throw invalid(`${name} must be aligned with ${grouping} boundaries when value_grouping_window is '${grouping}'.`, name);
    }
  }
  if (start >= end) throw invalid('start_time must be before end_time.', 'start_time');
  const customer = ctx.store.customer(req.account, customerId);
  if (!customer || customer.deleted) throw noSuch('customer', customerId, 'customer');

  // Stripe aggregates asynchronously: events younger than the delay are not in summaries yet.
  const cutoff = ctx.now() - ctx.aggregationDelayMs;
  const events = ctx.store
    .seriesOf(meter.id, customer.id)
    .filter((e) => !e.cancelled && e.timestamp >= start && e.timestamp < end && e.received_ms <= cutoff);

  const summary = (s: number, e: number, evs: readonly MeterEvent[]) => ({
    id: stableId('mtrsum', meter.id, customer.id, s, e),
    object: 'billing.meter_event_summary' as const,
    aggregated_value: aggregate(meter.formula, evs),
    end_time: e,
    livemode: false,
    meter: meter.id,
    start_time: s,
  });

  let summaries: Array<ReturnType<typeof summary>>;
  if (!grouping) {
    summaries = [summary(start, end, events)];
  } else {
    const size = windowSeconds[grouping];
    const buckets = new Map<number, MeterEvent[]>();
    for (const e of events) {
      const b = e.timestamp - (((e.timestamp % size) + size) % size);
      let list = buckets.get(b);
      if (!list) buckets.set(b, (list = []));
      list.push(e);
    }
    summaries = [...buckets.keys()].sort((a, b) => a - b).map((b) => summary(b, Math.min(b + size, end), buckets.get(b)!));
  }
  return paginate(summaries, f, `/v1/billing/meters/${meter.id}/event_summaries`, 'billing.meter_event_summary');
}

export type Handler = (ctx: ApiContext, req: Request) => unknown;
