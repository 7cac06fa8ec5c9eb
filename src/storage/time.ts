const dayMs = 86_400_000;
// toISOString spells years 0000-9999 with four digits (from 0000-01-01 to 10000-01-01 UTC); other times take the general path.
const fourDigitYears = { from: -62_167_219_200_000, to: 253_402_300_800_000 };
const twoDigits = Array.from({ length: 100 }, (_, i) => String(i).padStart(2, '0'));
const threeDigits = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));

// Ingest formats one time per event, and the events of a batch mostly fall on one day: its date text is kept.
let lastDay = NaN;
let lastDayText = '';

/** `2026-11-25 10:00:00.123`: the text form ClickHouse reads into DateTime64(3, 'UTC'), from epoch ms or ISO text. */
export function toClickHouseTime(time: number | string): string {
  const ms = typeof time === 'string' ? Date.parse(time) : time;
  if (!Number.isInteger(ms) || ms < fourDigitYears.from || ms >= fourDigitYears.to) {
    return new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
  }
  const day = Math.floor(ms / dayMs);
  if (day !== lastDay) {
    lastDayText = new Date(day * dayMs).toISOString().slice(0, 11).replace('T', ' ');
    lastDay = day;
  }
  const inDay = ms - day * dayMs;
  const seconds = Math.floor(inDay / 1000);
  return `${lastDayText}${twoDigits[Math.floor(seconds / 3600)]}:${twoDigits[Math.floor(seconds / 60) % 60]}:${twoDigits[seconds % 60]}.${threeDigits[inDay % 1000]}`;
}
