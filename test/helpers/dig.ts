/** Run Debian's dig and read what it printed, as a person would. */
import { execFile, spawnSync } from 'node:child_process';

export interface DigResult {
  status: string;
  flags: string[];
  answer: string[];
  authority: string[];
  additional: string[];
  ede: string[];
  text: string;
}

export function hasDig(): boolean {
  return spawnSync('dig', ['-v'], { encoding: 'utf8' }).status === 0;
}

function digArgs(args: string[], server: string, port: number): string[] {
  return [`@${server}`, '-p', String(port), '+time=5', '+tries=1', ...args];
}

function parseDig(text: string): DigResult {
  const section = (name: string) => {
    const m = new RegExp(`;; ${name} SECTION:\\n([\\s\\S]*?)(?:\\n\\n|$)`).exec(text);
    return m ? m[1]!.split('\n').filter((l) => l && !l.startsWith(';')).map((l) => l.replace(/\s+/g, ' ').trim()) : [];
  };
  return {
    status: /status: ([A-Z]+)/.exec(text)?.[1] ?? 'NO-ANSWER',
    flags: (/;; flags: ([a-z ]+);/.exec(text)?.[1] ?? '').trim().split(' ').filter(Boolean),
    answer: section('ANSWER'),
    authority: section('AUTHORITY'),
    additional: section('ADDITIONAL'),
    ede: [...text.matchAll(/; EDE: ([^\n]+)/g)].map((m) => m[1]!),
    text,
  };
}

export function dig(args: string[], server = '127.0.0.1', port = 5353): DigResult {
  const r = spawnSync('dig', digArgs(args, server, port), { encoding: 'utf8', timeout: 20_000 });
  return parseDig(r.stdout ?? '');
}

/** The same without blocking the event loop: for a server running in this process. */
export function digAsync(args: string[], server = '127.0.0.1', port = 5353): Promise<DigResult> {
  return new Promise((resolve) => {
    execFile('dig', digArgs(args, server, port), { encoding: 'utf8', timeout: 20_000 }, (_err, stdout) => resolve(parseDig(stdout ?? '')));
  });
}
