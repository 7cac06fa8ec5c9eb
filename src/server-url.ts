/** The server a command-line client talks to: `--url`, else STRIPEMETER_URL, else the local default; no trailing slash. */
export function serverUrl(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  return (flag ?? env.STRIPEMETER_URL ?? 'http://127.0.0.1:3000').replace(/\/+$/, '');
}
