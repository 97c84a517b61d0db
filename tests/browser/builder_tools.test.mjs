// The builder's tools in a real headless Chromium, on the Kommo-like host page, against the backend
// and the emulator's seeded account: recipes, "Test on a lead", versions and the source view. Every
// control is found by its role and label, as a person would find it.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';

import { startStack, SUBDOMAIN } from './stack.mjs';

const SCREENSHOTS = process.env.SCREENSHOT_DIR || 'target/screenshots';
let stack;
let browser;

before(async () => {
  mkdirSync(SCREENSHOTS, { recursive: true });
  stack = await startStack();
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
    ],
  });
});

after(async () => {
  await browser?.close();
  stack?.stop();
});

async function open() {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  // Leaving an unsaved rule asks first; these tests always answer yes.
  page.on('dialog', (d) => d.accept());
  await page.goto(stack.page('advanced_settings'));
  return { page, errors };
}

// "New rule", then the recipe card whose title is `title`.
async function fromRecipe(page, title) {
  await page.getByRole('button', { name: 'New rule' }).click();
  await page.getByRole('heading', { name: 'New rule: start from a recipe' }).waitFor();
  await page.getByRole('button', { name: new RegExp(`^${title}`) }).click();
  await page.getByRole('form', { name: 'Rule builder' }).waitFor();
}

// The account's writes in the emulator's request log (everything but reads).
async function writes() {
  const { requests } = await stack.control('GET', '/requests');
  return requests.filter((r) => r.subdomain === SUBDOMAIN && r.method !== 'GET');
}

// Waits for something the backend does in the background (a webhook processed): runs the emulator's
// webhook deliveries, then asks our API, a bounded number of times.
async function eventually(what, check, rounds = 60) {
  for (let i = 0; i < rounds; i++) {
    const value = await check();
    if (value) return value;
    await stack.control('POST', '/deliveries/run');
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.fail(`timed out waiting for ${what}`);
}

// A birthday 45 days after today in Berlin (born 1990; 29 February skipped): its Unix timestamp at
// noon UTC (the same calendar day in Berlin) and the instant of its next occurrence at 10:00 Berlin.
function nextBirthdayIn45Days() {
  const berlinDay = (ms) => new Intl.DateTimeFormat('en-CA', { timeZone: 'Europe/Berlin' }).format(new Date(ms));
  let ms = Date.now() + 45 * 86_400_000;
  if (berlinDay(ms).endsWith('-02-29')) ms += 86_400_000;
  const [y, m, d] = berlinDay(ms).split('-').map(Number);
  const offsetMinutes = (at) => {
    const name = new Intl.DateTimeFormat('en-US', { timeZone: 'Europe/Berlin', timeZoneName: 'shortOffset' })
      .formatToParts(new Date(at)).find((p) => p.type === 'timeZoneName').value; // "GMT+1", "GMT+2"
    const [, sign, h, min] = /GMT([+-])(\d+)(?::(\d+))?/.exec(name);
    return (sign === '-' ? -1 : 1) * (Number(h) * 60 + Number(min || 0));
  };
  const wall = Date.UTC(y, m - 1, d, 10, 0, 0);
  return {
    birthday: Date.UTC(1990, m - 1, d, 12, 0, 0) / 1000,
    at: wall - offsetMinutes(wall) * 60_000,
  };
}

function panel(page, name) {
  return page.getByRole('complementary', { name });
}

test('a draft dry run on a lead shows the failing condition in red with its actual value, and writes nothing', async () => {
  const { page, errors } = await open();
  await page.screenshot({ path: path.join(SCREENSHOTS, 'tools_rules.png') });
  await page.getByRole('button', { name: 'New rule' }).click();
  await page.getByRole('heading', { name: 'New rule: start from a recipe' }).waitFor();
  // The WHOLESALE/RETAIL card asks for its two managers, preset to the account's active users.
  await page.getByLabel('Manager for wholesale orders').selectOption({ label: 'Bruno Sales' });
  await page.getByLabel('Manager for retail orders').selectOption({ label: 'Chen Support' });
  await page.screenshot({ path: path.join(SCREENSHOTS, 'tools_recipes.png'), fullPage: true });
  await page.getByRole('button', { name: /^Wholesale and retail orders/ }).click();
  await page.getByRole('form', { name: 'Rule builder' }).waitFor();

  const before = await writes();
  await page.getByRole('button', { name: 'Test on a lead' }).click();
  const tryIt = panel(page, 'Test on a lead');
  await tryIt.getByLabel('Lead name or id').fill('Pallet');
  await tryIt.getByRole('button', { name: 'Find lead' }).click();
  await tryIt.getByRole('button', { name: /^Pallet of coffee \(#\d+\)$/ }).click();
  await tryIt.getByText(/^Lead: Pallet of coffee/).waitFor();
  await tryIt.getByRole('button', { name: 'Test on this lead' }).click();
  await tryIt.locator('.rb-try-result').waitFor();

  // Block "If wholesale" does not match: its condition is red, says so in words, and shows the
  // lead's actual name.
  const block = tryIt.locator('.rb-trace-block', { hasText: 'If wholesale' });
  await block.waitFor();
  assert.match(await block.getAttribute('aria-label'), /Does not match/);
  const failing = block.locator('.rb-trace-condition.rb-fail');
  assert.equal(await failing.count(), 1);
  assert.match(await failing.textContent(), /«Pallet of coffee»/);
  assert.match(await failing.textContent(), /does not hold/);
  assert.match(await failing.textContent(), /«WHOLESALE form order»/);
  const colour = await failing.locator('.rb-trace-actual').evaluate((el) => getComputedStyle(el).color);
  assert.equal(colour, 'rgb(234, 93, 96)', 'the actual value is Kommo red');
  assert.match(await tryIt.locator('.rb-try-outcome').textContent(), /blocks that would fire: 0/);
  await page.screenshot({ path: path.join(SCREENSHOTS, 'tools_try_it.png'), fullPage: true });

  // A lead that matches: the block completes and its planned changes are shown, still unwritten.
  await page.getByRole('form', { name: 'Rule builder' }).getByLabel('Name', { exact: true }).fill('Wholesale test');
  const created = await stack.kommo('POST', '/api/v4/leads', [{ name: 'WHOLESALE form order', pipeline_id: 7001 }]);
  const leadId = created._embedded.leads[0].id;
  const writesBefore = (await writes()).length;
  await tryIt.getByLabel('Lead name or id').fill(String(leadId));
  await tryIt.getByRole('button', { name: 'Find lead' }).click();
  await tryIt.getByRole('button', { name: `WHOLESALE form order (#${leadId})` }).click();
  await tryIt.getByText(`Lead: WHOLESALE form order (#${leadId})`).waitFor();
  await tryIt.getByRole('button', { name: 'Test on this lead' }).click();
  await tryIt.locator('.rb-trace-block.rb-status-completed', { hasText: 'If wholesale' }).waitFor();
  assert.match(await tryIt.locator('.rb-try-outcome').textContent(), /blocks that would fire: 1/);
  assert.ok(await tryIt.locator('.rb-try-changes code').count() > 0, 'the planned Kommo requests are listed');
  assert.match(await tryIt.locator('.rb-try-texts').textContent(), /Call the client about the order/);

  assert.equal((await writes()).length, writesBefore, 'the dry runs wrote nothing to Kommo');
  assert.deepEqual((await writes()).slice(0, before.length), before);
  await page.screenshot({ path: path.join(SCREENSHOTS, 'tools_try_it_fires.png'), fullPage: true });
  assert.deepEqual(errors, []);
  await page.close();
});

test('the birthday greeting is built from its recipe, edited and saved; its versions read it back', async () => {
  const { page, errors } = await open();
  await fromRecipe(page, 'Birthday greeting');
  const form = page.getByRole('form', { name: 'Rule builder' });
  await form.getByLabel('Name', { exact: true }).fill('Birthday greeting for clients');

  // The recipe's action runs the Salesbot yearly on the contact's birthday field, replacing what
  // was planned; the edit moves the greeting to 10:00.
  await page.getByRole('button', { name: 'View source' }).click();
  const source = panel(page, 'View source').getByLabel('Rule (JSON)');
  const json = JSON.parse(await source.inputValue());
  const greet = json.blocks[0].actions[0];
  assert.deepEqual(greet.timer, { kind: 'yearly_from_field', field: 'contact.cf(8103)', at: '09:00:00' });
  assert.equal(greet.replace_pending, true);
  assert.equal(greet.do.type, 'run_salesbot');
  assert.equal(greet.do.bot_id, 501);
  greet.timer.at = '10:00:00';
  await source.fill(JSON.stringify(json, null, 2));
  await panel(page, 'View source').getByRole('button', { name: 'Apply JSON' }).click();
  await page.getByText('Applied: the form shows the rule from the JSON.').waitFor();

  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await page.getByText(/^Saved as version 1$/).waitFor();
  // Read back through the API: the stored rule is the edited one.
  const summaries = await stack.api('GET', '/api/v1/rules');
  const summary = summaries.find((r) => r.name === 'Birthday greeting for clients');
  assert.ok(summary, 'the rule is listed');
  const record = await stack.api('GET', `/api/v1/rules/${summary.id}`);
  assert.deepEqual(record.rule.blocks[0].actions[0].timer, { kind: 'yearly_from_field', field: 'contact.cf(8103)', at: '10:00:00' });
  assert.equal(record.rule.blocks[0].actions[0].replace_pending, true);
  assert.deepEqual(record.rule.trigger, { kind: 'field_updated', entity: 'contact', field_id: 8103 });

  // The saved rule at work: a contact's birthday is set in Kommo; the rule plans the greeting, a
  // pending job of that contact due on the next birthday at 10:00 in the account's timezone
  // (Europe/Berlin). The birthday is 45 days after the day this test reads, so "next" is that day.
  const due = nextBirthdayIn45Days();
  const [contact] = (await stack.kommo('POST', '/api/v4/contacts', [{ name: 'Birthday client' }]))._embedded.contacts;
  await stack.kommo('PATCH', `/api/v4/contacts/${contact.id}`, {
    custom_fields_values: [{ field_id: 8103, values: [{ value: due.birthday }] }],
  });
  const jobs = await eventually('the greeting planned', async () => {
    const pending = await stack.api('GET', `/api/v1/entities/contacts/${contact.id}/jobs`);
    return pending.length ? pending : null;
  });
  assert.equal(jobs.length, 1, JSON.stringify(jobs));
  assert.equal(jobs[0].state, 'pending');
  assert.equal(jobs[0].rule_id, summary.id);
  assert.equal(new Date(jobs[0].run_at).toISOString(), new Date(due.at).toISOString(), 'due on the next birthday at 10:00 Berlin time');

  await page.getByRole('button', { name: 'Versions' }).click();
  const versions = panel(page, 'Versions');
  const row = versions.getByRole('listitem').filter({ hasText: 'Version 1' });
  await row.waitFor();
  assert.match(await row.textContent(), /«Birthday greeting for clients»/);
  assert.match(await row.textContent(), /saved by/);
  await row.getByRole('button', { name: 'Open version 1' }).click();
  const stored = JSON.parse(await versions.locator('.rb-version-open pre.rb-json').textContent());
  assert.deepEqual(stored.blocks[0].actions[0].timer, { kind: 'yearly_from_field', field: 'contact.cf(8103)', at: '10:00:00' });
  assert.equal(stored.blocks[0].actions[0].replace_pending, true);
  assert.equal(stored.trigger.kind, 'field_updated');
  await page.screenshot({ path: path.join(SCREENSHOTS, 'tools_versions.png'), fullPage: true });

  // An unsaved edit shows against the stored version as one line out and one line in.
  await form.getByLabel('Name', { exact: true }).fill('Birthday greeting v2');
  await row.getByRole('button', { name: 'Compare with current: version 1' }).click();
  const diff = versions.locator('.rb-diff');
  await diff.waitFor();
  assert.match(await diff.locator('.rb-diff-removed').allTextContents().then((t) => t.join('\n')), /Birthday greeting for clients/);
  assert.match(await diff.locator('.rb-diff-added').allTextContents().then((t) => t.join('\n')), /Birthday greeting v2/);
  await page.screenshot({ path: path.join(SCREENSHOTS, 'tools_compare.png'), fullPage: true });

  // Restoring version 1 stores it as version 2 and loads it into the builder.
  await row.getByRole('button', { name: 'Restore version 1' }).click();
  await versions.getByText('Version 1 restored and loaded into the builder.').waitFor();
  assert.equal(await form.getByLabel('Name', { exact: true }).inputValue(), 'Birthday greeting for clients');
  await versions.getByRole('listitem').filter({ hasText: 'Version 2' }).waitFor();
  await page.getByText(/^Saved as version 2$/).waitFor();
  assert.deepEqual(errors, []);
  await page.close();
});

test('the source view round-trips an edit to the form and refuses bad JSON at its line', async () => {
  const { page, errors } = await open();
  await fromRecipe(page, 'Missed-call counter');
  const form = page.getByRole('form', { name: 'Rule builder' });
  const name = form.getByLabel('Name', { exact: true });
  assert.equal(await name.inputValue(), 'Missed-call counter');

  await page.getByRole('button', { name: 'View source' }).click();
  const view = panel(page, 'View source');
  const source = view.getByLabel('Rule (JSON)');
  const json = JSON.parse(await source.inputValue());
  assert.equal(json.blocks[0].actions[0].do.type, 'change_global_variable');
  json.name = 'Missed calls, from JSON';
  await source.fill(JSON.stringify(json, null, 2));
  await view.getByRole('button', { name: 'Apply JSON' }).click();
  assert.equal(await name.inputValue(), 'Missed calls, from JSON');
  // The form's edit shows in the source again.
  await name.fill('Missed calls, from the form');
  assert.equal(JSON.parse(await source.inputValue()).name, 'Missed calls, from the form');

  // Line 3 loses its colon: refused at line 3, nothing changes.
  const lines = (await source.inputValue()).split('\n');
  lines[2] = lines[2].replace(':', ' ');
  await source.fill(lines.join('\n'));
  await view.getByRole('button', { name: 'Apply JSON' }).click();
  const error = view.getByRole('alert');
  await error.waitFor();
  assert.match(await error.textContent(), /^Line 3, column \d+: /);
  assert.equal(await source.getAttribute('aria-invalid'), 'true');
  assert.equal(await name.inputValue(), 'Missed calls, from the form');
  // The cursor sits on the line at fault.
  const caretLine = await source.evaluate((el) => el.value.slice(0, el.selectionStart).split('\n').length);
  assert.equal(caretLine, 3);
  await page.screenshot({ path: path.join(SCREENSHOTS, 'tools_source_error.png'), fullPage: true });

  // Valid JSON that is not a rule is refused too.
  await source.fill('{"schema_version": 2, "name": "x", "trigger": {"kind": "teleport"}}');
  await view.getByRole('button', { name: 'Apply JSON' }).click();
  await page.waitForFunction(() => /teleport/.test(document.querySelector('[role=alert]')?.textContent || ''));
  assert.equal(await name.inputValue(), 'Missed calls, from the form');
  assert.deepEqual(errors, []);
  await page.close();
});

test('template fields autocomplete after {{ and {, preview on the picked lead, and show their errors', async () => {
  const { page, errors } = await open();
  await fromRecipe(page, 'Wholesale and retail orders');
  // The preview lead is the one picked in "Test on a lead".
  await page.getByRole('button', { name: 'Test on a lead' }).click();
  const tryIt = panel(page, 'Test on a lead');
  await tryIt.getByLabel('Lead name or id').fill('Pallet');
  await tryIt.getByRole('button', { name: 'Find lead' }).click();
  await tryIt.getByRole('button', { name: /^Pallet of coffee \(#\d+\)$/ }).click();
  await tryIt.getByText(/^Lead: Pallet of coffee/).waitFor();

  const field = page.locator('.rb-template').filter({ has: page.getByLabel('Task text') }).first();
  const text = field.getByLabel('Task text');
  await text.fill('Call about {{lead.na');
  const list = field.getByRole('listbox', { name: 'Suggestions' });
  await list.waitFor();
  await list.getByRole('option', { name: /^lead\.name/ }).waitFor();
  await text.press('Enter');
  assert.equal(await text.inputValue(), 'Call about {{lead.name}}');
  await field.locator('.rb-template-preview', { hasText: 'Call about Pallet of coffee' }).waitFor();

  // A custom field by its name inserts cf(ID); arrow keys move in the list.
  await text.press('End');
  await text.pressSequentially(' {{birth');
  await list.getByRole('option', { name: /^contact: Birthday/ }).waitFor();
  await page.screenshot({ path: path.join(SCREENSHOTS, 'tools_template_autocomplete.png'), fullPage: true });
  await text.press('Tab');
  assert.equal(await text.inputValue(), 'Call about {{lead.name}} {{contact.cf(8103)}}');
  // After one brace: variables and trigger links; Escape closes the list.
  await text.pressSequentially(' {tg');
  await list.getByRole('option', { name: /^\{tglink:1\}/ }).waitFor();
  await text.press('Escape');
  await list.waitFor({ state: 'detached' });

  // A template that does not parse shows its error, with line and column, at the field.
  await text.fill('Hi {{lead.nope}}');
  assert.equal(await text.getAttribute('aria-invalid'), 'true');
  assert.match(await field.locator('.rb-field-error').first().textContent(), /line 1, column \d+/);
  await page.screenshot({ path: path.join(SCREENSHOTS, 'tools_template_error.png'), fullPage: true });
  assert.deepEqual(errors, []);
  await page.close();
});

test('a 30-block rule opens as sentences; a block opens by click or Enter, and one with a problem opens by itself', async () => {
  const blocks = [];
  for (let i = 1; i <= 30; i += 1) {
    blocks.push({
      id: i,
      name: `Block ${i}`,
      conditions: [{ left: { path: i === 7 ? 'lead.cf(8004)' : 'lead.name' }, op: { is: 'contains' }, right: { literal: `order ${i}` } }],
      actions: [{ id: i, do: { type: 'change_tags', entity: 'lead', change: 'add', tags: `tier-${i}` } }],
    });
  }
  const rule = { schema_version: 2, name: 'Thirty blocks', trigger: { kind: 'entity_updated', entity: 'lead' }, blocks };
  await stack.api('POST', '/api/v1/rules', { name: rule.name, rule });
  // Block 7's field is then deleted from the account: that block has a problem to show.
  await stack.kommo('DELETE', '/api/v4/leads/custom_fields/8004');
  await stack.api('POST', '/api/v1/account/schema/refresh');

  const { page, errors } = await open();
  await page.getByRole('link', { name: rule.name, exact: true }).click();
  const form = page.getByRole('form', { name: 'Rule builder' });
  const list = form.locator('.rb-block-list > li');
  await list.nth(29).waitFor();
  // Every block reads as its sentence, a button that says it is collapsed; block 7 is open.
  const block = (n) => form.getByRole('listitem', { name: `Block ${n}`, exact: true });
  const sentence = (n) => block(n).locator('button.rb-block-sentence');
  assert.equal(await form.locator('button.rb-block-sentence[aria-expanded="false"]').count(), 29);
  const first = await sentence(1).textContent();
  assert.match(first, /order 1.*→.*tier-1/, `block 1 in words: ${first}`);
  assert.equal(await block(7).getByRole('button', { name: 'Collapse «Block 7»' }).getAttribute('aria-expanded'), 'true');
  assert.equal(
    await block(7).getByRole('combobox', { name: 'Field of condition 1' }).getAttribute('aria-invalid'),
    'true',
    'the deleted field is flagged at its row',
  );
  assert.equal(await block(1).getByRole('button', { name: 'Expand «Block 1»' }).getAttribute('aria-expanded'), 'false');
  await page.screenshot({ path: path.join(SCREENSHOTS, 'builder_30_blocks_collapsed.png'), fullPage: true });

  // A click on the sentence opens block 2; Enter on block 3's sentence opens it from the keyboard.
  await sentence(2).click();
  await sentence(3).focus();
  await page.keyboard.press('Enter');
  // The focus lands on the opened block's Collapse button, so the keyboard goes on from there.
  await page.waitForFunction(() => document.activeElement?.getAttribute('aria-label') === 'Collapse «Block 3»');
  for (const n of [2, 3]) {
    assert.equal(await block(n).getByRole('button', { name: `Collapse «Block ${n}»` }).getAttribute('aria-expanded'), 'true');
    const operator = block(n).getByLabel('Comparison of condition 1');
    assert.equal(await operator.inputValue(), 'contains');
  }
  // Opened, its lists are whole: the operator offers every fitting choice.
  const operator = block(2).getByLabel('Comparison of condition 1');
  await operator.focus();
  await operator.locator('option').nth(1).waitFor({ state: 'attached' });
  assert.ok((await operator.locator('option').count()) > 5, 'the operator lists its choices');
  assert.equal(await operator.inputValue(), 'contains', 'filling the list keeps the choice');
  // The icon button closes it again.
  await block(2).getByRole('button', { name: 'Collapse «Block 2»' }).click();
  await sentence(2).waitFor();
  await page.screenshot({ path: path.join(SCREENSHOTS, 'builder_30_blocks_expanded.png'), fullPage: true });
  assert.deepEqual(errors, []);
  await page.close();
});
