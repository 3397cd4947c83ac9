/** A root hints file (named.root format) for the peers' configs: NS per root name, then each address. */
export function rootHintsText(hints: readonly { name: string; address: string }[]): string {
  const fqdn = (n: string) => n.replace(/\.?$/, '.');
  const names = [...new Set(hints.map((h) => fqdn(h.name)))];
  return names.map((n) => `. 3600000 IN NS ${n}`)
    .concat(hints.map((h) => `${fqdn(h.name)} 3600000 IN ${h.address.includes(':') ? 'AAAA' : 'A'} ${h.address}`))
    .join('\n') + '\n';
}
