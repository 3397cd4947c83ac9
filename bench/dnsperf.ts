/** dnsperf's closing summary, read the same way by bench:e2e and bench:soak. */

/** The totals of one dnsperf run; throws when dnsperf failed or printed no rate. */
export interface PerfTotals { sent: number; completed: number; lost: number; qps: number; meanMs: number; rcodes: string; stdout: string }

export function perfTotals(stdout: string, code: number | null, stderr: string): PerfTotals {
  const num = (re: RegExp) => { const m = re.exec(stdout); return m ? Number(m[1]) : NaN; };
  const r: PerfTotals = {
    sent: num(/Queries sent:\s+([0-9]+)/),
    completed: num(/Queries completed:\s+([0-9]+)/),
    lost: num(/Queries lost:\s+([0-9]+)/),
    qps: num(/Queries per second:\s+([0-9.]+)/),
    meanMs: num(/Average Latency \(s\):\s+([0-9.]+)/) * 1000,
    rcodes: (/Response codes:\s+(.*)/.exec(stdout)?.[1] ?? '').trim(),
    stdout,
  };
  if (code !== 0 || !Number.isFinite(r.qps)) throw new Error(`dnsperf exited ${code}: ${(stderr + stdout).trim().slice(0, 400)}`);
  return r;
}

