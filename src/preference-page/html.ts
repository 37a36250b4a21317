import { createHash } from 'node:crypto';
import type { Channel } from '../shared/model.ts';
import type { FormProblem, PageModel } from './model.ts';

/** Every value from the store or the request goes through this before it reaches the page. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const STYLE = `
:root{color-scheme:light dark;--accent:#2563eb;--muted:#6b7280;--border:#d1d5db}
@media (prefers-color-scheme:dark){:root{--accent:#60a5fa;--muted:#9ca3af;--border:#4b5563}}
body{font:16px/1.5 system-ui,sans-serif;max-inline-size:40rem;margin-block:3rem;margin-inline:auto;padding-inline:1rem}
h1{font-size:1.5rem}fieldset{border:1px solid var(--border);border-radius:8px;margin-block:1.25rem;padding:1rem}
legend{font-weight:600;padding-inline:.25rem}p.hint{color:var(--muted);margin-block-start:0}
label{display:flex;gap:.5rem;align-items:center;margin-block:.35rem}
table{border-collapse:collapse;inline-size:100%}th,td{padding:.35rem;text-align:center;border-block-end:1px solid var(--border)}
th[scope=row]{text-align:start;font-weight:500}.locked{color:var(--muted);font-size:.85rem}
input[type=checkbox]{inline-size:1.1rem;block-size:1.1rem;accent-color:var(--accent)}
button{font:inherit;padding:.5rem 1.25rem;border-radius:6px;border:0;background:var(--accent);color:#fff;cursor:pointer}
.status{padding:.75rem 1rem;border-radius:6px;border:1px solid var(--accent)}
.error{padding:.75rem 1rem;border-radius:6px;border:1px solid #dc2626;color:inherit}
:focus-visible{outline:2px solid var(--accent);outline-offset:2px}
`;

/**
 * The page's security headers: no script at all, only its own stylesheet (by hash, not
 * 'unsafe-inline'), forms may only post back to Tidings, and no one may frame it (a framed form
 * that changes consent is a clickjacking target). The token is in the URL: never cache, never
 * send it on as a referrer.
 */
export const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': `default-src 'none'; style-src 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
  'cache-control': 'no-store',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
} as const;

const CHANNEL_LABELS: Record<Channel, string> = {
  in_app: 'In-app',
  email: 'Email',
  sms: 'SMS',
  push: 'Mobile push',
  webpush: 'Browser push',
  chat: 'Chat',
  webhook: 'Webhook',
};

function document(title: string, body: string): string {
  return (
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">` +
    `<meta name="robots" content="noindex"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head>` +
    `<body><main><h1>${escapeHtml(title)}</h1>${body}</main></body></html>`
  );
}

/** A page that only says something: a bad or expired link (401), a refused post (403)… */
export function messagePage(title: string, message: string): string {
  return document(title, `<p>${escapeHtml(message)}</p>`);
}

function checkbox(name: string, on: boolean, label: string, extra = ''): string {
  return `<input type="checkbox" name="${escapeHtml(name)}" value="on"${on ? ' checked' : ''} aria-label="${escapeHtml(label)}"${extra}>`;
}

function channelsSection(model: PageModel): string {
  if (model.channels.length === 0) return '';
  const rows = model.channels
    .map(
      (toggle) =>
        `<label>${checkbox(toggle.name, toggle.on, CHANNEL_LABELS[toggle.channel])}${escapeHtml(CHANNEL_LABELS[toggle.channel])}</label>`,
    )
    .join('');
  return `<fieldset><legend>Channels</legend><p class="hint">Turn a channel off to get nothing through it (except account and security messages).</p>${rows}</fieldset>`;
}

function categoriesSection(model: PageModel): string {
  if (model.categories.length === 0) return '';
  const rows = model.categories
    .map((row) => {
      const cells = row.cells
        .map((cell) => {
          const label = `${row.category}: ${CHANNEL_LABELS[cell.channel]}`;
          const box = row.locked
            ? checkbox(cell.name, true, `${label} (always on)`, ' disabled aria-describedby="locked-note"')
            : checkbox(cell.name, cell.on, label);
          return `<td><label>${box}${escapeHtml(CHANNEL_LABELS[cell.channel])}</label></td>`;
        })
        .join('');
      const lock = row.locked ? ' <span class="locked">(always on)</span>' : '';
      return `<tr><th scope="row">${escapeHtml(row.category)}${lock}</th>${cells}</tr>`;
    })
    .join('');
  return (
    '<fieldset><legend>Topics</legend>' +
    '<p class="hint" id="locked-note">Account and security messages (transactional, security) always reach you.</p>' +
    `<table><tbody>${rows}</tbody></table></fieldset>`
  );
}

function workflowsSection(model: PageModel): string {
  if (model.workflows.length === 0) return '';
  const rows = model.workflows
    .map((row) => {
      const box = row.locked
        ? checkbox(row.name, true, `${row.label} (always on)`, ' disabled aria-describedby="locked-note"')
        : checkbox(row.name, row.on, row.label);
      const lock = row.locked ? ' <span class="locked">(always on)</span>' : '';
      return `<label>${box}${escapeHtml(row.label)}${lock}</label>`;
    })
    .join('');
  return `<fieldset><legend>Notifications</legend>${rows}</fieldset>`;
}

function quietHoursSection(model: PageModel, problem: FormProblem | null): string {
  const quiet = model.quietHours;
  const invalid = (field: string) =>
    problem?.field === field ? ' aria-invalid="true" aria-describedby="form-error"' : '';
  return (
    '<fieldset><legend>Quiet hours</legend>' +
    `<p class="hint">Email, SMS, push and chat wait until the window ends (times in ${escapeHtml(model.timezone)}); the in-app inbox still updates.</p>` +
    `<label><input type="checkbox" name="quiet" value="on"${quiet ? ' checked' : ''}>Hold notifications back during quiet hours</label>` +
    `<label>From <input type="time" name="quiet-start" value="${escapeHtml(quiet?.start ?? '22:00')}"${invalid('quiet-start')}></label>` +
    `<label>Until <input type="time" name="quiet-end" value="${escapeHtml(quiet?.end ?? '07:00')}"${invalid('quiet-end')}></label>` +
    '</fieldset>'
  );
}

/**
 * The preference form. It posts back to this route with the token in the body (the page's own
 * URL holds it too, but a form post keeps it out of request lines). No script: plain HTML works
 * in every mail client's browser and with every assistive technology.
 */
export function preferencePage(
  model: PageModel,
  token: string,
  notice: { saved?: boolean; problem?: FormProblem | null },
): string {
  const problem = notice.problem ?? null;
  const status = notice.saved ? '<p class="status" role="status">Your preferences are saved.</p>' : '';
  const error = problem
    ? `<p class="error" role="alert" id="form-error">${escapeHtml(problem.message)} Nothing was changed.</p>`
    : '';
  const nothing =
    model.channels.length + model.categories.length + model.workflows.length === 0
      ? '<p>There are no notifications to choose about yet.</p>'
      : '';
  return document(
    'Notification preferences',
    `${status}${error}${nothing}<form method="post" action="preferences-page">` +
      `<input type="hidden" name="token" value="${escapeHtml(token)}">` +
      channelsSection(model) +
      categoriesSection(model) +
      workflowsSection(model) +
      quietHoursSection(model, problem) +
      '<button type="submit">Save preferences</button></form>',
  );
}
