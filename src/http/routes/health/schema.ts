import { z } from 'zod';

// Responses, described for the OpenAPI spec.
export const liveSchema = z.strictObject({ status: z.literal('ok') });

export const readinessSchema = z.strictObject({
  status: z.enum(['healthy', 'degraded', 'unhealthy']),
  checks: z.record(z.string(), z.strictObject({ status: z.enum(['pass', 'warn', 'fail']), detail: z.string().optional(), ms: z.number().optional() })),
});
