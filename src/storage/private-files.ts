import { chmodSync, fstatSync, fchmodSync, mkdirSync, statSync } from 'node:fs';

/**
 * The data directory holds the admin key, the event store, the Stripe sandbox journal and the key filters: only its
 * owner may read it. New directories are made 0700 and new files 0600; ones left looser by an older version are
 * tightened at start, when this process owns them (someone else's are left alone rather than failing on EPERM).
 */
export const privateDirMode = 0o700;
export const privateFileMode = 0o600;

const ownedByUs = (uid: number) => typeof process.getuid !== 'function' || uid === process.getuid();

/** Creates the directory (and missing parents) 0700, or tightens it to 0700 when it exists and is ours. */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: privateDirMode });
  const st = statSync(dir);
  if ((st.mode & 0o077) !== 0 && ownedByUs(st.uid)) chmodSync(dir, st.mode & 0o700);
}

/** Tightens an existing file to 0600 (at most) when it is ours; a missing file is no error. */
export function tightenFile(file: string): void {
  let st;
  try {
    st = statSync(file);
  } catch {
    return;
  }
  if ((st.mode & 0o077) !== 0 && ownedByUs(st.uid)) chmodSync(file, st.mode & 0o600);
}

/** As tightenFile, for a file already open. */
export function tightenOpenFile(fd: number): void {
  const st = fstatSync(fd);
  if ((st.mode & 0o077) !== 0 && ownedByUs(st.uid)) fchmodSync(fd, st.mode & 0o600);
}
