// ISO 8601 with an explicit zone: a timestamp without one is ambiguous and would bill the wrong hour.
const isoWithZone = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})$/;

/** Epoch milliseconds of an ISO 8601 timestamp with a zone, or null. Sub-millisecond digits are truncated. */
export function parseTimestamp(text: string): number | null {
  const m = isoWithZone.exec(text);
  if (!m) return null;
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return null;
  if (Number(h) > 23 || Number(mi) > 59 || Number(s ?? 0) > 59) return null;
  let offsetMin = 0;
  if (zone !== 'Z') {
    const sign = zone![0] === '-' ? -1 : 1;
    const [oh, om] = zone!.slice(1).split(':').map(Number) as [number, number];
    if (oh > 23 || om > 59) return null;
    offsetMin = sign * (oh * 60 + om);
  }
  const ms = frac === undefined ? 0 : Number(frac.padEnd(3, '0').slice(0, 3));
  return utc(year, month - 1, day, Number(h), Number(mi), Number(s ?? 0), ms) - offsetMin * 60_000;
}

const monthDays = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysInMonth(year: number, month: number): number {
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return month === 2 && leap ? 29 : monthDays[month - 1]!;
}

/** Date.UTC without its mapping of years 0-99 to 1900-1999 (`0050-01-01` is year 50, not 1950). */
function utc(year: number, monthIndex: number, day: number, h: number, mi: number, s: number, ms: number): number {
  if (year >= 100) return Date.UTC(year, monthIndex, day, h, mi, s, ms);
  const d = new Date(0);
  d.setUTCFullYear(year, monthIndex, day);
  d.setUTCHours(h, mi, s, ms);
  return d.getTime();
}
