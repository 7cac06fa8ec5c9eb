import { expect } from 'vitest';
import type { TestService } from './service.js';

/** The ids of every page of a list from `url` (which has a query string) on, following nextCursor. */
export async function pageIds(svc: TestService, url: string, field: string, opts: { key?: string; cursor?: string } = {}): Promise<string[]> {
  const ids: string[] = [];
  let cursor = opts.cursor ?? null;
  do {
    const r = await svc.request('GET', `${url}${cursor ? `&cursor=${cursor}` : ''}`, { key: opts.key });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    ids.push(...(r.body[field] as Array<{ id: string }>).map((x) => x.id));
    cursor = r.body.nextCursor;
  } while (cursor);
  return ids;
}
