// The widget's size and speed benchmark, run by `cargo xtask bench widget` (not a test: its name
// does not end in .test.mjs, so `node --test tests/browser/` leaves it alone).
//
// It measures the packaged widget (WIDGET_DIR, unpacked as Kommo hosts it) in headless Chromium on
// the Kommo-like host page, against the real backend and the emulator (stack.mjs), and writes a flat
// JSON object to RULEBOOK_BENCH_OUT:
// - wasm_gzip_kb: the app's wasm gzipped at level 9, as a static host would serve it precompressed;
// - first_render_ms: from script.js loaded (its resource timing's responseEnd) to the rules table
//   painted, on a cold cache, median of the runs;
// - editor_open_ms: from the click on a 30-block rule's name in that table to the builder painted
//   with its 30th block (fetching the rule included), median of the runs.
// "Painted" is the first task after the next animation frame: by then the browser has rendered the
// frame holding the change.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';

import { startStack } from '../stack.mjs';

const RUNS = Math.max(1, Number(process.env.BENCH_RUNS) || 7);
const BLOCKS = 30;
const OTHER_RULES = 9;
const BIG_NAME = 'Thirty blocks';
// How long one page may take to reach a measured state before the run is declared broken.
const STEP_TIMEOUT_MS = 60_000;

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the benchmark through \`cargo xtask bench widget\``);
  return value;
}

const round = (ms) => Math.round(ms * 10) / 10;

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

// The gzipped size of every .wasm under the app folder, in KB (1024 bytes).
function wasmSizes(widgetDir) {
  const app = path.join(widgetDir, 'app');
  const wasm = readdirSync(app).filter((f) => f.endsWith('.wasm'));
  if (wasm.length === 0) throw new Error(`no .wasm under ${app}`);
  let raw = 0;
  let gzip = 0;
  for (const file of wasm) {
    const bytes = readFileSync(path.join(app, file));
    raw += bytes.length;
    gzip += gzipSync(bytes, { level: 9 }).length;
  }
  const glue = readdirSync(app)
    .filter((f) => f.endsWith('.js'))
    .reduce((sum, f) => sum + gzipSync(readFileSync(path.join(app, f)), { level: 9 }).length, 0);
  return {
    wasm_kb: round(raw / 1024),
    wasm_gzip_kb: round(gzip / 1024),
    js_gzip_kb: round(glue / 1024),
  };
}

// A rule of `BLOCKS` blocks, each with two conditions and two actions, so opening it renders a
// builder as large as a real account's largest rules.
function bigRule() {
  const blocks = [];
  for (let i = 1; i <= BLOCKS; i += 1) {
    blocks.push({
      name: `Block ${i}`,
      conditions: [
        { left: { path: 'lead.name' }, op: { is: 'contains' }, right: { literal: `order ${i}` } },
        { join: 'and', left: { path: 'lead.price' }, op: { is: 'greater' }, right: { literal: i * 100 } },
      ],
      actions: [
        { do: { type: 'change_tags', entity: 'lead', change: 'add', tags: `tier-${i}` } },
        { do: { type: 'add_note', entity: 'lead', text: `Block ${i} matched {{lead.name}}` } },
      ],
    });
  }
  return { schema_version: 2, name: 'Bench', trigger: { kind: 'entity_updated', entity: 'lead' }, blocks };
}

function smallRule(i) {
  return {
    schema_version: 2,
    name: 'Small',
    trigger: { kind: 'entity_added', entity: 'lead' },
    blocks: [{ name: 'Tag it', conditions: [], actions: [
      { do: { type: 'change_tags', entity: 'lead', change: 'add', tags: `small-${i}` } },
    ] }],
  };
}

// Installed before any page script: stamps the moment the rules table is painted.
function watchRulesTable() {
  window.__bench = {};
  const observer = new MutationObserver(() => {
    if (!document.querySelector('[data-testid=rules] tbody tr')) return;
    observer.disconnect();
    window.__bench.rulesInDom = performance.now();
    requestAnimationFrame(() => setTimeout(() => {
      window.__bench.rulesPainted = performance.now();
    }, 0));
  });
  observer.observe(document, { childList: true, subtree: true });
}

// In the page: the time from script.js's arrival to the rules table painted.
async function firstRender(page) {
  await page.waitForFunction(() => window.__bench && window.__bench.rulesPainted, null, { timeout: STEP_TIMEOUT_MS });
  return page.evaluate(() => {
    const script = performance.getEntriesByType('resource').find((e) => /\/widget\/script\.js(\?|$)/.test(e.name));
    if (!script) throw new Error('script.js has no resource timing entry');
    return window.__bench.rulesPainted - script.responseEnd;
  });
}

// In the page: click the big rule's name and time it until the builder shows its last block painted.
async function editorOpen(page, ruleId, name, blocks) {
  return page.evaluate(({ ruleId, name, blocks, timeout }) => new Promise((resolve, reject) => {
    const link = [...document.querySelectorAll(`[data-testid=rules] tr[data-rule-id="${ruleId}"] a`)]
      .find((a) => a.textContent.trim() === name);
    if (!link) { reject(new Error(`no link for rule ${ruleId} in the rules table`)); return; }
    const done = () => document.querySelector(`form.rb-builder .rb-block-list > :nth-child(${blocks})`);
    let started = 0;
    const timer = setTimeout(() => {
      observer.disconnect();
      reject(new Error(`the builder did not show ${blocks} blocks within ${timeout} ms`));
    }, timeout);
    const observer = new MutationObserver(() => {
      if (!done()) return;
      observer.disconnect();
      requestAnimationFrame(() => setTimeout(() => {
        clearTimeout(timer);
        resolve(performance.now() - started);
      }, 0));
    });
    observer.observe(document, { childList: true, subtree: true });
    started = performance.now();
    link.click();
  }), { ruleId, name, blocks, timeout: STEP_TIMEOUT_MS });
}

async function main() {
  const out = required('RULEBOOK_BENCH_OUT');
  const widgetDir = required('WIDGET_DIR');
  const sizes = wasmSizes(widgetDir);
  const stack = await startStack();
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
    ],
  });
  const errors = [];
  try {
    // The account's rules, through the API as the widget calls it.
    for (let i = 1; i <= OTHER_RULES; i += 1) {
      await stack.api('POST', '/api/v1/rules', { name: `Small rule ${i}`, rule: smallRule(i) });
    }
    const bigId = (await stack.api('POST', '/api/v1/rules', { name: BIG_NAME, rule: bigRule() })).id;
    // Warm the backend and the emulator up; this load is not measured.
    const warm = await browser.newPage();
    await warm.goto(stack.page('advanced_settings'));
    await warm.locator('[data-testid=rules] tbody tr').first().waitFor({ timeout: STEP_TIMEOUT_MS });
    await warm.close();

    const first = [];
    const open = [];
    for (let run = 0; run < RUNS; run += 1) {
      // A fresh context each run: a cold HTTP cache, as on an admin's first visit.
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      await context.addInitScript(watchRulesTable);
      const page = await context.newPage();
      page.on('pageerror', (e) => errors.push(String(e)));
      await page.goto(stack.page('advanced_settings'));
      first.push(await firstRender(page));
      open.push(await editorOpen(page, bigId, BIG_NAME, BLOCKS));
      await context.close();
    }
    if (errors.length) throw new Error(`the page threw:\n${errors.join('\n')}`);
    const result = {
      ...sizes,
      first_render_ms: round(median(first)),
      editor_open_ms: round(median(open)),
      first_render_max_ms: round(Math.max(...first)),
      editor_open_max_ms: round(Math.max(...open)),
      runs: RUNS,
      blocks: BLOCKS,
    };
    writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
    console.log(`first render runs (ms): ${first.map(round).join(', ')}`);
    console.log(`editor open runs (ms): ${open.map(round).join(', ')}`);
  } finally {
    await browser.close();
    stack.stop();
  }
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
