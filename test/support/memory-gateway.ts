import { StripeCallError, type StripeFailure } from '../../src/stripe/errors.js';
import { summaryWindow, type GatewayCustomer, type GatewayMeter, type MeterEventInput, type StripeGateway } from '../../src/stripe/gateway.js';

type Stored = MeterEventInput & { stripeAccount: string | undefined; cancelled: boolean };
type Call = { method: keyof StripeGateway; stripeAccount: string | undefined; args: unknown[] };

/**
 * A StripeGateway held in memory, for unit tests of push and reconciliation logic that need no whole service: meter
 * events dedupe by identifier per account, as Stripe does; `fail` queues failures for the next calls of a method.
 * End-to-end tests use the HTTP sandbox instead.
 */
/** Stripe's default payload keys, for meter events written by tests. */
export const defaultKeys = { customerKey: 'stripe_customer_id', valueKey: 'value' } as const;

export class MemoryGateway implements StripeGateway {
  readonly events: Stored[] = [];
  readonly calls: Call[] = [];
  private meters = new Map<string, GatewayMeter & { stripeAccount: string | undefined }>();
  private customers = new Map<string, GatewayCustomer & { stripeAccount: string | undefined }>();
  private failures = new Map<keyof StripeGateway, StripeFailure[]>();

  addMeter(stripeAccount: string | undefined, meter: GatewayMeter): void {
    this.meters.set(meter.id, { ...meter, stripeAccount });
  }

  addCustomer(stripeAccount: string | undefined, id: string, deleted = false): void {
    this.customers.set(id, { id, deleted, stripeAccount });
  }

  /** The next calls of `method` fail with these, one each, before it works again. */
  fail(method: keyof StripeGateway, ...failures: StripeFailure[]): void {
    this.failures.set(method, [...(this.failures.get(method) ?? []), ...failures]);
  }

  /** The sum of the events recorded for a customer on a meter's event name. */
  total(eventName: string, stripeCustomerId: string): number {
    return this.events.filter((e) => !e.cancelled && e.eventName === eventName && e.stripeCustomerId === stripeCustomerId).reduce((n, e) => n + e.value, 0);
  }

  private enter(method: keyof StripeGateway, stripeAccount: string | undefined, ...args: unknown[]): void {
    this.calls.push({ method, stripeAccount, args });
    const failure = this.failures.get(method)?.shift();
    if (failure) throw new StripeCallError(failure);
  }

  private notFound(what: string): StripeCallError {
    return new StripeCallError({ kind: 'permanent', status: 404, code: 'resource_missing', message: `No such ${what}` });
  }

  async createMeterEvent(stripeAccount: string | undefined, event: MeterEventInput): Promise<void> {
    this.enter('createMeterEvent', stripeAccount, event);
    if (this.events.some((e) => e.stripeAccount === stripeAccount && e.identifier === event.identifier)) return;
    this.events.push({ ...event, stripeAccount, cancelled: false });
  }

  async cancelMeterEvent(stripeAccount: string | undefined, eventName: string, identifier: string): Promise<void> {
    this.enter('cancelMeterEvent', stripeAccount, eventName, identifier);
    const e = this.events.find((e) => e.stripeAccount === stripeAccount && e.identifier === identifier && e.eventName === eventName);
    if (!e) throw this.notFound(`meter event ${identifier}`);
    e.cancelled = true;
  }

  async periodTotal(stripeAccount: string | undefined, meterId: string, stripeCustomerId: string, window: { start: Date; end: Date }, now = Date.now()) {
    this.enter('periodTotal', stripeAccount, meterId, stripeCustomerId, window);
    const meter = this.meters.get(meterId);
    if (!meter || meter.stripeAccount !== stripeAccount) throw this.notFound(`meter ${meterId}`);
    const { start_time, end_time } = summaryWindow(window, now);
    return this.events
      .filter((e) => e.stripeAccount === stripeAccount && !e.cancelled && e.eventName === meter.event_name && e.stripeCustomerId === stripeCustomerId)
      .filter((e) => e.timestamp >= start_time && e.timestamp < end_time)
      .reduce((n, e) => n + e.value, 0);
  }

  async retrieveMeter(stripeAccount: string | undefined, meterId: string): Promise<GatewayMeter> {
    this.enter('retrieveMeter', stripeAccount, meterId);
    const m = this.meters.get(meterId);
    if (!m || m.stripeAccount !== stripeAccount) throw this.notFound(`meter ${meterId}`);
    return { id: m.id, event_name: m.event_name, status: m.status };
  }

  async *listMeters(stripeAccount: string | undefined): AsyncGenerator<GatewayMeter> {
    this.enter('listMeters', stripeAccount);
    for (const m of this.meters.values()) if (m.stripeAccount === stripeAccount) yield { id: m.id, event_name: m.event_name, status: m.status };
  }

  async retrieveCustomer(stripeAccount: string | undefined, customerId: string): Promise<GatewayCustomer> {
    this.enter('retrieveCustomer', stripeAccount, customerId);
    const c = this.customers.get(customerId);
    if (!c || c.stripeAccount !== stripeAccount) throw this.notFound(`customer ${customerId}`);
    return { id: c.id, deleted: c.deleted };
  }
}
