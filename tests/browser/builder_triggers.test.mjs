// The builder's trigger form and condition rows, driven as an admin would: every trigger kind of the
// domain is chosen and filled in by role and label, saved, and read back through the API equal to
// the intended trigger; a condition on a custom field deleted from the account is flagged at its
// row before saving.
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

const exact = { exact: true };

// Each case: the kind, how a person fills its controls (inside the trigger section), and the
// trigger the API must answer. A kind of the domain without a case fails the test.
const CASES = [
  {
    kind: 'entity_added',
    fill: async (f) => f.getByLabel(T.trg_entity, exact).selectOption('contact'),
    want: { kind: 'entity_added', entity: 'contact' },
  },
  {
    kind: 'entity_updated',
    fill: async (f) => f.getByLabel(T.trg_entity, exact).selectOption({ label: T.entity_task }),
    want: { kind: 'entity_updated', entity: 'task' },
  },
  {
    kind: 'responsible_changed',
    fill: async (f) => f.getByLabel(T.trg_entity, exact).selectOption({ label: T.entity_company }),
    want: { kind: 'responsible_changed', entity: 'company' },
  },
  {
    kind: 'status_changed',
    fill: async (f) => {
      await f.getByLabel(T.trg_pipeline, exact).selectOption({ label: 'Wholesale' });
      await f.getByLabel(T.trg_stage, exact).selectOption({ label: 'Price list sent' });
      await f.getByLabel(T.trg_entry, exact).selectOption({ label: T.trg_entry_moved });
    },
    want: { kind: 'status_changed', pipeline_id: 7002, status_id: 7202, entry: 'moved' },
  },
  {
    kind: 'note_added',
    fill: async (f) => {
      await f.getByRole('checkbox', { name: T.trg_note_call, exact: true }).check();
      await f.getByRole('checkbox', { name: T.trg_note_sms, exact: true }).check();
    },
    want: { kind: 'note_added', entity: 'lead', note_types: ['call', 'sms'] },
  },
  {
    kind: 'tag_added',
    fill: async (f) => {
      await f.getByLabel(T.trg_entity, exact).selectOption({ label: T.entity_contact });
      await f.getByLabel(T.trg_other_tags, exact).fill('vip, wholesale');
    },
    want: { kind: 'tag_added', entity: 'contact', tags: ['vip', 'wholesale'] },
  },
  {
    kind: 'tag_removed',
    fill: async (f) => f.getByLabel(T.trg_other_tags, exact).fill('cold'),
    want: { kind: 'tag_removed', entity: 'lead', tags: ['cold'] },
  },
  {
    kind: 'field_updated',
    fill: async (f) => f.getByLabel(T.trg_field, exact).selectOption({ label: 'Amount' }),
    want: { kind: 'field_updated', entity: 'lead', field_id: 8002 },
  },
  {
    kind: 'relative_to_date_field',
    fill: async (f) => {
      await f.getByLabel(T.trg_entity, exact).selectOption({ label: T.entity_contact });
      const field = f.getByLabel(T.trg_date_field, exact);
      // Only date fields are offered.
      assert.deepEqual(await field.locator('option').allTextContents(), [T.trg_choose_field, 'Birthday']);
      await field.selectOption({ label: 'Birthday' });
      await f.getByLabel(T.trg_offset_hours, exact).fill('48');
      await f.getByLabel(T.trg_offset_side, exact).selectOption({ label: T.trg_offset_before });
    },
    want: { kind: 'relative_to_date_field', entity: 'contact', field_id: 8103, offset_hours: -48 },
  },
  {
    kind: 'at_date_time',
    fill: async (f) => {
      await f.getByLabel(T.trg_date, exact).fill('2031-05-17');
      await f.getByLabel(T.trg_time, exact).fill('10:30');
    },
    want: { kind: 'at_date_time', date: '2031-05-17', at: '10:30:00' },
  },
  {
    kind: 'recurring',
    fill: async (f) => {
      await f.getByLabel(T.trg_every, exact).selectOption({ label: T.trg_every_yearly });
      await f.getByLabel(T.trg_month, exact).selectOption({ label: T.trg_month_3 });
      await f.getByLabel(T.trg_day_of_month, exact).fill('15');
      await f.getByLabel(T.trg_time, exact).fill('08:15');
    },
    want: { kind: 'recurring', schedule: { every: 'yearly', month: 3, day: 15, at: '08:15:00' } },
  },
  {
    kind: 'recurring',
    fill: async (f) => {
      await f.getByLabel(T.trg_every, exact).selectOption({ label: T.trg_every_weekly });
      await f.getByLabel(T.trg_weekday, exact).selectOption({ label: T.day_fri });
      await f.getByLabel(T.trg_time, exact).fill('17:00');
    },
    want: { kind: 'recurring', schedule: { every: 'weekly', weekday: 'Fri', at: '17:00:00' } },
  },
  {
    kind: 'conversation_started',
    fill: async (f) => {
      await f.getByLabel(T.trg_first_message, exact).selectOption({ label: T.trg_messages_incoming });
      await f.getByLabel(T.trg_channels, exact).fill('whatsapp, telegram');
    },
    want: { kind: 'conversation_started', by: 'incoming', channels: ['whatsapp', 'telegram'] },
  },
  {
    kind: 'conversation_closed',
    fill: async (f) => {
      await f.getByLabel(T.trg_channels, exact).fill('instagram');
      await f.getByLabel(T.trg_delay, exact).fill('600');
    },
    want: { kind: 'conversation_closed', channels: ['instagram'], delay_seconds: 600 },
  },
  {
    kind: 'incoming_message',
    fill: async (f) => {
      await f.getByLabel(T.trg_direction, exact).selectOption({ label: T.trg_messages_any });
      await f.getByLabel(T.trg_channels, exact).fill('whatsapp');
      await f.getByLabel(T.trg_cooldown, exact).fill('300');
    },
    want: { kind: 'incoming_message', direction: 'any', channels: ['whatsapp'], cooldown_seconds: 300 },
  },
  {
    // Kommo tells integrations nothing when a client reads a message: listed, disabled, with why.
    kind: 'outgoing_message_seen',
    unavailable: true,
  },
  {
    kind: 'manual',
    fill: async (f) => {
      const entity = f.getByLabel(T.trg_entity, exact);
      assert.ok(!(await entity.locator('option').allTextContents()).includes(T.entity_task), 'a manual rule is not for tasks');
      await entity.selectOption({ label: T.entity_company });
    },
    want: { kind: 'manual', entity: 'company' },
  },
  {
    kind: 'inbound_webhook',
    fill: async (f) => {
      await f.getByLabel(T.trg_receiver, exact).selectOption({ label: 'Site form' });
      await f.getByLabel(T.trg_hook_label, exact).fill('site form');
    },
    want: (ctx) => ({ kind: 'inbound_webhook', hook_id: 'site form', receiver_id: ctx.receiver.id }),
  },
];

// The trigger kinds the domain has, from the API's own description of a rule.
async function domainTriggerKinds() {
  const doc = await stack.api('GET', '/api/v1/openapi.json');
  const kinds = new Set();
  const walk = (node) => {
    if (!node || typeof node !== 'object') return;
    if (Array.isArray(node)) return node.forEach(walk);
    const kind = node.properties?.kind;
    if (kind && node.required?.includes('kind')) {
      for (const v of [kind.const, ...(kind.enum || [])]) if (typeof v === 'string') kinds.add(v);
    }
    Object.values(node).forEach(walk);
  };
  walk(doc.components?.schemas?.Trigger);
  return [...kinds];
}

// Opens the builder on a blank new rule and returns the form and its trigger section.
async function openBlankRule(page) {
  await page.goto(stack.page('advanced_settings'));
  await page.getByRole('button', { name: T.rule_new, exact: true }).click();
  await page.getByRole('button', { name: /blank/i }).first().click();
  const form = page.getByRole('form', { name: T.builder_title });
  await form.waitFor();
  return { form, trigger: form.getByRole('region', { name: T.builder_trigger, exact: true }) };
}

async function save(page, form) {
  const saveButton = form.getByRole('button', { name: T.rule_save, exact: true });
  assert.ok(await saveButton.isEnabled(), `save is enabled: ${await saveButton.getAttribute('title')}`);
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url().includes('/api/v1/rules') && ['POST', 'PUT'].includes(r.request().method())),
    saveButton.click(),
  ]);
  const body = await response.json();
  assert.equal(response.status(), response.request().method() === 'POST' ? 201 : 200, JSON.stringify(body));
  return body;
}

test('every trigger kind of the domain is built in its form, saved and read back equal', async () => {
  const kinds = await domainTriggerKinds();
  assert.ok(kinds.length >= 17, `the API describes the trigger kinds: ${kinds}`);
  for (const kind of kinds) assert.ok(CASES.some((c) => c.kind === kind), `a form case for the trigger kind ${kind}`);
  const receiver = await stack.api('POST', '/api/v1/receivers', { name: 'Site form' });

  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('dialog', (d) => d.accept());
  let shot = false;
  for (const [n, c] of CASES.entries()) {
    const { form, trigger } = await openBlankRule(page);
    const kindSelect = trigger.getByLabel(T.trg_kind, exact);
    const offered = await kindSelect.locator('option').evaluateAll((os) => os.map((o) => o.value));
    for (const kind of kinds) assert.ok(offered.includes(kind), `the picker offers ${kind}`);
    if (c.unavailable) {
      const option = kindSelect.locator(`option[value="${c.kind}"]`);
      assert.ok(await option.isDisabled(), `${c.kind} is shown disabled`);
      assert.match(await option.textContent(), new RegExp(T.trg_unavailable));
      continue;
    }
    await kindSelect.selectOption(c.kind);
    const name = `Trigger ${n + 1}: ${c.kind}`;
    await form.getByLabel(T.rule_name, exact).fill(name);
    await c.fill(trigger);
    if (c.kind === 'status_changed' && !shot) {
      await page.screenshot({ path: path.join(SCREENSHOTS, 'builder_trigger.png'), fullPage: true });
      shot = true;
    }
    const saved = await save(page, form);
    const record = await stack.api('GET', `/api/v1/rules/${saved.id}`);
    const want = typeof c.want === 'function' ? c.want({ receiver }) : c.want;
    assert.deepEqual(record.rule.trigger, want, `${c.kind} reads back as built`);
    assert.equal(record.name, name);
  }
  assert.deepEqual(errors, []);
  await page.close();
});

test('conditions take fitting operators and values, and a deleted field is flagged at its row', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('dialog', (d) => d.accept());

  // Built by clicking: Order type is WHOLESALE or Budget is between 100 and 500.
  const { form } = await openBlankRule(page);
  await form.getByLabel(T.rule_name, exact).fill('Wholesale or small');
  const block = form.getByRole('listitem', { name: `${T.builder_block} 1` });
  await block.getByRole('button', { name: T.cond_add, exact: true }).click();
  await block.getByRole('button', { name: T.cond_add, exact: true }).click();
  const row1 = block.getByRole('group', { name: `${T.cond_condition} 1` });
  const row2 = block.getByRole('group', { name: `${T.cond_condition} 2` });
  // The operand picker searches as it is typed into and lists what matches, grouped.
  await row1.getByRole('combobox', { name: `${T.cond_operand} 1` }).fill('order');
  const found = await row1.getByRole('listbox').getByRole('option').allTextContents();
  assert.ok(found.length > 0 && found.every((o) => /order/i.test(o)), `entries matching "order": ${found}`);
  await row1.getByRole('option', { name: `${T.opd_lead}: Order type · ${T.opd_type_enum}`, exact: true }).click();
  assert.equal(await row1.getByRole('combobox', { name: `${T.cond_operand} 1` }).inputValue(), `${T.opd_lead}: Order type · ${T.opd_type_enum}`);
  // A list field offers its own values and only the operators that fit text.
  const operator1 = row1.getByLabel(`${T.cond_operator} 1`);
  await operator1.focus();
  await operator1.locator('option').nth(1).waitFor({ state: 'attached' });
  const ops1 = await operator1.locator('option').allTextContents();
  assert.ok(ops1.includes(T.op_equals) && !ops1.includes(T.op_greater), `operators of a list field: ${ops1}`);
  assert.deepEqual(await row1.getByLabel(`${T.cond_value} 1`).locator('option').allTextContents(), [T.cond_choose, 'WHOLESALE', 'RETAIL']);
  await row1.getByLabel(`${T.cond_value} 1`).selectOption('WHOLESALE');
  // By keyboard: Down opens the whole list, typing narrows it, Enter picks.
  const operand2 = row2.getByRole('combobox', { name: `${T.cond_operand} 2` });
  await operand2.focus();
  await operand2.press('ArrowDown');
  await row2.getByRole('listbox').waitFor();
  await operand2.pressSequentially(T.opd_price);
  await row2.getByRole('option', { name: `${T.opd_lead}: ${T.opd_price} · ${T.opd_type_number}`, exact: true }).waitFor();
  const firstMatch = (await row2.getByRole('option').first().textContent()).trim();
  assert.equal(firstMatch, `${T.opd_lead}: ${T.opd_price} · ${T.opd_type_number}`, 'the lead\'s budget is listed first');
  await operand2.press('Enter');
  assert.equal(await row2.getByRole('listbox').count(), 0, 'the list closes once an entry is picked');
  await row2.getByLabel(`${T.cond_operator} 2`).selectOption({ label: T.op_between });
  await row2.getByLabel(`${T.cond_value} 2`).fill('100');
  await row2.getByLabel(`${T.cond_upper} 2`).fill('500');
  await block.getByRole('button', { name: new RegExp(`^${T.cond_join_of} 2`) }).click();
  await page.screenshot({ path: path.join(SCREENSHOTS, 'builder_conditions.png'), fullPage: true });
  // Reordered by keyboard: condition 2 moves up.
  await block.getByRole('button', { name: `${T.cond_move} 2 ${T.cond_up}` }).press('Enter');
  const saved = await save(page, form);
  const record = await stack.api('GET', `/api/v1/rules/${saved.id}`);
  const conditions = record.rule.blocks[0].conditions;
  assert.deepEqual(conditions.map((c) => [c.left, c.op, c.right, c.right_upper ?? null]), [
    [{ path: 'lead.price' }, { is: 'between' }, { literal: 100 }, { literal: 500 }],
    [{ path: 'lead.cf(8001)' }, { is: 'equals' }, { literal: 'WHOLESALE' }, null],
  ]);
  assert.deepEqual(conditions.map((c) => c.join ?? 'and'), ['or', 'and']);

  // A rule on the Comment field; then the field is deleted from the account.
  const rule = {
    schema_version: 2,
    name: 'Comment check',
    trigger: { kind: 'entity_added', entity: 'lead' },
    blocks: [{ id: 1, name: 'If commented', conditions: [
      { left: { path: 'lead.name' }, op: { is: 'is_not_empty' } },
      { left: { path: 'lead.cf(8004)' }, op: { is: 'contains' }, right: { literal: 'urgent' } },
    ], actions: [] }],
  };
  await stack.api('POST', '/api/v1/rules', { name: rule.name, rule });
  await stack.kommo('DELETE', '/api/v4/leads/custom_fields/8004');
  await stack.api('POST', '/api/v1/account/schema/refresh');
  await page.goto(stack.page('advanced_settings'));
  await page.getByRole('link', { name: rule.name, exact: true }).click();
  const form2 = page.getByRole('form', { name: T.builder_title });
  const flagged = form2.getByRole('group', { name: `${T.cond_condition} 2` });
  const operand = flagged.getByRole('combobox', { name: `${T.cond_operand} 2` });
  await operand.waitFor();
  assert.equal(await operand.getAttribute('aria-invalid'), 'true', 'the deleted field is flagged at its row');
  assert.match(await flagged.textContent(), /8004/);
  assert.match(await operand.inputValue(), new RegExp(T.opd_deleted_field));
  assert.equal(await form2.getByRole('group', { name: `${T.cond_condition} 1` }).locator('[aria-invalid="true"]').count(), 0);
  assert.ok(await form2.getByRole('button', { name: T.rule_save, exact: true }).isDisabled(), 'save waits for the fix');
  await page.screenshot({ path: path.join(SCREENSHOTS, 'builder_deleted_field.png'), fullPage: true });
  assert.deepEqual(errors, []);
  await page.close();
});
