const pattern = /^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;

/**
 * Parses the ISO 8601 durations operators write (`PT48H`, `P7D`, `P1DT12H`) into milliseconds.
 * Years and months are refused: their length depends on the calendar.
 */
export function parseDuration(text: string): number | null {
  const m = pattern.exec(text);
  if (!m || text === 'P' || text.endsWith('T')) return null;
  const [, w, d, h, min, s] = m;
  const ms =
    (Number(w ?? 0) * 7 * 86_400 + Number(d ?? 0) * 86_400 + Number(h ?? 0) * 3600 + Number(min ?? 0) * 60 + Number(s ?? 0)) *
    1000;
  return Number.isFinite(ms) ? ms : null;
}
