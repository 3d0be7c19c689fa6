// Baseline for tests/bench/mail_bench.py: what a team would write instead of
// hark-mailer.  For every message: fill the template's variables, render the
// Markdown with marked, wrap the HTML in templates/layout.html, and send a
// multipart/alternative (text + HTML) message through nodemailer's pooled
// SMTP transport.
//
//   node send.mjs --host 127.0.0.1 --port 2525 --count 5000 --connections 4 \
//        --per-connection 100 --template bench.md --layout layout.html
//
// Prints one line of JSON: messages/s from the first render to the last
// server answer, and how long rendering alone took.
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { marked } from 'marked';
import nodemailer from 'nodemailer';

function args() {
  const a = {
    host: '127.0.0.1', port: 25, count: 1000, connections: 4, perConnection: 100,
    window: 0, template: null, layout: null, from: 'shop@example.com',
    fromName: 'Hark Bench Shop', rcptDomain: 'example.com', timeoutMs: 30000,
  };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i].replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (!(k in a)) throw new Error('unknown option ' + argv[i]);
    a[k] = typeof a[k] === 'number' ? Number(argv[i + 1]) : argv[i + 1];
  }
  if (!a.window) a.window = a.connections * 16;
  return a;
}

const opt = args();

// The same template file Hark renders: front matter (subject, preheader),
// then the Markdown body.  {{var}} is replaced by the value with Markdown's
// punctuation backslash-escaped (as Hark's {{var}} does), {{{var}}} as is.
const src = readFileSync(opt.template, 'utf8');
const fm = /^---\n([\s\S]*?)\n---\n([\s\S]*)$/.exec(src);
if (!fm) throw new Error(opt.template + ': no front matter');
const meta = Object.fromEntries(fm[1].split('\n').map((l) => {
  const i = l.indexOf(':');
  return [l.slice(0, i).trim(), l.slice(i + 1).trim()];
}));
const bodyTemplate = fm[2].replace(/\n\{\{> *_footer\}\}\s*$/, '\n');
const layout = readFileSync(opt.layout, 'utf8');

const mdEscape = (s) => String(s).replace(/[\\`*_{}[\]()#+\-.!<>|~&]/g, '\\$&');
const htmlEscape = (s) => String(s).replace(/[&<>"']/g, (c) => (
  { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));

function fill(t, vars, escape) {
  return t.replace(/\{\{\{\s*(\w+)\s*\}\}\}|\{\{\s*(\w+)\s*\}\}/g, (_, raw, esc) => (
    raw ? String(vars[raw] ?? '') : escape(vars[esc] ?? '')));
}

function render(i) {
  const vars = {
    name: 'Customer ' + i, shop_name: 'Hark Bench Shop', order_number: 'A-' + (100000 + i),
    coupon_code: 'BENCH' + (0x10000 + i).toString(16).toUpperCase(), coupon_expires: '31 December',
    // as long as Hark's signed one-click link
    unsubscribe_url: 'http://127.0.0.1:8080/u/dTEyMzQ1QGV4YW1wbGUuY29tCmVuCg.' + i.toString(16).padStart(64, '0'),
  };
  const subject = fill(meta.subject, vars, String);
  const preheader = fill(meta.preheader || '', vars, String);
  const md = fill(bodyTemplate, vars, mdEscape) +
    '\n---\n\nWarm regards,\\\nthe ' + mdEscape(vars.shop_name) + ' team\n\n' +
    "Don't want these emails? [Unsubscribe](" + vars.unsubscribe_url + ')\n';
  const bodyHtml = marked.parse(md);
  const html = layout
    .replace('{{lang}}', 'en')
    .replace('{{subject}}', htmlEscape(subject))
    .replace('{{preheader}}', htmlEscape(preheader))
    .replace('{{{body_html}}}', bodyHtml);
  return {
    from: { name: opt.fromName, address: opt.from },
    to: { name: vars.name, address: 'u' + i + '@' + opt.rcptDomain },
    subject,
    text: md,
    html,
    headers: { 'List-Unsubscribe': '<' + vars.unsubscribe_url + '>' },
  };
}

// rendering alone, timed on a copy of the work (not part of the figure below)
let t = performance.now();
let bytes = 0;
const probe = Math.min(opt.count, 2000);
for (let i = 0; i < probe; i++) {
  const m = render(i);
  bytes += m.text.length + m.html.length;
}
const renderUs = ((performance.now() - t) * 1000) / probe;

const transport = nodemailer.createTransport({
  host: opt.host, port: opt.port, secure: false, ignoreTLS: true,
  pool: true, maxConnections: opt.connections, maxMessages: opt.perConnection,
  connectionTimeout: opt.timeoutMs, greetingTimeout: opt.timeoutMs, socketTimeout: opt.timeoutMs,
});

// the size of one message on the wire, as nodemailer builds it
const sample = await nodemailer.createTransport({ streamTransport: true, buffer: true })
  .sendMail(render(0));

let next = 0;
let done = 0;
let accepted = 0;
let failed = 0;
let firstError = null;
const t0 = performance.now();
await new Promise((resolve) => {
  const pump = () => {
    // keep `window` messages queued in the pool: enough to keep every
    // connection busy, without rendering all N before the first is sent
    while (next < opt.count && next - done < opt.window) {
      const i = next++;
      transport.sendMail(render(i)).then((info) => {
        if (info.accepted && info.accepted.length) accepted++;
        else failed++;
      }, (err) => {
        failed++;
        if (!firstError) firstError = String(err && err.message ? err.message : err);
      }).finally(() => {
        done++;
        if (done === opt.count) resolve();
        else pump();
      });
    }
  };
  pump();
});
const secs = (performance.now() - t0) / 1000;
transport.close();

console.log(JSON.stringify({
  tool: 'nodemailer', nodemailer: JSON.parse(readFileSync(new URL('./node_modules/nodemailer/package.json', import.meta.url))).version,
  marked: JSON.parse(readFileSync(new URL('./node_modules/marked/package.json', import.meta.url))).version,
  node: process.version, count: opt.count, accepted, failed, first_error: firstError,
  connections: opt.connections, per_connection: opt.perConnection, window: opt.window,
  seconds: Number(secs.toFixed(3)), messages_per_s: Number((accepted / secs).toFixed(1)),
  render_us_per_message: Number(renderUs.toFixed(1)),
  message_bytes: sample.message.length, text_html_chars: Math.round(bytes / probe),
}));
