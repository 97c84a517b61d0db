// The card panels (lead, contact, company), the digital-pipeline action modal and the Salesbot
// designer step, in headless Chromium on the Kommo-like host page against the backend and the
// emulator: a manual contact rule pressed in a contact card says "done" and its note lands on the
// contact; a pressed delayed rule's timers are listed and cancelled one by one and all at once; the
// last runs link to the debugger; the DP modal offers only the rules a stage can run, creates a new
// manual lead rule in place, and a lead moved into the stage runs the chosen rule; the Salesbot
// designer shows the rule picker and its save returns the `widget_request` step.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';

import { SUBDOMAIN, startStack } from './stack.mjs';

const SCREENSHOTS = process.env.SCREENSHOT_DIR || 'target/screenshots';
const texts = (lang) => JSON.parse(readFileSync(new URL(`../../i18n/${lang}.json`, import.meta.url))).ui;
const T = texts('en');
const exact = { exact: true };
let stack;
let browser;
// Ids of what `before` arranges.
const ids = {};

const rule = (name, trigger, actions, extra = {}) => ({
  name,
  rule: { schema_version: 2, name, trigger, blocks: [{ id: 1, name: 'Block 1', conditions: [], actions }], ...extra },
});
const note = (entity, text, timer) => ({
  id: 1, timer: timer || { kind: 'none' }, do: { type: 'add_note', entity, text },
});

before(async () => {
  mkdirSync(SCREENSHOTS, { recursive: true });
  stack = await startStack();
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-quic'],
  });
  const created = async (kind, body) => (await stack.kommo('POST', `/api/v4/${kind}`, [body]))._embedded[kind][0].id;
  ids.contact = await created('contacts', { name: 'Card Contact' });
  ids.company = await created('companies', { name: 'Card Company' });
  ids.lead = await created('leads', { name: 'Card Lead', pipeline_id: 7001, status_id: 7101 });
  const save = async (r) => (await stack.api('POST', '/api/v1/rules', r)).id;
  ids.contactNote = await save(rule('Note on contact', { kind: 'manual', entity: 'contact' },
    [note('contact', 'Pressed for {{contact.name}}')]));
  const later = (name) => rule(name, { kind: 'manual', entity: 'contact' },
    [note('contact', `${name}: a day later`, { kind: 'after', amount: 1, unit: 'days' })]);
  ids.contactLater = await save(later('Remind later'));
  ids.contactFollowUp = await save(later('Follow up later'));
  ids.contactMember = await save(later('Member timer'));
  ids.companyRule = await save(rule('Company check', { kind: 'manual', entity: 'company' },
    [note('company', 'Checked')]));
  ids.leadManual = await save(rule('Stage greeting', { kind: 'manual', entity: 'lead' },
    [note('lead', 'Reached the stage: {{lead.name}}')]));
  ids.leadUpdated = await save(rule('Lead changed', { kind: 'entity_updated', entity: 'lead' }, []));
  ids.leadStatus = await save(rule('Moved to Qualified', {
    kind: 'status_changed', pipeline_id: 7001, status_id: 7102, entry: 'created_or_moved',
  }, []));
  // Creating the entities and rules sent webhooks; let them be processed before the cards read runs.
  await stack.control('POST', '/deliveries/run');
});

after(async () => {
  await browser?.close();
  stack?.stop();
});

async function newPage(url, viewport = { width: 1280, height: 800 }) {
  const page = await browser.newPage({ viewport });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(url);
  return { page, errors };
}

// Waits for something the backend does in the background: runs the emulator's due deliveries,
// then asks our API (never Kommo) again, a bounded number of times.
async function eventually(what, check, rounds = 80) {
  for (let i = 0; i < rounds; i++) {
    const value = await check();
    if (value) return value;
    await stack.control('POST', '/deliveries/run');
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.fail(`timed out waiting for ${what}`);
}

function panel(page) {
  return page.locator('#widgets_block .card-widgets__widget-rulebook');
}

test('in a contact card a manual contact rule runs and says "done", and its note is on the contact', async () => {
  const { page, errors } = await newPage(stack.page('ccard', { entity_id: String(ids.contact) }), { width: 1280, height: 900 });
  const card = panel(page);
  await card.getByTestId('entity-id').waitFor();
  assert.match(await card.getByTestId('entity-id').textContent(), new RegExp(`#${ids.contact}$`));
  // Only the contact's manual rules are buttons here.
  const buttons = card.getByTestId('manual-rule');
  await buttons.first().waitFor();
  assert.deepEqual((await buttons.allTextContents()).sort(), ['Follow up later', 'Member timer', 'Note on contact', 'Remind later']);
  await card.getByTestId('jobs-empty').waitFor();

  const row = card.getByTestId('manual-rule-row').filter({ hasText: 'Note on contact' });
  await card.getByRole('button', { name: 'Note on contact', ...exact }).click();
  const result = row.getByTestId('press-result');
  await result.filter({ hasText: T.card_press_done }).waitFor({ timeout: 30000 });
  assert.equal(await result.getAttribute('role'), 'status', 'the result is announced');

  // The note is on the contact in Kommo (read once, after the run said it was done).
  const notes = await stack.kommo('GET', `/api/v4/contacts/${ids.contact}/notes`);
  const textsOf = (notes?._embedded?.notes || []).map((n) => n.params?.text);
  assert.ok(textsOf.includes('Pressed for Card Contact'), JSON.stringify(textsOf));

  // The run is among the contact's last runs, linking to that rule's runs in the debugger.
  const run = card.getByTestId('card-run').filter({ has: page.getByRole('link', { name: 'Note on contact' }) });
  await run.first().waitFor();
  const link = run.first().getByRole('link', { name: 'Note on contact' });
  assert.equal(await link.getAttribute('href'), '/settings/widgets/rulebook/');
  await page.screenshot({ path: path.join(SCREENSHOTS, 'card_contact_done.png'), fullPage: true });
  assert.deepEqual(errors, []);

  // Following it opens Kommo's advanced-settings page on the debugger with that rule chosen.
  await link.click();
  await page.waitForURL(/\/settings\/widgets\/rulebook\/$/);
  const debuggerRule = page.getByLabel(T.debugger_rule, exact);
  await debuggerRule.waitFor();
  assert.equal(await debuggerRule.inputValue(), String(ids.contactNote));
  await page.screenshot({ path: path.join(SCREENSHOTS, 'card_link_debugger.png'), fullPage: true });
  assert.deepEqual(errors, []);
  await page.close();
});

test('a contact\'s pending timers are listed; a press too soon is skipped with its reason; one timer is cancelled, then "cancel all" clears the rest', async () => {
  const { page, errors } = await newPage(stack.page('ccard', { entity_id: String(ids.contact) }));
  const card = panel(page);
  const resultOf = (name) => card.getByTestId('manual-rule-row').filter({ hasText: name }).getByTestId('press-result');
  await card.getByRole('button', { name: 'Remind later', ...exact }).click();
  await resultOf('Remind later').filter({ hasText: T.card_press_done }).waitFor({ timeout: 30000 });
  await card.getByTestId('job').first().waitFor();
  // Pressed again at once: the rule's run frequency (one run per 5 seconds per entity) skips it.
  await card.getByRole('button', { name: 'Remind later', ...exact }).click();
  await resultOf('Remind later').filter({ hasText: `${T.card_press_skipped}: ${T.card_verdict_frequency_exceeded}` })
    .waitFor({ timeout: 30000 });
  await card.getByRole('button', { name: 'Follow up later', ...exact }).click();
  await resultOf('Follow up later').filter({ hasText: T.card_press_done }).waitFor({ timeout: 30000 });
  // The card reads its timers again after each press: two, a day away.
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=job]').length === 2);
  assert.equal((await stack.api('GET', `/api/v1/entities/contacts/${ids.contact}/jobs`)).length, 2);
  const jobs = card.getByTestId('job');
  assert.match(await jobs.first().textContent(), /Remind later/);
  await page.screenshot({ path: path.join(SCREENSHOTS, 'card_contact_timers.png'), fullPage: true });

  // Each timer has its own cancel button, named after its rule.
  const first = await jobs.first().getAttribute('data-job-id');
  await jobs.first().getByRole('button', { name: `${T.card_cancel_timer} Remind later` }).click();
  await page.waitForFunction((id) => !document.querySelector(`[data-job-id="${id}"]`)
    && document.querySelectorAll('[data-testid=job]').length === 1, first);
  const left = await stack.api('GET', `/api/v1/entities/contacts/${ids.contact}/jobs`);
  assert.equal(left.length, 1);
  assert.notEqual(String(left[0].id), first);

  // An administrator cancels the rest at once.
  await card.getByRole('button', { name: T.jobs_cancel_all, ...exact }).click();
  await card.getByTestId('jobs-empty').waitFor();
  assert.deepEqual(await stack.api('GET', `/api/v1/entities/contacts/${ids.contact}/jobs`), []);
  assert.deepEqual(errors, []);
  await page.close();
});

test('a member sees no "cancel all" but may cancel one timer', async () => {
  await stack.api('POST', `/api/v1/rules/${ids.contactMember}/run`, { entity_type: 'contacts', entity_ids: [ids.contact] });
  await eventually('a timer', async () => (await stack.api('GET', `/api/v1/entities/contacts/${ids.contact}/jobs`)).length === 1);
  const { page, errors } = await newPage(stack.page('ccard', { entity_id: String(ids.contact), user_id: '1002', is_admin: 'false' }));
  const card = panel(page);
  await card.getByTestId('job').waitFor();
  assert.equal(await card.getByRole('button', { name: T.jobs_cancel_all, ...exact }).count(), 0);
  await card.getByTestId('job').getByRole('button', { name: `${T.card_cancel_timer} Member timer` }).click();
  await card.getByTestId('jobs-empty').waitFor();
  assert.deepEqual(errors, []);
  await page.close();
});

test('the digital-pipeline modal offers only the rules a stage can run, creates one in place, and a lead moved into the stage runs the chosen one', async () => {
  const { page, errors } = await newPage(stack.page('digital_pipeline'));
  const pick = page.getByTestId('dp-rule');
  await pick.locator(`option[value="${ids.leadManual}"]`).waitFor({ state: 'attached' });
  const offered = (await pick.locator('option').allTextContents()).slice(1).sort();
  assert.deepEqual(offered, ['Lead changed', 'Stage greeting']);
  assert.equal(await page.locator('input[name="rule_id"]').isVisible(), false, 'Kommo\'s own input is hidden');

  // A name is asked for at the field before anything is created.
  const create = page.getByRole('button', { name: T.dp_new_create, ...exact });
  await create.click();
  const name = page.getByLabel(T.dp_new_name, exact);
  assert.equal(await name.getAttribute('aria-invalid'), 'true');
  await page.getByText(T.dp_new_name_empty).waitFor();
  await name.fill('Made in the stage');
  await create.click();
  await page.waitForFunction(() => {
    const select = document.querySelector('[data-testid=dp-rule]');
    return select && select.selectedOptions[0] && select.selectedOptions[0].textContent === 'Made in the stage';
  });
  const made = Number(await pick.inputValue());
  const record = await stack.api('GET', `/api/v1/rules/${made}`);
  assert.equal(record.rule.trigger.kind, 'manual');
  assert.equal(record.rule.trigger.entity, 'lead');
  await page.waitForFunction((id) => document.querySelector('input[name="rule_id"]').value.startsWith(id + '-'), made);
  await page.getByTestId('dp-summary').filter({ hasText: record.rule.blocks[0].name }).waitFor();

  // The rule that adds a note is chosen, said in words, and saved into Kommo's form.
  await pick.selectOption(String(ids.leadManual));
  const summary = page.getByTestId('dp-summary');
  await summary.filter({ hasText: 'Reached the stage' }).waitFor();
  await page.waitForFunction((id) => document.querySelector('input[name="rule_id"]').value.startsWith(id + '-'), ids.leadManual);
  await page.screenshot({ path: path.join(SCREENSHOTS, 'dp_modal_chosen.png'), fullPage: true });
  await page.locator('.js-trigger-save').click();
  const saved = await page.evaluate(() => window.__host.dpSaved);
  assert.match(saved.rule_id, new RegExp(`^${ids.leadManual}-`));
  assert.deepEqual(errors, []);
  await page.close();

  // Kommo keeps the action on its stage and calls our DP URL when a lead enters it.
  await stack.control('POST', `/accounts/${SUBDOMAIN}/dp_actions`, {
    pipeline_id: 7001, status_id: 7103, webhook_url: `${stack.backendUrl}/hooks/dp`, settings: saved,
  });
  await stack.kommo('PATCH', `/api/v4/leads/${ids.lead}`, { pipeline_id: 7001, status_id: 7103 });
  const run = await eventually('the stage\'s run', async () => {
    const runs = await stack.api('GET', `/api/v1/entities/leads/${ids.lead}/runs`);
    return runs.find((r) => r.rule_id === ids.leadManual);
  });
  assert.equal(run.verdict, 'fired', JSON.stringify(run));
  const notes = await stack.kommo('GET', `/api/v4/leads/${ids.lead}/notes`);
  assert.ok((notes?._embedded?.notes || []).some((n) => n.params?.text === 'Reached the stage: Card Lead'));
});

test('the Salesbot designer shows the rule picker, and its save returns the widget_request step', async () => {
  const { page, errors } = await newPage(stack.page('salesbot_designer'));
  const pick = page.getByTestId('salesbot-rule');
  await pick.locator(`option[value="${ids.contactNote}"]`).waitFor({ state: 'attached' });
  const offered = (await pick.locator('option').allTextContents()).slice(1);
  for (const name of ['Note on contact', 'Remind later', 'Member timer', 'Stage greeting', 'Made in the stage']) {
    assert.ok(offered.includes(name), `${name} is offered: ${offered}`);
  }
  for (const name of ['Company check', 'Lead changed', 'Moved to Qualified']) {
    assert.ok(!offered.includes(name), `${name} is not offered`);
  }
  assert.equal(await page.locator('.sb-widget-settings input[name="rule_id"]').isVisible(), false);
  assert.deepEqual(await page.evaluate(() => window.__host.salesbotExits.exits.map((e) => e.code)), ['next']);
  await pick.selectOption(String(ids.contactNote));
  assert.equal(await page.locator('input[name="rule_id"]').inputValue(), String(ids.contactNote));
  await page.locator('.js-salesbot-save').click();
  const saved = await page.evaluate(() => window.__host.salesbotSaved);
  assert.equal(saved.handler, 'run_rule');
  const steps = JSON.parse(saved.steps);
  assert.deepEqual(steps[0].question[0], {
    handler: 'widget_request',
    params: { url: `${stack.backendUrl}/hooks/salesbot`, data: { rule_id: String(ids.contactNote) } },
  });
  assert.deepEqual(steps[0].question[1], { handler: 'goto', params: { type: 'question', step: 1 } });
  assert.equal(steps.length, 2, 'step 1 is where the goto leads');
  assert.deepEqual(errors, []);
  await page.close();
});

test('cards, the DP modal and the Salesbot step in four languages, light and dark', async () => {
  const screens = [
    ['lcard', { lead_id: String(ids.lead) }, (p) => panel(p).getByTestId('card-runs')],
    ['ccard', { entity_id: String(ids.contact) }, (p) => panel(p).getByTestId('card-runs')],
    ['comcard', { entity_id: String(ids.company) }, (p) => panel(p).getByTestId('manual-rules')],
    ['digital_pipeline', { dp_rule_id: `${ids.leadManual}-x` }, (p) => p.getByTestId('dp-summary')],
    ['salesbot_designer', { sb_rule_id: String(ids.contactNote) }, (p) => p.getByTestId('salesbot-rule')],
  ];
  for (const lang of ['en', 'es', 'pt', 'ru']) {
    const L = texts(lang);
    for (const theme of ['light', 'dark']) {
      for (const [location, query, ready] of screens) {
        const { page, errors } = await newPage(stack.page(location, { ...query, lang, theme }));
        await ready(page).waitFor();
        if (location === 'lcard' || location === 'ccard' || location === 'comcard') {
          await panel(page).getByRole('heading', { name: L.jobs_title, ...exact }).waitFor();
        } else if (location === 'digital_pipeline') {
          await page.getByRole('heading', { name: L.dp_title, ...exact }).waitFor();
        } else {
          await page.getByLabel(L.salesbot_rule, exact).waitFor();
        }
        await page.screenshot({ path: path.join(SCREENSHOTS, `cards_${location}_${lang}_${theme}.png`), fullPage: true });
        assert.deepEqual(errors, [], `${location} ${lang} ${theme}`);
        await page.close();
      }
    }
  }
});
