// The list dialogs (`llist`, `clist`), driven as an admin would: rows ticked in Kommo's list, Rulebook
// chosen in the list's menu, a rule picked and run. The dialog follows the launch with a progress bar
// up to 100% and ends with a summary of the runs done, skipped and in error, the errors listed; a
// bulk run over 200 leads; contacts and companies from the contacts list; a running launch cancelled;
// screenshots of the dialog running and finished in four languages, light and dark.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';

import { startStack } from './stack.mjs';

const SCREENSHOTS = process.env.SCREENSHOT_DIR || 'target/screenshots';
const texts = (lang) => JSON.parse(readFileSync(new URL(`../../i18n/${lang}.json`, import.meta.url)));
const T = texts('en').ui;
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

// Creates leads through Kommo's API, 50 to a request (Kommo's batch size), one request at a time, so
// the account's 7 requests per second are never exceeded; answers their ids in order.
async function createLeads(names) {
  const ids = [];
  for (let i = 0; i < names.length; i += 50) {
    const created = await stack.kommo('POST', '/api/v4/leads', names.slice(i, i + 50).map((name) => ({ name })));
    ids.push(...created._embedded.leads.map((l) => l.id));
  }
  return ids;
}

// Saves an enabled rule through our API.
async function rule(name, definition) {
  const created = await stack.api('POST', '/api/v1/rules', { name, rule: { schema_version: 2, name, ...definition } });
  if (!created.enabled) await stack.api('POST', `/api/v1/rules/${created.id}/enable`, {});
  return created.id;
}

// A list page with every row ticked and Rulebook chosen in the list's menu: the dialog.
async function openDialog(location, query, { lang = 'en', theme = 'light' } = {}) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(stack.page(location, { ...query, lang, theme }));
  await page.getByRole('checkbox', { name: 'Select all' }).check();
  await page.getByRole('button', { name: 'More…' }).click();
  await page.getByRole('link', { name: texts(lang).widget.name, exact: true }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByRole('heading').first().waitFor();
  return { page, errors, dialog };
}

// Picks the rule and presses Run; answers the launch id the backend gave.
async function run(page, dialog, L, ruleName, count) {
  await dialog.getByLabel(L.bulk_rule, { exact: true }).selectOption({ label: ruleName });
  const [answer] = await Promise.all([
    page.waitForResponse((r) => /\/api\/v1\/rules\/\d+\/run$/.test(r.url())),
    dialog.getByRole('button', { name: `${L.bulk_run} (${count})` }).click(),
  ]);
  assert.equal(answer.status(), 202);
  return (await answer.json()).launch_id;
}

async function progressOf(dialog) {
  return Number(await dialog.getByRole('progressbar').getAttribute('aria-valuenow'));
}

// Waits until the progress bar says 100%, for at most `ms`.
async function untilFinished(page, ms) {
  await page.waitForFunction(
    () => document.querySelector('.rulebook-dialog [role=progressbar]')?.getAttribute('aria-valuenow') === '100',
    null,
    { timeout: ms, polling: 250 },
  );
}

test('a bulk run over 200 selected leads shows a progress bar that reaches 100% and a summary of 200 done', async () => {
  const ids = await createLeads(Array.from({ length: 200 }, (_, i) => `Bulk lead ${i + 1}`));
  const name = 'Mark as reviewed';
  await rule(name, { trigger: { kind: 'manual', entity: 'lead' }, blocks: [{ name: 'Every lead', conditions: [], actions: [] }] });

  const { page, errors, dialog } = await openDialog('llist', { lead_ids: ids.join(',') });
  assert.match(await dialog.getByTestId('bulk-count').textContent(), /: 200$/);
  const launchId = await run(page, dialog, T, name, 200);
  const bar = dialog.getByRole('progressbar', { name: T.bulk_progress });
  await bar.waitFor();
  const seen = new Set();
  // The bar moves while the runs go on (the account's rate limit paces them), then reaches 100%.
  const deadline = Date.now() + 240_000;
  while (Date.now() < deadline) {
    const now = await progressOf(dialog);
    seen.add(now);
    if (now === 100) break;
    await page.waitForTimeout(500);
  }
  assert.equal(await progressOf(dialog), 100, `the bar reached ${[...seen].join(', ')}`);
  assert.ok([...seen].some((p) => p > 0 && p < 100), `the bar showed progress on the way: ${[...seen].join(', ')}`);
  await dialog.getByRole('heading', { name: T.bulk_summary }).waitFor();
  assert.equal(await dialog.getByTestId('launch-done').textContent(), '200');
  assert.equal(await dialog.getByTestId('launch-skipped').textContent(), '0');
  assert.equal(await dialog.getByTestId('launch-failed').textContent(), '0');
  assert.equal(await dialog.getByRole('button', { name: T.bulk_cancel }).count(), 0, 'a finished launch cannot be cancelled');
  const launch = await stack.api('GET', `/api/v1/launches/${launchId}`);
  assert.deepEqual([launch.total, launch.done, launch.pending], [200, 200, 0]);
  await page.screenshot({ path: path.join(SCREENSHOTS, 'lists_bulk_200_leads.png'), fullPage: true });
  assert.deepEqual(errors, []);
  await page.close();
});

test('contacts and companies run from the contacts list', async () => {
  const contacts = await stack.kommo('POST', '/api/v4/contacts', [{ name: 'Dana Contact' }, { name: 'Eli Contact' }]);
  const companies = await stack.kommo('POST', '/api/v4/companies', [{ name: 'Fjord Ltd' }]);
  const contactIds = contacts._embedded.contacts.map((c) => c.id);
  const companyId = companies._embedded.companies[0].id;
  await rule('Company check', {
    trigger: { kind: 'manual', entity: 'company' },
    blocks: [{ name: 'Note', conditions: [], actions: [{ do: { type: 'add_note', entity: 'company', text: 'Checked {{company.name}}' } }] }],
  });
  // A rule of the "updated" kind runs by hand too, as the Triggers manual allows.
  await rule('Contact touched', {
    trigger: { kind: 'entity_updated', entity: 'contact' },
    blocks: [{ name: 'Always', conditions: [], actions: [] }],
  });

  const { page, errors, dialog } = await openDialog('clist', { contact_ids: contactIds.join(','), company_ids: String(companyId) });
  assert.equal(await dialog.getByRole('heading', { level: 2 }).textContent(), T.bulk_title_mixed);
  // Contacts first: the "updated" rule is offered for them.
  await dialog.getByLabel(T.bulk_rule, { exact: true }).locator('option', { hasText: 'Contact touched' }).waitFor({ state: 'attached' });
  await dialog.getByLabel(T.bulk_entity).selectOption({ label: `${T.bulk_entity_companies} (1)` });
  await run(page, dialog, T, 'Company check', 1);
  await untilFinished(page, 60_000);
  await dialog.getByRole('heading', { name: T.bulk_summary }).waitFor();
  assert.equal(await dialog.getByTestId('launch-done').textContent(), '1');
  const notes = await stack.kommo('GET', `/api/v4/companies/${companyId}/notes`);
  assert.deepEqual(notes._embedded.notes.map((n) => n.params.text), ['Checked Fjord Ltd']);
  await page.screenshot({ path: path.join(SCREENSHOTS, 'lists_contacts_and_companies.png'), fullPage: true });
  assert.deepEqual(errors, []);
  await page.close();
});

test('a running bulk run is cancelled from the dialog', async () => {
  const ids = await createLeads(Array.from({ length: 12 }, (_, i) => `Cancel me ${i + 1}`));
  const name = 'Slow review';
  await rule(name, { trigger: { kind: 'manual', entity: 'lead' }, blocks: [{ name: 'Every lead', conditions: [], actions: [] }] });
  // Kommo answers slowly, so the runs are still waiting when Cancel is pressed.
  await stack.control('POST', '/accounts/acme/faults', { kind: 'latency', ms: 1500, method: 'GET', count: 6 });
  const { page, errors, dialog } = await openDialog('llist', { lead_ids: ids.join(',') });
  const launchId = await run(page, dialog, T, name, 12);
  await dialog.getByRole('button', { name: T.bulk_cancel }).click();
  await untilFinished(page, 60_000);
  await dialog.getByText(T.bulk_cancelled).waitFor();
  const launch = await stack.api('GET', `/api/v1/launches/${launchId}`);
  assert.ok(launch.cancelled);
  assert.ok(launch.skipped > 0, `some runs were cancelled: ${JSON.stringify(launch)}`);
  assert.equal(launch.done + launch.skipped + launch.failed, 12);
  assert.equal(await dialog.getByTestId('launch-skipped').textContent(), String(launch.skipped));
  assert.match(await dialog.getByTestId('launch-skips').textContent(), new RegExp(T.launch_reason_cancelled));
  await page.screenshot({ path: path.join(SCREENSHOTS, 'lists_cancelled.png'), fullPage: true });
  assert.deepEqual(errors, []);
  await page.close();
});

test('the dialog running and finished, in four languages, light and dark', async () => {
  const name = 'VIP follow-up';
  await rule(name, {
    trigger: { kind: 'manual', entity: 'lead' },
    blocks: [{ name: 'VIP', conditions: [{ left: { path: 'lead.name' }, op: { is: 'contains' }, right: { literal: 'VIP' } }], actions: [] }],
  });
  let missing = 990_000;
  for (const lang of ['en', 'es', 'pt', 'ru']) {
    for (const theme of ['light', 'dark']) {
      const L = texts(lang).ui;
      const ids = await createLeads([`VIP ${lang} ${theme} 1`, `VIP ${lang} ${theme} 2`, `Plain ${lang} ${theme}`]);
      ids.push((missing += 1)); // a lead Kommo does not have: its run fails
      // Kommo answers slowly for a moment, so the dialog is caught running.
      await stack.control('POST', '/accounts/acme/faults', { kind: 'latency', ms: 1500, method: 'GET', count: 2 });
      const { page, errors, dialog } = await openDialog('llist', { lead_ids: ids.join(',') }, { lang, theme });
      await run(page, dialog, L, name, 4);
      await dialog.getByRole('progressbar', { name: L.bulk_progress }).waitFor();
      await dialog.getByTestId('launch-done').waitFor();
      assert.ok((await progressOf(dialog)) < 100, `${lang} ${theme}: caught running`);
      await page.screenshot({ path: path.join(SCREENSHOTS, `lists_running_${lang}_${theme}.png`), fullPage: true });
      await untilFinished(page, 60_000);
      await dialog.getByRole('heading', { name: L.bulk_summary }).waitFor();
      assert.equal(await dialog.getByTestId('launch-done').textContent(), '2', `${lang} ${theme}`);
      assert.equal(await dialog.getByTestId('launch-skipped').textContent(), '1', `${lang} ${theme}`);
      assert.equal(await dialog.getByTestId('launch-failed').textContent(), '1', `${lang} ${theme}`);
      assert.match(await dialog.getByTestId('launch-skips').textContent(), new RegExp(L.launch_reason_did_not_match));
      assert.match(await dialog.getByTestId('launch-errors').textContent(), new RegExp(`#${missing}`));
      if (theme === 'dark') {
        const background = await page.locator('.rulebook-dialog__box').evaluate((e) => getComputedStyle(e).backgroundColor);
        assert.notEqual(background, 'rgb(255, 255, 255)', `${lang}: the dialog follows the dark theme`);
      }
      await page.screenshot({ path: path.join(SCREENSHOTS, `lists_summary_${lang}_${theme}.png`), fullPage: true });
      // Escape closes the dialog: a keyboard path out.
      await page.keyboard.press('Escape');
      await dialog.waitFor({ state: 'detached' });
      assert.deepEqual(errors, [], `${lang} ${theme}`);
      await page.close();
    }
  }
});
