let last = 0n;

/**
 * Row versions for ReplacingMergeTree tables: microseconds since the epoch, strictly increasing within the process,
 * so a later write always wins even inside one millisecond.
 */
export function nextVersion(): string {
  let v = BigInt(Date.now()) * 1000n;
  if (v <= last) v = last + 1n;
  last = v;
  return v.toString();
}
