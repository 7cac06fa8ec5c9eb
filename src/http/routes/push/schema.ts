import { z } from 'zod';
import { tenantIdSchema } from '../../../ingest/event.js';

export const pushStatusQuerySchema = z.strictObject({ tenantId: tenantIdSchema });
export const pushRunSchema = z.strictObject({ tenantId: tenantIdSchema });
