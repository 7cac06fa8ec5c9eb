import { vi } from 'vitest';

/**
 * Tests that place events hours or days before "now" and then read the current billing period need those events in
 * the current month. In the first days of a month (UTC) they would fall in the previous one, so such a test file runs
 * with the JavaScript clock set back to the middle of the previous month (Date only: timers and the engine's own
 * clock stay real; time still advances). The service runs in the test's process, so it reads the same clock.
 */
export function keepClockAwayFromMonthStart(days = 4): void {
  const now = new Date();
  if (now.getUTCDate() > days) return;
  vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true, now: Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 15, 12) });
}
