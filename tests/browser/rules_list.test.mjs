// The rules list, driven as an admin would: a rule is duplicated, exported, deleted and imported back.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';

import { startStack } from './stack.mjs';

const SCREENSHOTS = process.env.SCREENSHOT_DIR || 'target/screenshots';
const T = JSON.parse(readFileSync(new URL('../../i18n/en.json', import.meta.url))).ui;
let stack;
let browser;

before(async () => {
  mkdirSync(SCREENSHOTS, { recursive: true });
  stack = await startStack();
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-quic'],
  });
});

after(async () => {
  await browser?.close();
  stack?.stop();
});

const RULE = {
  schema_version: 2,
  name: 'Tag hot leads',
  trigger: { kind: 'status_changed', pipeline_id: 7001, status_id: 7102, entry: 'created_or_moved' },
  blocks: [{
    id: 1, name: 'If big', conditions: [{ left: { path: 'lead.price' }, op: { is: 'greater' }, right: { literal: 1000 } }],
    actions: [{ id: 1, do: { type: 'change_tags', entity: 'lead', change: 'add', tags: 'hot' } }],
  }],
};

test('a rule is duplicated, exported, deleted and imported back equal and disabled', async () => {
  const created = await stack.api('POST', '/api/v1/rules', { name: RULE.name, rule: RULE });
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('dialog', (d) => d.accept());
  await page.goto(stack.page('advanced_settings'));
  const row = page.getByRole('row', { name: new RegExp(RULE.name) }).first();
  await row.waitFor();
  // The trigger reads in words and links to the rule's runs.
  assert.match(await row.textContent(), new RegExp(T.rules_runs));

  await page.getByRole('button', { name: `${T.rules_duplicate} «${RULE.name}»` }).click();
  const copyName = `${RULE.name} (copy)`;
  await page.getByRole('row', { name: new RegExp(copyName.replace(/[()]/g, '\\$&')) }).waitFor();
  await page.screenshot({ path: path.join(SCREENSHOTS, 'rules_list.png'), fullPage: true });

  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: `${T.rules_export} «${RULE.name}»` }).click(),
  ]);
  const file = await download.path();
  const exported = JSON.parse(readFileSync(file, 'utf8'));
  assert.equal(exported.rules.length, 1);

  await page.getByRole('button', { name: `${T.rules_delete} «${RULE.name}»` }).click();
  await page.getByRole('link', { name: RULE.name, exact: true }).waitFor({ state: 'detached' });
  let rules = await stack.api('GET', '/api/v1/rules');
  assert.ok(!rules.some((r) => r.id === created.id), 'the rule is gone');

  await page.getByLabel(T.rules_import).setInputFiles(file);
  const preview = page.getByRole('region', { name: T.rules_import_preview });
  await preview.waitFor();
  assert.match(await preview.textContent(), new RegExp(RULE.name));
  await preview.getByRole('button', { name: T.rules_import_confirm }).click();
  await preview.waitFor({ state: 'detached' });

  rules = await stack.api('GET', '/api/v1/rules');
  const back = rules.find((r) => r.name === RULE.name);
  assert.ok(back, 'the imported rule is listed under its name');
  assert.equal(back.enabled, false, 'an imported rule starts disabled');
  const record = await stack.api('GET', `/api/v1/rules/${back.id}`);
  const strip = (r) => ({ ...r, enabled: undefined });
  assert.deepEqual(strip(record.rule), strip(created.rule), 'the imported definition equals the original');
  assert.deepEqual(errors, []);
  await page.close();
});

test('a variable is created, edited to 30,000 characters (30,001 refused at the field) and deleted; statistics show', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('dialog', (d) => d.accept());
  await page.goto(stack.page('advanced_settings'));
  await page.getByRole('tab', { name: T.tab_variables, exact: true }).click();
  await page.getByText(T.variables_empty).waitFor();
  await page.getByRole('button', { name: T.variables_new, exact: true }).click();
  const form = page.getByRole('form', { name: T.variables_edit });
  await form.getByLabel(T.variable_name, { exact: true }).fill('missed_calls');
  const value = form.getByLabel(T.variable_value, { exact: true });
  await value.fill('0');
  await form.getByRole('button', { name: T.rule_save, exact: true }).click();
  await page.getByRole('cell', { name: '{missed_calls}', exact: true }).waitFor();

  await page.getByRole('button', { name: `${T.variables_edit} {missed_calls}` }).click();
  await value.fill('x'.repeat(30001));
  assert.equal(await value.getAttribute('aria-invalid'), 'true', '30,001 characters are refused at the field');
  assert.ok(await form.getByRole('button', { name: T.rule_save, exact: true }).isDisabled());
  await value.fill('x'.repeat(30000));
  assert.equal(await value.getAttribute('aria-invalid'), null);
  await page.screenshot({ path: path.join(SCREENSHOTS, 'variables.png'), fullPage: true });
  await form.getByRole('button', { name: T.rule_save, exact: true }).click();
  await form.waitFor({ state: 'detached' });
  assert.equal((await stack.api('GET', '/api/v1/variables/missed_calls')).value.length, 30000);

  await page.getByRole('button', { name: `${T.variables_delete} {missed_calls}` }).click();
  await page.getByText(T.variables_empty).waitFor();

  await page.getByRole('tab', { name: T.tab_statistics, exact: true }).click();
  await page.getByText(T.stats_queue).waitFor();
  await page.getByRole('img', { name: T.stats_chart }).waitFor();
  await page.screenshot({ path: path.join(SCREENSHOTS, 'statistics.png'), fullPage: true });
  assert.deepEqual(errors, []);
  await page.close();
});
