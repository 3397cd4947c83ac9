/**
 * The transparency report as one HTML page (issue 17): no script, no external
 * asset (CSS inline in <head>, charts as inline SVG), readable on a phone
 * (fluid layout, tables scroll sideways), accessible (one h1, headings in
 * order, tables with captions and header scopes, every chart an image with a
 * title and a description, and the same figures in a table beside it).
 * Labels in English or French (`report.language`). It renders a
 * `TransparencyReport` and nothing else, so the page and the JSON agree.
 */
import type { ReportOrder, TransparencyReport } from './transparency.js';

type Lang = TransparencyReport['language'];

const LABELS = {
  en: {
    title: 'Transparency report: court-ordered DNS blocking',
    shortTitle: 'DNS blocking transparency report',
    by: 'Published by',
    generated: 'Generated',
    summary: 'Summary',
    ordersInForce: 'Orders in force',
    ordersListed: 'Orders listed (in force, pending, suspended or ended in the last {n} days)',
    namesInForce: 'Names blocked under orders in force',
    blockedWindow: 'Blocked answers, {from} to {to}',
    heldPending: 'Entries held for confirmation',
    mirrorCandidates: 'Candidate mirrors seen (not blocked, names not published)',
    notWatched: 'no mirror watch',
    orders: 'Orders in force and recently ended',
    ordersCaption: 'Every order listed, with its authority, dates and counts',
    none: 'No order is in force or ended recently.',
    colOrder: 'Order', colAuthority: 'Court or authority', colReference: 'Reference', colDecision: 'Decision',
    colInForce: 'In force', colState: 'State', colNames: 'Names', colBlocked: 'Blocked answers ({n} days)', colHeld: 'Held (pending)',
    timeline: 'Timeline',
    timelineTitle: 'Periods in force of the orders listed',
    timelineDesc: 'One bar per order from its first to its last day of blocking; the vertical line is today, {today}.',
    details: 'Order by order',
    kind: 'Kind', kindOrder: 'court order', kindRequest: 'regulator request',
    dates: 'Dates', decided: 'decided', from: 'from', to: 'to', endedOn: 'ended on', scope: 'Applies to', everyClient: 'every client',
    except: 'except', action: 'Action', namesLabel: 'Names', namesHidden: '{n} names (the order does not publish them)',
    chartTitle: 'Blocked answers per day under {id}',
    chartDesc: '{total} blocked answers from {from} to {to}; most in one day: {max}.',
    dailyTable: 'Blocked answers per day (table)', day: 'Day', answers: 'Answers',
    totalAll: 'Blocked answers, all days recorded',
    held: 'Held entries', heldText: '{held} held, {confirmed} confirmed, {rejected} rejected, {pending} still held',
    mirrors: 'Candidate mirrors', history: 'History', noHistory: 'no change of status recorded',
    example: 'EXAMPLE: not a real decision',
    published: 'What this report publishes',
    publishedText: [
      'Every order and regulator request in force, pending, suspended or ended in the last {n} days, with the deciding authority, its reference, its dates and the number of names it covers.',
      'The names themselves only for orders whose file says publish_names: true.',
      'How many answers each order blocked per day, counted by the resolver (the same counters as its monitoring and its audit log).',
      'Held entries and candidate mirrors as counts only: they are not decisions.',
      'No client data of any kind: no address, no query, no per-client count.',
    ],
    counts: { 'audit-log': 'Counts from the audit log of the resolver.', 'since-start': 'Counts since the resolver started (no audit log configured).', none: 'No counts available.' },
    json: 'The same data as JSON',
    states: { pending: 'pending', active: 'in force', suspended: 'suspended', expired: 'expired', lifted: 'lifted' },
    actions: { redirect: 'redirect to a notice page', nxdomain: 'name does not exist (NXDOMAIN)', nodata: 'no data (NODATA)' },
  },
  fr: {
    title: 'Rapport de transparence : blocages DNS ordonnés par la justice',
    shortTitle: 'Rapport de transparence des blocages DNS',
    by: 'Publié par',
    generated: 'Généré le',
    summary: 'Résumé',
    ordersInForce: 'Décisions en vigueur',
    ordersListed: 'Décisions listées (en vigueur, à venir, suspendues ou terminées depuis moins de {n} jours)',
    namesInForce: 'Noms bloqués par les décisions en vigueur',
    blockedWindow: 'Réponses bloquées, du {from} au {to}',
    heldPending: 'Entrées en attente de confirmation',
    mirrorCandidates: 'Miroirs possibles observés (non bloqués, noms non publiés)',
    notWatched: 'pas de surveillance des miroirs',
    orders: 'Décisions en vigueur et récemment terminées',
    ordersCaption: 'Chaque décision listée, avec son autorité, ses dates et ses comptes',
    none: 'Aucune décision en vigueur ou récemment terminée.',
    colOrder: 'Décision', colAuthority: 'Juridiction ou autorité', colReference: 'Référence', colDecision: 'Date de la décision',
    colInForce: 'En vigueur', colState: 'État', colNames: 'Noms', colBlocked: 'Réponses bloquées ({n} jours)', colHeld: 'En attente',
    timeline: 'Chronologie',
    timelineTitle: 'Périodes d’application des décisions listées',
    timelineDesc: 'Une barre par décision, de son premier à son dernier jour de blocage ; la ligne verticale est aujourd’hui, {today}.',
    details: 'Décision par décision',
    kind: 'Nature', kindOrder: 'décision de justice', kindRequest: 'demande d’une autorité',
    dates: 'Dates', decided: 'décidée le', from: 'du', to: 'au', endedOn: 'terminée le', scope: 'S’applique à', everyClient: 'tous les clients',
    except: 'sauf', action: 'Mesure', namesLabel: 'Noms', namesHidden: '{n} noms (la décision ne les publie pas)',
    chartTitle: 'Réponses bloquées par jour au titre de {id}',
    chartDesc: '{total} réponses bloquées du {from} au {to} ; au plus en un jour : {max}.',
    dailyTable: 'Réponses bloquées par jour (tableau)', day: 'Jour', answers: 'Réponses',
    totalAll: 'Réponses bloquées, tous les jours enregistrés',
    held: 'Entrées en attente', heldText: '{held} mises en attente, {confirmed} confirmées, {rejected} rejetées, {pending} encore en attente',
    mirrors: 'Miroirs possibles', history: 'Historique', noHistory: 'aucun changement d’état enregistré',
    example: 'EXEMPLE : pas une vraie décision',
    published: 'Ce que publie ce rapport',
    publishedText: [
      'Chaque décision de justice et demande d’autorité en vigueur, à venir, suspendue ou terminée depuis moins de {n} jours, avec l’autorité qui l’a prise, sa référence, ses dates et le nombre de noms concernés.',
      'Les noms eux-mêmes uniquement pour les décisions dont le fichier indique publish_names: true.',
      'Le nombre de réponses bloquées par jour au titre de chaque décision, compté par le résolveur (les mêmes compteurs que sa supervision et son journal d’audit).',
      'Les entrées en attente et les miroirs possibles seulement en nombre : ce ne sont pas des décisions.',
      'Aucune donnée de client : ni adresse, ni requête, ni compte par client.',
    ],
    counts: { 'audit-log': 'Comptes issus du journal d’audit du résolveur.', 'since-start': 'Comptes depuis le démarrage du résolveur (pas de journal d’audit configuré).', none: 'Aucun compte disponible.' },
    json: 'Les mêmes données en JSON',
    states: { pending: 'à venir', active: 'en vigueur', suspended: 'suspendue', expired: 'expirée', lifted: 'levée' },
    actions: { redirect: 'redirection vers une page d’information', nxdomain: 'nom inexistant (NXDOMAIN)', nodata: 'aucune donnée (NODATA)' },
  },
} as const;

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function fill(template: string, values: Record<string, string | number>): string {
  return template.replace(/\{(\w+)\}/g, (_, k: string) => String(values[k] ?? `{${k}}`));
}

/** A number for people (locale grouping) with its plain value for machines. */
function num(n: number, lang: Lang): string {
  return `<data value="${n}">${esc(n.toLocaleString(lang === 'fr' ? 'fr-FR' : 'en-GB'))}</data>`;
}

/** Element ids from order ids: lowercase, kebab-case, unique. */
function idMaker(): (orderId: string) => string {
  const used = new Map<string, string>();
  const taken = new Set<string>();
  return (orderId) => {
    const known = used.get(orderId);
    if (known) return known;
    const base = `order-${orderId.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '')}`;
    let id = base;
    for (let i = 2; taken.has(id); i++) id = `${base}-${i}`;
    taken.add(id);
    used.set(orderId, id);
    return id;
  };
}

const DAY_MS = 86_400_000;
const dayNumber = (d: string) => Date.parse(`${d}T00:00:00Z`) / DAY_MS;

function timelineSvg(r: TransparencyReport, L: (typeof LABELS)[Lang]): string {
  const rows = r.orders;
  const today = r.window.to;
  const lastOf = (o: ReportOrder) => (o.ended_on && o.ended_on <= o.last_day ? o.ended_on : o.last_day);
  const start = Math.min(...rows.map((o) => dayNumber(o.effective_date)), dayNumber(today));
  const end = Math.max(...rows.map((o) => dayNumber(lastOf(o)) + 1), dayNumber(today) + 1);
  const width = 640, labelW = 200, rowH = 26, top = 28;
  const height = top + rows.length * rowH + 10;
  const x = (d: number) => labelW + ((d - start) / Math.max(1, end - start)) * (width - labelW - 10);
  const parts: string[] = [];
  const year = (d: number) => new Date(d * DAY_MS).getUTCFullYear();
  const step = Math.max(1, Math.ceil((year(end) - year(start)) / 8));
  for (let y = year(start) + 1; y <= year(end); y += step) {
    const d = Date.UTC(y, 0, 1) / DAY_MS;
    parts.push(`<line x1="${x(d).toFixed(1)}" y1="${top - 6}" x2="${x(d).toFixed(1)}" y2="${height - 6}" class="grid"/>`,
      `<text x="${x(d).toFixed(1)}" y="${top - 10}" class="axis" text-anchor="middle">${y}</text>`);
  }
  rows.forEach((o, i) => {
    const y = top + i * rowH;
    const x0 = x(dayNumber(o.effective_date));
    const x1 = x(dayNumber(lastOf(o)) + 1);
    parts.push(`<text x="${labelW - 8}" y="${y + 16}" text-anchor="end" class="label">${esc(o.id.length > 28 ? `${o.id.slice(0, 27)}…` : o.id)}</text>`,
      `<rect x="${x0.toFixed(1)}" y="${y + 4}" width="${Math.max(2, x1 - x0).toFixed(1)}" height="${rowH - 10}" class="bar state-${o.state}"/>`);
  });
  const tx = x(dayNumber(today) + 0.5).toFixed(1);
  parts.push(`<line x1="${tx}" y1="${top - 6}" x2="${tx}" y2="${height - 4}" class="today"/>`);
  return `<svg role="img" aria-labelledby="timeline-title timeline-desc" viewBox="0 0 ${width} ${height}" class="chart">`
    + `<title id="timeline-title">${esc(L.timelineTitle)}</title><desc id="timeline-desc">${esc(fill(L.timelineDesc, { today }))}</desc>${parts.join('')}</svg>`;
}

function chartSvg(o: ReportOrder, elementId: string, r: TransparencyReport, L: (typeof LABELS)[Lang], lang: Lang): string {
  const days = o.blocked_answers.per_day;
  const max = Math.max(0, ...days.map((d) => d.answers));
  const total = days.reduce((n, d) => n + d.answers, 0);
  const width = 600, height = 150, left = 44, bottom = 22, top = 10;
  const bw = (width - left - 6) / Math.max(1, days.length);
  const bars = days.map((d, i) => {
    const h = max === 0 ? 0 : ((height - bottom - top) * d.answers) / max;
    return `<rect x="${(left + i * bw + 1).toFixed(1)}" y="${(height - bottom - h).toFixed(1)}" width="${Math.max(1, bw - 2).toFixed(1)}" height="${h.toFixed(1)}" class="bar"/>`;
  }).join('');
  const fmt = (n: number) => n.toLocaleString(lang === 'fr' ? 'fr-FR' : 'en-GB');
  const axis = `<line x1="${left}" y1="${height - bottom}" x2="${width - 4}" y2="${height - bottom}" class="grid"/>`
    + `<text x="${left - 6}" y="${top + 8}" text-anchor="end" class="axis">${esc(fmt(max))}</text>`
    + `<text x="${left - 6}" y="${height - bottom}" text-anchor="end" class="axis">0</text>`
    + `<text x="${left}" y="${height - 6}" class="axis">${esc(r.window.from)}</text>`
    + `<text x="${width - 4}" y="${height - 6}" text-anchor="end" class="axis">${esc(r.window.to)}</text>`;
  const t = `${elementId}-chart-title`, d = `${elementId}-chart-desc`;
  return `<svg role="img" aria-labelledby="${t} ${d}" viewBox="0 0 ${width} ${height}" class="chart">`
    + `<title id="${t}">${esc(fill(L.chartTitle, { id: o.id }))}</title>`
    + `<desc id="${d}">${esc(fill(L.chartDesc, { total: fmt(total), from: r.window.from, to: r.window.to, max: fmt(max) }))}</desc>${axis}${bars}</svg>`;
}

const CSS = `
:root{color-scheme:light;--fg:#1b1b1b;--muted:#555;--line:#ccc;--accent:#0b5cad}
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:#fff}
header,main,footer{max-width:60rem;margin:0 auto;padding:0 1rem}
h1{font-size:1.6rem;line-height:1.25;margin:1.2rem 0 .4rem}
h2{font-size:1.3rem;margin:2rem 0 .6rem;border-bottom:2px solid var(--line)}
h3{font-size:1.1rem;margin:1.4rem 0 .4rem}
.meta{color:var(--muted);margin:.2rem 0}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:.95rem}
caption{text-align:left;color:var(--muted);padding:.3rem 0}
th,td{border-bottom:1px solid var(--line);padding:.35rem .5rem;text-align:left;vertical-align:top}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
td time,th time{white-space:nowrap}
figure{margin:1rem 0}
dl.facts{display:grid;grid-template-columns:minmax(8rem,max-content) 1fr;gap:.2rem 1rem;margin:.4rem 0}
dl.facts dt{font-weight:600}
dl.facts dd{margin:0}
ul.totals{padding-left:1.2rem}
.chart{width:100%;height:auto;max-width:40rem;display:block}
.chart .bar{fill:var(--accent)}
.chart .grid{stroke:var(--line);stroke-width:1}
.chart .today{stroke:#b00020;stroke-width:2}
.chart .axis,.chart .label{font-size:12px;fill:var(--muted)}
.chart .label{fill:var(--fg)}
.chart .state-expired,.chart .state-lifted{fill:#9aa5b1}
.chart .state-suspended{fill:#d9a400}
.chart .state-pending{fill:#7fb3e6}
.example{color:#b00020;font-weight:600}
article{border-top:1px solid var(--line);padding-top:.2rem}
@media (max-width:36rem){body{font-size:15px}dl.facts{grid-template-columns:1fr}th,td{padding:.3rem}}
`;

export function transparencyHtml(r: TransparencyReport, opts: { jsonHref?: string } = {}): string {
  const lang = r.language;
  const L = LABELS[lang];
  const idOf = idMaker();
  const n = (x: number) => num(x, lang);
  const out: string[] = [];
  out.push('<!DOCTYPE html>', `<html lang="${lang}">`, '<head>', '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    // Short: a tab, a bookmark, a search result (html-validate's long-title: 70 characters).
    `<title>${esc(r.operator && L.shortTitle.length + r.operator.length + 3 <= 70 ? `${L.shortTitle} (${r.operator})` : L.shortTitle)}</title>`, `<style>${CSS}</style>`, '</head>', '<body>');
  out.push('<header>', `<h1>${esc(L.title)}</h1>`);
  if (r.operator) out.push(`<p class="meta">${esc(L.by)} ${esc(r.operator)}</p>`);
  out.push(`<p class="meta">${esc(L.generated)} <time datetime="${esc(r.generated_at)}">${esc(r.generated_at.replace('T', ' ').replace(/\.\d+Z$/, ' UTC').replace(/Z$/, ' UTC'))}</time>. ${esc(L.counts[r.counts_source])}</p>`, '</header>', '<main>');

  const t = r.totals;
  out.push('<section aria-labelledby="summary">', `<h2 id="summary">${esc(L.summary)}</h2>`, '<ul class="totals">',
    `<li>${esc(L.ordersInForce)}: ${n(t.orders_in_force)}</li>`,
    `<li>${esc(fill(L.ordersListed, { n: r.window.recent_days }))}: ${n(t.orders_listed)}</li>`,
    `<li>${esc(L.namesInForce)}: ${n(t.names_in_force)}</li>`,
    `<li>${esc(fill(L.blockedWindow, { from: r.window.from, to: r.window.to }))}: ${n(t.blocked_answers_in_window)}</li>`,
    `<li>${esc(L.heldPending)}: ${n(t.held_pending)}</li>`,
    `<li>${esc(L.mirrorCandidates)}: ${t.mirror_candidates === null ? esc(L.notWatched) : n(t.mirror_candidates)}</li>`,
    '</ul>', '</section>');

  out.push('<section aria-labelledby="orders">', `<h2 id="orders">${esc(L.orders)}</h2>`);
  if (r.orders.length === 0) out.push(`<p>${esc(L.none)}</p>`);
  else {
    const days = r.orders[0]!.blocked_answers.per_day.length;
    out.push('<div class="scroll">', '<table id="orders-table">', `<caption>${esc(L.ordersCaption)}</caption>`, '<thead>', '<tr>',
      `<th scope="col">${esc(L.colOrder)}</th>`, `<th scope="col">${esc(L.colAuthority)}</th>`, `<th scope="col">${esc(L.colReference)}</th>`,
      `<th scope="col">${esc(L.colDecision)}</th>`, `<th scope="col">${esc(L.colInForce)}</th>`, `<th scope="col">${esc(L.colState)}</th>`,
      `<th scope="col" class="n">${esc(L.colNames)}</th>`, `<th scope="col" class="n">${esc(fill(L.colBlocked, { n: days }))}</th>`,
      `<th scope="col" class="n">${esc(L.colHeld)}</th>`, '</tr>', '</thead>', '<tbody>');
    for (const o of r.orders) {
      const id = idOf(o.id);
      const win = o.blocked_answers.per_day.reduce((m, d) => m + d.answers, 0);
      out.push(`<tr id="${id}-row" data-order="${esc(o.id)}">`,
        `<th scope="row"><a href="#${id}">${esc(o.id)}</a>${o.example ? ` <span class="example">(${esc(L.example)})</span>` : ''}</th>`,
        `<td>${esc(o.authority)}</td>`, `<td>${esc(o.reference ?? '-')}</td>`,
        `<td><time datetime="${o.decision_date}">${o.decision_date}</time></td>`,
        `<td><time datetime="${o.effective_date}">${o.effective_date}</time> – <time datetime="${o.last_day}">${o.last_day}</time></td>`,
        `<td>${esc(L.states[o.state])}</td>`, `<td class="n" data-field="names">${n(o.names_count)}</td>`,
        `<td class="n" data-field="blocked">${n(win)}</td>`, `<td class="n" data-field="held">${n(o.held_entries.pending)}</td>`, '</tr>');
    }
    out.push('</tbody>', '</table>', '</div>');
  }
  out.push('</section>');

  if (r.orders.length) {
    out.push('<section aria-labelledby="timeline">', `<h2 id="timeline">${esc(L.timeline)}</h2>`, '<figure>', timelineSvg(r, L), '</figure>', '</section>');
    out.push('<section aria-labelledby="details">', `<h2 id="details">${esc(L.details)}</h2>`);
    for (const o of r.orders) {
      const id = idOf(o.id);
      const scope = o.scope
        ? `${o.scope.applies_to.length ? o.scope.applies_to.map(esc).join(', ') : esc(L.everyClient)}${o.scope.except.length ? ` (${esc(L.except)} ${o.scope.except.map(esc).join(', ')})` : ''}`
        : esc(L.everyClient);
      out.push(`<article id="${id}" aria-labelledby="${id}-h">`, `<h3 id="${id}-h">${esc(o.id)}</h3>`);
      if (o.example) out.push(`<p class="example">${esc(L.example)}</p>`);
      out.push('<dl class="facts">',
        `<dt>${esc(L.kind)}</dt><dd>${esc(o.kind === 'regulator-request' ? L.kindRequest : L.kindOrder)}</dd>`,
        `<dt>${esc(L.colAuthority)}</dt><dd>${esc(o.authority)}${o.reference ? `, ${esc(o.reference)}` : ''}</dd>`,
        `<dt>${esc(L.dates)}</dt><dd>${esc(L.decided)} <time datetime="${o.decision_date}">${o.decision_date}</time>; ${esc(L.from)} <time datetime="${o.effective_date}">${o.effective_date}</time> ${esc(L.to)} <time datetime="${o.last_day}">${o.last_day}</time>${o.ended_on ? `; ${esc(L.endedOn)} <time datetime="${o.ended_on}">${o.ended_on}</time>` : ''} (${esc(o.timezone)})</dd>`,
        `<dt>${esc(L.colState)}</dt><dd>${esc(L.states[o.state])}</dd>`,
        `<dt>${esc(L.action)}</dt><dd>${esc(L.actions[o.action])}</dd>`,
        `<dt>${esc(L.scope)}</dt><dd>${scope}</dd>`,
        `<dt>${esc(L.namesLabel)}</dt><dd>${o.names ? `${n(o.names_count)}: ${o.names.map((x) => `<code>${esc(x)}</code>`).join(', ')}` : esc(fill(L.namesHidden, { n: o.names_count }))}</dd>`,
        `<dt>${esc(L.totalAll)}</dt><dd data-field="blocked-total">${n(o.blocked_answers.total)}</dd>`,
        `<dt>${esc(L.held)}</dt><dd>${esc(fill(L.heldText, { ...o.held_entries }))}</dd>`,
        `<dt>${esc(L.mirrors)}</dt><dd>${o.mirror_candidates === null ? esc(L.notWatched) : n(o.mirror_candidates)}</dd>`,
        `<dt>${esc(L.history)}</dt><dd>${o.history.length ? o.history.map((h) => `${esc(h.date)}: ${esc(L.states[h.status as keyof typeof L.states] ?? h.status)}${h.note ? ` (${esc(h.note)})` : ''}`).join('; ') : esc(L.noHistory)}</dd>`,
        '</dl>');
      out.push('<figure>', chartSvg(o, id, r, L, lang), '</figure>');
      out.push('<details>', `<summary>${esc(L.dailyTable)}</summary>`, '<div class="scroll">', '<table>',
        `<caption>${esc(fill(L.chartTitle, { id: o.id }))}</caption>`, '<thead>', '<tr>', `<th scope="col">${esc(L.day)}</th>`, `<th scope="col" class="n">${esc(L.answers)}</th>`, '</tr>', '</thead>', '<tbody>');
      for (const d of o.blocked_answers.per_day) out.push(`<tr><th scope="row"><time datetime="${d.date}">${d.date}</time></th><td class="n">${n(d.answers)}</td></tr>`);
      out.push('</tbody>', '</table>', '</div>', '</details>', '</article>');
    }
    out.push('</section>');
  }

  out.push('<section aria-labelledby="published">', `<h2 id="published">${esc(L.published)}</h2>`, '<ul>');
  for (const p of L.publishedText) out.push(`<li>${esc(fill(p, { n: r.window.recent_days }))}</li>`);
  out.push('</ul>', '</section>', '</main>');
  out.push('<footer>', `<p class="meta"><a href="${esc(opts.jsonHref ?? 'transparency.json')}">${esc(L.json)}</a> (${esc(r.format)}, version ${r.version})</p>`, '</footer>', '</body>', '</html>', '');
  return out.join('\n');
}
