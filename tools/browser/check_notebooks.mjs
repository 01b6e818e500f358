// The browser test of the notebook workflow (tools/env/test_browser.sh starts JupyterLab and calls this).
//
//   node check_notebooks.mjs --url http://127.0.0.1:PORT/ --dir DIR --out DIR [NOTEBOOK.ipynb ...]
//   (the server's token in the environment variable IOI_LAB_TOKEN; Chromium at IOI_CHROMIUM, default
//   /usr/bin/chromium)
//
// Opens each executed notebook in DIR (the copies the JupyterLab server serves) in headless Chromium
// with no kernel, waits until every rich output is rendered and checks it, grows the window to the
// whole notebook (a resize: charts must keep their height) and saves a screenshot to
// OUT/<notebook>.png; OUT/summary.json has every check.
//
// What is expected comes from the notebook file itself, so new notebooks need no change here. Per code
// cell and per output, by MIME type (the one JupyterLab picks, as its renderer ranks them):
//   application/vnd.plotly.v1+json  a Plotly chart drawn by JupyterLab's Plotly extension: an SVG
//                                   (.main-svg) of non-zero size with as many traces as the JSON has
//   text/html from ioi.display.AttentionView (root <div id="ioi-attn-...">): one grid per head, its
//                                   cells coloured, non-zero size
//   other text/html with a <table> (ioi.display.Tables, a Tablesaw Table): each table with all its
//                                   rows, non-zero size, its inline border-collapse style applied
//   text/html with a <progress> (ioi.display.ProgressBar): the bar, non-zero size
// Every code cell must have run, and a notebook with no outputs at all fails (not executed).
//
// The notebooks are opened untrusted, as anyone opening CI's or a colleague's executed notebook sees
// them: JupyterLab sanitizes text/html (inline styles survive, scripts do not) and draws Plotly JSON
// with its extension, which is a "safe" renderer. Everything checked here needs no script, so the
// notebooks are deliberately not marked trusted (`jupyter trust`): that would hide a regression to
// output that only renders when trusted. (The attention view's hover interaction is the one part that
// needs trust; it is not checked here.)
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';

const ATTENTION_HTML = /^\s*<div id="ioi-attn-/;
const PLOTLY = 'application/vnd.plotly.v1+json';
const VIEWPORT = { width: 1280, height: 900 };
const MAX_SCREENSHOT_HEIGHT = 16000;   // Chromium's texture limit is 16384 px

function parseArgs(argv) {
  const a = { notebooks: [], timeout: Number(process.env.IOI_BROWSER_TIMEOUT || 90) };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i];
    if (v === '--url') a.url = argv[++i];
    else if (v === '--dir') a.dir = argv[++i];
    else if (v === '--out') a.out = argv[++i];
    else if (v === '--timeout') a.timeout = Number(argv[++i]);
    else if (v.startsWith('--')) throw new Error(`unknown option ${v}`);
    else a.notebooks.push(v);
  }
  if (!a.url || !a.dir || !a.out) throw new Error('usage: check_notebooks.mjs --url URL --dir DIR --out DIR [NOTEBOOK...]');
  if (!a.url.endsWith('/')) a.url += '/';
  a.token = process.env.IOI_LAB_TOKEN || '';
  a.chromium = process.env.IOI_CHROMIUM || '/usr/bin/chromium';
  if (a.notebooks.length === 0) a.notebooks = fs.readdirSync(a.dir).filter(f => f.endsWith('.ipynb')).sort();
  if (a.notebooks.length === 0) throw new Error(`no executed notebooks (*.ipynb) in ${a.dir}`);
  return a;
}

const text = v => (Array.isArray(v) ? v.join('') : String(v ?? ''));

/** What the executed notebook must show, read from its outputs. */
export function expectations(nb) {
  const problems = [], expected = [], notRun = [];
  let outputs = 0;
  nb.cells.forEach((cell, index) => {
    if (cell.cell_type !== 'code') return;
    const tags = cell.metadata?.tags || [];
    if (cell.execution_count == null && !tags.includes('skip-execution') && text(cell.source).trim())
      notRun.push(index);
    for (const out of cell.outputs || []) {
      outputs++;
      const data = out.data || {};
      if (data[PLOTLY]) {
        const fig = data[PLOTLY];
        expected.push({ cell: index, kind: 'plotly', traces: (fig.data || []).length,
                        title: text(fig.layout?.title?.text ?? fig.layout?.title ?? '') });
      } else if (data['text/html']) {
        const html = text(data['text/html']);
        if (ATTENTION_HTML.test(html)) {
          const title = (html.match(/^\s*<div[^>]*><div[^>]*>([^<]*)<\/div>/) || [])[1] || '';
          expected.push({ cell: index, kind: 'attention', heads: (html.match(/<table data-head=/g) || []).length, title });
        } else {
          for (const t of html.split(/(?=<table[\s>])/).filter(t => /^<table[\s>]/.test(t))) {
            const caption = (t.match(/^<table[^>]*>\s*<caption[^>]*>([^<]*)</) || [])[1] || '';
            expected.push({ cell: index, kind: 'table', rows: (t.match(/<tr[\s>]/g) || []).length, title: caption,
                            collapse: /^<table[^>]*border-collapse:\s*collapse/.test(t) });
          }
          if (/<progress[\s>]/.test(html)) expected.push({ cell: index, kind: 'progress', title: '' });
        }
      }
    }
  });
  if (notRun.length) problems.push(`code cell${notRun.length > 1 ? 's' : ''} ${notRun.join(', ')} did not run`);
  if (outputs === 0) problems.push('no outputs at all: this is not an executed notebook');
  return { expected, problems };
}

/** Runs in the page: the state of every expected element, by cell. */
function inspect(expected) {
  // (runs in the page: no module-level names.) The sanitizer of untrusted output renames id to
  // data-jupyter-id; trusted output keeps the id.
  const ATTENTION_ROOT = '[data-jupyter-id^="ioi-attn-"], [id^="ioi-attn-"]';
  const cells = [...document.querySelectorAll('.jp-NotebookPanel .jp-Notebook .jp-Cell')];
  const dialog = document.querySelector('.jp-Dialog');
  const size = el => { const r = el.getBoundingClientRect(); return [Math.round(r.width), Math.round(r.height)]; };
  const nonEmpty = el => { const [w, h] = size(el); return w > 0 && h > 0; };
  const byCell = new Map();
  const results = expected.map(e => {
    const cell = cells[e.cell];
    if (!cell) return { ok: false, detail: `cell ${e.cell} is not in the page (${cells.length} cells rendered)` };
    const seen = byCell.get(e.cell) || { plotly: 0, table: 0, attention: 0, progress: 0 };
    byCell.set(e.cell, seen);
    const nth = seen[e.kind]++;
    const outputs = [...cell.querySelectorAll('.jp-OutputArea-output')];
    const shown = outputs.map(o => o.innerText.trim().replace(/\s+/g, ' ').slice(0, 160)).filter(Boolean);
    const what = shown.length ? `the cell's outputs show: ${shown.map(s => JSON.stringify(s)).join(', ')}` : 'the cell has no rendered output';
    if (e.kind === 'plotly') {
      const plots = cell.querySelectorAll('.jp-OutputArea-output.js-plotly-plot, .jp-RenderedPlotly');
      const plot = plots[nth];
      if (!plot) return { ok: false, detail: `no Plotly chart (.js-plotly-plot) drawn; ${what}` };
      const svg = plot.querySelector('svg.main-svg');
      if (!svg || !nonEmpty(svg)) return { ok: false, detail: `the Plotly chart has no .main-svg of non-zero size (${svg ? size(svg).join('x') : 'none'})` };
      const drawn = Array.isArray(plot._fullData) ? plot._fullData.length : plot.querySelectorAll('.trace').length;
      if (drawn < e.traces) return { ok: false, detail: `the Plotly chart drew ${drawn} of ${e.traces} traces` };
      return { ok: true, detail: `${size(svg).join('x')} px, ${drawn} traces`, height: size(svg)[1] };
    }
    if (e.kind === 'table') {
      const tables = [...cell.querySelectorAll('.jp-OutputArea-output table')].filter(t => !t.closest(ATTENTION_ROOT));
      const table = tables[nth];
      if (!table) return { ok: false, detail: `no table; ${what}` };
      const rows = table.querySelectorAll('tr').length, filled = [...table.querySelectorAll('td')].filter(td => td.textContent.trim()).length;
      if (!nonEmpty(table)) return { ok: false, detail: `the table has zero size (${size(table).join('x')})` };
      if (rows !== e.rows || filled === 0) return { ok: false, detail: `the table shows ${rows} of ${e.rows} rows, ${filled} non-empty cells` };
      if (e.collapse && getComputedStyle(table).borderCollapse !== 'collapse') return { ok: false, detail: 'the table lost its inline styles (border-collapse is not collapse)' };
      return { ok: true, detail: `${rows} rows, ${size(table).join('x')} px` };
    }
    if (e.kind === 'progress') {
      const bar = cell.querySelectorAll('.jp-OutputArea-output progress')[nth];
      if (!bar) return { ok: false, detail: `no progress bar (<progress>); ${what}` };
      if (!nonEmpty(bar)) return { ok: false, detail: `the progress bar has zero size (${size(bar).join('x')})` };
      return { ok: true, detail: `${bar.value}/${bar.max}, ${size(bar).join('x')} px` };
    }
    const views = [...cell.querySelectorAll('.jp-OutputArea-output > *')].filter(el => el.matches(ATTENTION_ROOT));
    const view = views[nth];
    if (!view) return { ok: false, detail: `no attention view ([data-jupyter-id^=ioi-attn-]); ${what}` };
    if (!nonEmpty(view)) return { ok: false, detail: `the attention view has zero size (${size(view).join('x')})` };
    const grids = [...view.querySelectorAll('table')];
    if (grids.length !== e.heads) return { ok: false, detail: `the attention view shows ${grids.length} of ${e.heads} head grids` };
    const white = new Set(['rgba(0, 0, 0, 0)', 'rgb(255, 255, 255)', 'transparent']);
    const coloured = grids.map(g => [...g.querySelectorAll('td')].filter(td => !white.has(getComputedStyle(td).backgroundColor)).length);
    if (coloured.some(n => n === 0) || grids.some(g => !nonEmpty(g)))
      return { ok: false, detail: `an attention grid is blank or has zero size (coloured cells per head: ${coloured.join(', ')})` };
    return { ok: true, detail: `${grids.length} head grid(s), ${coloured.reduce((a, b) => a + b, 0)} coloured cells, ${size(view).join('x')} px` };
  });
  return {
    cells: cells.length,
    dialog: dialog ? dialog.innerText.split('\n')[0] : null,
    results,
  };
}

async function dismissKernelDialog(page) {
  // test_browser.sh starts JupyterLab with notebook_starts_kernel=False and no kernelspec, so no
  // dialog is expected; should a JupyterLab version still ask which kernel to start: "No Kernel".
  const button = page.locator('.jp-Dialog button', { hasText: 'No Kernel' });
  if (await button.count()) { await button.first().click(); return true; }
  return false;
}

/** Grows the viewport to the notebook's full height: JupyterLab's page never scrolls, the notebook
 * does (inside .jp-WindowedPanel-outer), so one screenshot then holds the whole notebook. */
async function growViewport(page) {
  const extra = await page.evaluate(() => {
    const outer = document.querySelector('.jp-NotebookPanel .jp-WindowedPanel-outer');
    return outer ? Math.max(0, outer.scrollHeight - outer.clientHeight) : 0;
  });
  const height = Math.min(VIEWPORT.height + extra, MAX_SCREENSHOT_HEIGHT);
  await page.setViewportSize({ width: VIEWPORT.width, height });
  return { height, truncated: VIEWPORT.height + extra > MAX_SCREENSHOT_HEIGHT };
}

async function checkNotebook(browser, args, name) {
  const started = Date.now();
  const nb = JSON.parse(fs.readFileSync(path.join(args.dir, name), 'utf8'));
  const { expected, problems } = expectations(nb);
  const context = await browser.newContext({ viewport: VIEWPORT });
  const page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', e => pageErrors.push(e.message));
  const stem = name.replace(/\.ipynb$/, '');
  const screenshot = path.join(args.out, `${stem}.png`);
  let state = null, shot = null;
  try {
    // /doc/ is JupyterLab's single-document mode (no file browser); ?reset starts from an empty workspace.
    const url = `${args.url}doc/tree/${encodeURIComponent(name)}?reset&token=${encodeURIComponent(args.token)}`;
    await page.goto(url, { waitUntil: 'domcontentloaded', timeout: args.timeout * 1000 });
    const deadline = Date.now() + args.timeout * 1000;
    let allOkSince = null;
    for (;;) {
      await dismissKernelDialog(page);
      state = await page.evaluate(inspect, expected);
      const ok = state.cells === nb.cells.length && !state.dialog && state.results.every(r => r.ok);
      // Done once everything has been rendered for a second (no late dialog, no re-render pending).
      if (ok) {
        allOkSince ??= Date.now();
        if (Date.now() - allOkSince >= 1000) break;
      } else allOkSince = null;
      if (Date.now() > deadline) break;
      await page.waitForTimeout(250);
    }
    // Growing the window for the screenshot is also a resize test: JupyterLab re-lays out every
    // output, and a chart must keep its height, as when a person resizes the browser window. (Plotly
    // config.responsive without a CSS height on the chart's div collapsed charts to ~30 px here.)
    if (state.results.every(r => r.ok)) {
      const before = state.results.map(r => r.height);
      shot = await growViewport(page);
      const settle = Date.now() + 4000;
      for (;;) {
        await page.waitForTimeout(500);
        state = await page.evaluate(inspect, expected);
        state.results.forEach((r, i) => {
          if (r.ok && before[i] && r.height < 0.9 * before[i])
            Object.assign(r, { ok: false, detail: `the chart shrank from ${before[i]} to ${r.height} px high when the window was resized` });
        });
        if (state.results.every(r => r.ok) || Date.now() > settle) break;
      }
    } else shot = await growViewport(page);
    await page.waitForTimeout(300);
    await page.screenshot({ path: screenshot });
  } catch (err) {
    problems.push(`the page failed: ${err.message.split('\n')[0]}`);
    try { await page.screenshot({ path: screenshot }); } catch { /* best effort */ }
  } finally {
    await context.close();
  }
  if (state) {
    if (state.cells !== nb.cells.length) problems.push(`${state.cells} of ${nb.cells.length} cells rendered`);
    if (state.dialog) problems.push(`a dialog is still open: "${state.dialog}"`);
    state.results.forEach((r, i) => {
      const e = expected[i];
      if (!r.ok) problems.push(`cell ${e.cell}: ${e.kind}${e.title ? ` "${e.title}"` : ''} missing or empty: ${r.detail}`);
    });
  }
  return {
    notebook: name, ok: problems.length === 0, seconds: Math.round((Date.now() - started) / 100) / 10,
    expected: Object.fromEntries(['plotly', 'table', 'attention', 'progress'].map(k => [k, expected.filter(e => e.kind === k).length])),
    problems, screenshot, screenshotHeight: shot?.height ?? null, screenshotTruncated: shot?.truncated ?? null,
    checks: (state?.results || []).map((r, i) => ({ ...expected[i], ok: r.ok, detail: r.detail })),
    pageErrors,
  };
}

async function waitForServer(args) {
  const deadline = Date.now() + 60_000;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${args.url}api/status`, { headers: { Authorization: `token ${args.token}` } });
      if (res.ok) return;
      last = `HTTP ${res.status}`;
    } catch (err) { last = err.cause?.code || err.message; }
    await new Promise(r => setTimeout(r, 250));
  }
  throw new Error(`JupyterLab at ${args.url} did not answer within 60 s (${last})`);
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (!fs.existsSync(args.chromium)) throw new Error(`no Chromium at ${args.chromium} (apt-get install chromium, or set IOI_CHROMIUM)`);
  fs.mkdirSync(args.out, { recursive: true });
  await waitForServer(args);
  const browser = await chromium.launch({
    executablePath: args.chromium, headless: true,
    args: ['--disable-dev-shm-usage', '--disable-gpu', '--no-first-run', '--disable-extensions'],
  });
  const results = [];
  try {
    for (const [i, name] of args.notebooks.entries()) {
      const r = await checkNotebook(browser, args, name);
      results.push(r);
      const counts = Object.entries(r.expected).map(([k, n]) => `${n} ${k}`).join(', ');
      if (r.ok) console.log(`[${i + 1}/${args.notebooks.length}] ok   ${name} (${r.seconds} s; ${counts}) -> ${r.screenshot}`);
      else {
        console.log(`[${i + 1}/${args.notebooks.length}] FAIL ${name} (${r.seconds} s; expected ${counts}) -> ${r.screenshot}`);
        for (const p of r.problems) console.log(`      ${name}: ${p}`);
      }
      if (r.pageErrors.length) console.log(`      page errors: ${r.pageErrors.slice(0, 3).join(' | ')}`);
    }
  } finally {
    await browser.close();
  }
  // Viewing needs no kernel, and test_browser.sh lets none start: say so if one did all the same.
  const kernels = await (await fetch(`${args.url}api/kernels`, { headers: { Authorization: `token ${args.token}` } })).json();
  if (kernels.length) console.log(`      note: ${kernels.length} kernel(s) were started while viewing: ${kernels.map(k => k.name).join(', ')}`);
  fs.writeFileSync(path.join(args.out, 'summary.json'),
    JSON.stringify({ url: args.url, kernelsStarted: kernels.length, notebooks: results }, null, 1) + '\n');
  const failed = results.filter(r => !r.ok).length;
  const checked = results.reduce((n, r) => n + r.checks.length, 0);
  if (results.length && checked === 0) {
    console.log('browser: no chart, table, attention view or progress bar in any notebook: nothing was checked');
    console.log(`browser: 0 passed, ${results.length} failed`);
    return 1;
  }
  console.log(`browser: ${results.length - failed} passed, ${failed} failed`);
  return failed ? 1 : 0;
}

// Interrupted (test_browser.sh's trap, Ctrl-C): stop at once; Playwright kills its Chromium on exit.
for (const signal of ['SIGINT', 'SIGTERM'])
  process.on(signal, () => { console.log(`check_notebooks: ${signal}, stopping`); process.exit(130); });

main().then(code => process.exit(code), err => {
  console.error(`check_notebooks: ${err.message}`);
  console.log('browser: 0 passed, 1 failed');
  process.exit(1);
});
