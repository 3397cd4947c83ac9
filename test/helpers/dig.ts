/** Run Debian's dig and read what it printed, as a person would. */
import { spawnSync } from 'node:child_process';

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

export function dig(args: string[], server = '127.0.0.1', port = 5353): DigResult {
  const r = spawnSync('dig', [`@${server}`, '-p', String(port), '+time=5', '+tries=1', ...args], { encoding: 'utf8', timeout: 20_000 });
  const text = r.stdout ?? '';
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
