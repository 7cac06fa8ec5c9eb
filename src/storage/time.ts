/** `2026-11-25 10:00:00.123`: the text form ClickHouse reads into DateTime64(3, 'UTC'), from epoch ms or ISO text. */
export function toClickHouseTime(time: number | string): string {
  return new Date(typeof time === 'string' ? Date.parse(time) : time).toISOString().replace('T', ' ').replace('Z', '');
}
