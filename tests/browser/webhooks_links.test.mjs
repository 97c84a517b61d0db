// The Webhooks and Links tabs, driven by role and label as an admin would: a receiver is created, a
// nested JSON POST to its URL shows as flattened variables within a second, its request opens a new
// rule with the request as the preview's sample, the receiver is renamed, rotated (the old URL gets
// 404) and deleted; an auto link created in the Links tab is written into a note through its
// variable by a rule, and opening it runs its rule. Members are told the tabs are for admins.
// Screenshots of both tabs in every language, light and dark.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';

import { startStack } from './stack.mjs';

const SCREENSHOTS = process.env.SCREENSHOT_DIR || 'target/screenshots';
const texts = (lang) => JSON.parse(readFileSync(new URL(`../../i18n/${lang}.json`, import.meta.url))).ui;
const T = texts('en');
const exact = { exact: true };
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

// The settings page in a context that may use the clipboard, with every dialog accepted.
async function settings(overrides = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: stack.hostUrl });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('dialog', (d) => d.accept());
  await page.goto(stack.page('advanced_settings', overrides));
  return { page, errors, close: () => context.close() };
}

// One read of the emulated Kommo after our backend's work is done (stack.kommo waits out a 429).
const kommoRead = (apiPath) => stack.kommo('GET', apiPath);

const clipboard = (page) => page.evaluate(() => navigator.clipboard.readText());

// Asks our API (never Kommo) until `check` gives a value, a bounded number of times.
async function eventually(what, check, rounds = 100) {
  for (let i = 0; i < rounds; i++) {
    const value = await check();
    if (value) return value;
    await new Promise((r) => setTimeout(r, 150));
  }
  assert.fail(`timed out waiting for ${what}`);
}

// A rule's runs as our API lists them, once one has ended `ok`.
const okRun = (ruleId) => eventually(`a run of rule ${ruleId}`, async () => {
  const log = await stack.api('GET', `/api/v1/rules/${ruleId}/log`);
  return log.find((run) => run.outcome === 'ok');
});

const okRuns = async (ruleId) => (await stack.api('GET', `/api/v1/rules/${ruleId}/log`)).filter((run) => run.outcome === 'ok');

const manualRule = (name, actions) => stack.api('POST', '/api/v1/rules', {
  name,
  rule: { schema_version: 2, name, trigger: { kind: 'manual', entity: 'lead' }, blocks: [{ id: 1, name: 'Do it', conditions: [], actions }] },
});

test('a receiver shows a nested JSON POST as flattened variables within a second, opens a new rule with it, and is renamed, rotated and deleted', async () => {
  const { page, errors, close } = await settings();
  await page.getByRole('tab', { name: T.tab_webhooks, ...exact }).click();
  await page.getByText(T.webhooks_empty).waitFor();

  await page.getByRole('button', { name: T.webhooks_new, ...exact }).click();
  const form = page.getByRole('form', { name: T.webhooks_new });
  await form.getByLabel(T.webhooks_name, exact).fill('Site orders');
  await form.getByRole('button', { name: T.webhooks_create, ...exact }).click();
  const urlBox = page.getByRole('textbox', { name: `${T.webhooks_url_of} «Site orders»` });
  await urlBox.waitFor();
  const url = await urlBox.inputValue();
  assert.match(url, /\/hooks\/in\/31000042\/r\d+-\S+$/);
  await page.getByRole('button', { name: `${T.webhooks_copy_url} «Site orders»` }).click();
  await page.getByRole('status').filter({ hasText: T.copy_done }).first().waitFor();
  assert.equal(await clipboard(page), url, 'the copy button copies the URL');
  // The empty log says what to send.
  await page.getByText(T.webhooks_no_requests).waitFor();

  const body = {
    customer: { first_name: 'Ann', address: { city: 'Porto', zip: '4000-001' } },
    items: [{ sku: 'A1', qty: 2 }],
    paid: true,
  };
  const answer = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  assert.ok(answer.ok, `the receiver accepts the POST (${answer.status})`);
  const answered = Date.now();
  const copyCity = page.getByRole('button', { name: `${T.webhooks_copy_var} {customer_address_city}` });
  await copyCity.waitFor({ timeout: 1000 });
  const shownAfter = Date.now() - answered;
  assert.ok(shownAfter <= 1000, `the variables showed ${shownAfter} ms after the POST`);
  console.log(`the POST's variables showed ${shownAfter} ms after its answer`);

  const tree = page.getByRole('list', { name: new RegExp(`^${T.webhooks_variables} · `) });
  const shown = await tree.innerText();
  for (const expected of ['{customer_first_name}', 'Ann', '{customer_address_city}', 'Porto', '{customer_address_zip}',
    '{items_0_sku}', 'A1', '{items_0_qty}', '2', '{paid}', 'true', '{webhook_data}']) {
    assert.ok(shown.includes(expected), `the tree shows ${expected}:\n${shown}`);
  }
  // Nested keys are nested: the city sits under "address", under "customer".
  const city = tree.getByRole('listitem').filter({ has: page.getByText('{customer_address_city}', exact) }).last();
  const branches = await city.evaluate((li) => {
    const keys = [];
    for (let n = li.parentElement.closest('li'); n?.closest('.rb-var-tree'); n = n.parentElement.closest('li')) {
      keys.push(n.querySelector(':scope > .rb-var-key').textContent);
    }
    return keys;
  });
  assert.deepEqual(branches, ['address', 'customer']);
  await copyCity.click();
  await eventually('the variable on the clipboard', async () => (await clipboard(page)) === '{customer_address_city}');
  await page.screenshot({ path: path.join(SCREENSHOTS, 'webhooks.png'), fullPage: true });

  // "Use in a new rule": the builder on an inbound-webhook rule for this receiver, previewing with the request.
  const request = page.getByRole('listitem', { name: new RegExp(`^${T.webhooks_request} #\\d+$`) }).first();
  await request.getByRole('button', { name: T.webhooks_use, ...exact }).click();
  const builder = page.getByRole('form', { name: T.builder_title });
  const trigger = builder.getByRole('region', { name: T.builder_trigger, ...exact });
  const receiver = trigger.getByLabel(T.trg_receiver, exact);
  await receiver.waitFor();
  assert.equal(await receiver.locator('option:checked').textContent(), 'Site orders');
  assert.equal(await trigger.getByLabel(T.trg_kind, exact).inputValue(), 'inbound_webhook');
  const block = builder.locator('.rb-block').first();
  await block.getByLabel(T.act_add_kind).selectOption('add_note');
  await block.getByRole('button', { name: T.act_add, ...exact }).click();
  await block.getByLabel(T.act_note_text, exact).fill('Order from {customer_first_name} in {customer_address_city}');
  await builder.getByText('Order from Ann in Porto').waitFor();
  assert.ok((await builder.textContent()).includes(T.tpl_preview_sample), 'the preview names the request as its sample');
  await page.screenshot({ path: path.join(SCREENSHOTS, 'webhooks_new_rule.png'), fullPage: true });

  // Rename, rotate (the old URL stops working), delete.
  await page.getByRole('tab', { name: T.tab_webhooks, ...exact }).click();
  await page.getByRole('button', { name: `${T.webhooks_rename} «Site orders»` }).click();
  const rename = page.getByRole('form', { name: T.webhooks_rename_title });
  await rename.getByLabel(T.webhooks_name, exact).fill('Shop orders');
  await rename.getByRole('button', { name: T.rule_save, ...exact }).click();
  const renamed = page.getByRole('textbox', { name: `${T.webhooks_url_of} «Shop orders»` });
  await renamed.waitFor();
  assert.equal(await renamed.inputValue(), url, 'a rename keeps the URL');

  await page.getByRole('button', { name: `${T.webhooks_rotate} «Shop orders»` }).click();
  await eventually('the new URL', async () => (await renamed.inputValue()) !== url);
  const rotated = await renamed.inputValue();
  assert.equal((await fetch(url, { method: 'POST', body: '{}' })).status, 404, 'the old URL stops working');
  assert.ok((await fetch(rotated, { method: 'POST', body: '{"n": 1}' })).ok, 'the new URL works');

  await page.getByRole('button', { name: `${T.webhooks_delete} «Shop orders»` }).click();
  await page.getByText(T.webhooks_empty).waitFor();
  assert.equal((await fetch(rotated, { method: 'POST', body: '{}' })).status, 404, 'a deleted receiver is gone');
  assert.deepEqual(await stack.api('GET', '/api/v1/receivers'), []);
  assert.deepEqual(errors, []);
  await close();
});

test('an auto link created in the Links tab, written into a note through its variable and opened, runs its rule', async () => {
  const leads = await kommoRead('/api/v4/leads');
  const lead = leads._embedded.leads.find((l) => l.name === 'Pallet of coffee');
  const clicked = await manualRule('Clicked the offer', [
    { id: 1, do: { type: 'change_tags', entity: 'lead', change: 'add', tags: 'clicked-offer' } },
  ]);

  const { page, errors, close } = await settings();
  await page.getByRole('tab', { name: T.tab_links, ...exact }).click();
  await page.getByText(T.links_empty).waitFor();
  await page.getByRole('button', { name: T.links_new, ...exact }).click();
  const form = page.getByRole('form', { name: T.links_new });
  await form.getByLabel(T.links_rule, exact).selectOption({ label: 'Clicked the offer' });
  await form.getByLabel(T.links_kind, exact).selectOption({ label: T.links_kind_auto });
  await form.getByLabel(T.links_entity_lead, exact).fill(String(lead.id));
  await form.getByLabel(T.links_name, exact).fill('Spring offer');
  await form.getByLabel(T.links_target, exact).fill('https://shop.example/spring');
  await form.getByRole('button', { name: T.rule_save, ...exact }).click();
  const row = page.getByRole('row', { name: /Spring offer/ });
  await row.waitFor();
  const variable = await row.locator('code').first().textContent();
  assert.match(variable, /^\{tglink:\d+\}$/);
  await row.getByRole('button', { name: `${T.links_copy_variable} «Spring offer»` }).click();
  await eventually('the variable on the clipboard', async () => (await clipboard(page)) === variable);
  await row.getByRole('button', { name: `${T.links_copy_url} «Spring offer»` }).click();
  const linkUrl = await eventually('the link on the clipboard', async () => {
    const copied = await clipboard(page);
    return copied.includes('/t/') && copied;
  });
  assert.equal(await row.getByRole('cell', { name: `${T.links_clicks} «Spring offer»` }).textContent(), '0');

  // A rule writes the link into a note on the lead.
  const writer = await manualRule('Send the offer', [
    { id: 1, do: { type: 'add_note', entity: 'lead', text: `Our spring offer: ${variable}` } },
  ]);
  await stack.api('POST', `/api/v1/rules/${writer.id}/run`, { entity_type: 'leads', entity_ids: [lead.id] });
  await okRun(writer.id);
  const notes = await kommoRead(`/api/v4/leads/${lead.id}/notes`);
  const note = notes._embedded.notes.map((n) => n.params?.text ?? '').find((text) => text.startsWith('Our spring offer: '));
  assert.ok(note, 'the rule wrote the note');
  const rendered = note.slice('Our spring offer: '.length).trim();
  assert.equal(rendered, linkUrl, 'the variable renders as the link the tab shows');

  // Opening the rendered link runs its rule and sends the visitor on.
  const opened = await fetch(rendered, { redirect: 'manual' });
  assert.equal(opened.status, 303);
  assert.equal(opened.headers.get('location'), 'https://shop.example/spring');
  await okRun(clicked.id);
  const tagged = await kommoRead(`/api/v4/leads/${lead.id}`);
  assert.ok(tagged._embedded.tags.some((t) => t.name === 'clicked-offer'), 'the clicked rule tagged the lead');

  await page.getByRole('button', { name: T.links_refresh, ...exact }).click();
  await eventually('the click counted', async () =>
    (await row.getByRole('cell', { name: `${T.links_clicks} «Spring offer»` }).textContent()) === '1');
  await page.screenshot({ path: path.join(SCREENSHOTS, 'links.png'), fullPage: true });

  // Edit, then delete after the confirmation.
  await row.getByRole('button', { name: `${T.links_edit} «Spring offer»` }).click();
  const edit = page.getByRole('form', { name: T.links_form_edit });
  await edit.getByLabel(T.links_name, exact).fill('Summer offer');
  await edit.getByRole('button', { name: T.rule_save, ...exact }).click();
  const edited = page.getByRole('row', { name: /Summer offer/ });
  await edited.waitFor();
  assert.equal(await edited.getByRole('cell', { name: `${T.links_clicks} «Summer offer»` }).textContent(), '1', 'an edit keeps the clicks');
  await edited.getByRole('button', { name: `${T.links_delete} «Summer offer»` }).click();
  await page.getByText(T.links_empty).waitFor();
  const gone = (await fetch(rendered, { redirect: 'manual' })).status;
  assert.ok(gone === 401 || gone === 404, `a deleted link stops working (${gone})`);
  assert.equal((await okRuns(clicked.id)).length, 1, 'only the one click ran the rule');
  assert.deepEqual(errors, []);
  await close();
});

test('members are told the Webhooks and Links tabs are for administrators', async () => {
  const { page, errors, close } = await settings({ is_admin: 'false', user_id: '1002' });
  await page.getByRole('tab', { name: T.tab_webhooks, ...exact }).click();
  await page.getByRole('note').filter({ hasText: T.webhooks_admins_only }).waitFor();
  assert.equal(await page.getByRole('button', { name: T.webhooks_new, ...exact }).count(), 0);
  await page.getByRole('tab', { name: T.tab_links, ...exact }).click();
  await page.getByRole('note').filter({ hasText: T.links_admins_only }).waitFor();
  assert.deepEqual(errors, []);
  await close();
});

test('both tabs in every language, light and dark, at 1280x800', async () => {
  const receiver = await stack.api('POST', '/api/v1/receivers', { name: 'Site form' });
  await fetch(receiver.url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ contact: { name: 'Dana Buyer', phone: '+4915112345678' }, form: 'Quote request', utm: { source: 'ads' } }),
  });
  const rule = await manualRule('Thank for the visit', []);
  await stack.api('POST', '/api/v1/links', { rule_id: rule.id, kind: 'manual', name: 'Price list', target_url: 'https://shop.example/prices' });
  for (const lang of ['en', 'es', 'pt', 'ru']) {
    const L = texts(lang);
    for (const theme of ['light', 'dark']) {
      const { page, errors, close } = await settings({ lang, ...(theme === 'dark' ? { theme: 'dark' } : {}) });
      await page.getByRole('tab', { name: L.tab_webhooks, ...exact }).click();
      await page.getByRole('button', { name: `${L.webhooks_copy_var} {contact_phone}` }).waitFor();
      await page.screenshot({ path: path.join(SCREENSHOTS, `webhooks_${lang}_${theme}.png`) });
      await page.getByRole('tab', { name: L.tab_links, ...exact }).click();
      await page.getByRole('row', { name: /Price list/ }).waitFor();
      await page.getByText(L.links_pattern_hint).waitFor();
      await page.screenshot({ path: path.join(SCREENSHOTS, `links_${lang}_${theme}.png`) });
      assert.deepEqual(errors, [], `${lang} ${theme}`);
      await close();
    }
  }
});
