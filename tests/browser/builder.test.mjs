// The rule builder as a Kommo admin uses it: the manual's WHOLESALE/RETAIL rule built only by clicking
// and typing, run on leads created in the emulator and explained by the debugger; a two-block rule
// built and reordered with the keyboard alone; the builder in four languages and in the dark theme.
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

async function newPage(url, viewport = { width: 1280, height: 800 }) {
  const page = await browser.newPage({ viewport });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('dialog', (d) => d.accept());
  await page.goto(url);
  return { page, errors };
}

// Waits for something the backend does in the background (a webhook processed): runs the emulator's
// webhook deliveries, then asks, a bounded number of times.
async function eventually(what, check, rounds = 60) {
  for (let i = 0; i < rounds; i++) {
    const value = await check();
    if (value) return value;
    await stack.control('POST', '/deliveries/run');
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.fail(`timed out waiting for ${what}`);
}

async function addCondition(block, n, operandLabel, operator, value) {
  await block.getByRole('button', { name: T.cond_add, exact: true }).click();
  const row = block.getByRole('group', { name: `${T.cond_condition} ${n}` });
  // The operand picker is a searchable list: typed into, then the entry picked.
  await row.getByRole('combobox', { name: `${T.cond_operand} ${n}` }).fill(operandLabel.split(' · ')[0]);
  await row.getByRole('option', { name: operandLabel, exact: true }).click();
  await row.getByLabel(`${T.cond_operator} ${n}`).selectOption({ label: operator });
  await row.getByLabel(`${T.cond_value} ${n}`).fill(value);
}

async function addAction(block, kind, n) {
  await block.getByLabel(T.act_add_kind).selectOption(kind);
  await block.getByRole('button', { name: T.act_add, exact: true }).click();
  return block.getByRole('group', { name: T.act_action_n.replace('{n}', n) });
}

test('the WHOLESALE/RETAIL rule is built by clicking and typing, runs on new leads and is explained', async () => {
  const { page, errors } = await newPage(stack.page('advanced_settings'));
  await page.getByRole('button', { name: T.rule_new, exact: true }).click();
  await page.getByRole('button', { name: /blank/i }).first().click();
  const form = page.getByRole('form', { name: T.builder_title });
  await form.getByLabel(T.rule_name, exact).fill('Wholesale or retail');
  const trigger = form.getByRole('region', { name: T.builder_trigger, exact: true });
  await trigger.getByLabel(T.trg_kind, exact).selectOption('entity_added');
  await trigger.getByLabel(T.trg_entity, exact).selectOption({ label: T.entity_lead });

  const name = `${T.opd_lead}: ${T.opd_name} · ${T.opd_type_text}`;
  const first = form.getByRole('listitem', { name: `${T.builder_block} 1` });
  await first.getByLabel(`${T.builder_block_name} 1`).fill('If wholesale');
  const wholesale = form.getByRole('listitem', { name: 'If wholesale' });
  await addCondition(wholesale, 1, name, T.op_equals, 'WHOLESALE form order');
  const assign = await addAction(wholesale, 'change_responsible', 1);
  await assign.getByLabel(T.act_new_responsible).selectOption({ label: 'Bruno Sales' });
  const task = await addAction(wholesale, 'create_task', 2);
  await task.getByLabel(T.act_responsible, exact).selectOption({ label: 'Bruno Sales' });
  await task.getByLabel(T.act_task_type, exact).selectOption({ label: 'Follow-up' });
  await task.getByLabel(T.act_complete_in).fill('1');
  await task.getByLabel(T.act_complete_unit).selectOption({ label: T.tmr_unit_hours });
  await task.getByLabel(T.act_task_text).fill('Call the wholesale client {{lead.name}}');

  await form.getByRole('button', { name: T.builder_add_block, exact: true }).click();
  await form.getByRole('listitem', { name: `${T.builder_block} 2` }).getByLabel(`${T.builder_block_name} 2`).fill('If retail');
  const retail = form.getByRole('listitem', { name: 'If retail' });
  await addCondition(retail, 1, name, T.op_equals, 'RETAIL form order');
  const assignRetail = await addAction(retail, 'change_responsible', 1);
  await assignRetail.getByLabel(T.act_new_responsible).selectOption({ label: 'Chen Support' });

  // Collapsed, the first block reads as a sentence.
  await wholesale.getByRole('button', { name: `${T.builder_collapse} «If wholesale»` }).click();
  const sentence = await wholesale.locator('.rb-block-sentence').textContent();
  assert.match(sentence, /WHOLESALE form order/);
  assert.match(sentence, /Bruno Sales/);
  await page.screenshot({ path: path.join(SCREENSHOTS, 'builder_wholesale.png'), fullPage: true });

  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url() === `${stack.backendUrl}/api/v1/rules` && r.request().method() === 'POST'),
    form.getByRole('button', { name: T.rule_save, exact: true }).click(),
  ]);
  assert.equal(response.status(), 201, await response.text());
  const saved = await response.json();
  assert.equal(saved.enabled, true, 'a new rule is saved switched on');

  const [lead] = (await stack.kommo('POST', '/api/v4/leads', [{ name: 'WHOLESALE form order' }]))._embedded.leads;
  const [other] = (await stack.kommo('POST', '/api/v4/leads', [{ name: 'RETAIL form order' }]))._embedded.leads;
  // Both runs are in the rule's log once their actions were performed (our API: no Kommo requests
  // spent on waiting), then Kommo's state is read once.
  await eventually('both leads processed', async () => {
    const log = await stack.api('GET', `/api/v1/rules/${saved.id}/log`);
    return log.length >= 2 && log.every((e) => e.outcome === 'ok');
  });
  const wholesaleLead = await stack.kommo('GET', `/api/v4/leads/${lead.id}`);
  assert.equal(wholesaleLead.responsible_user_id, 1002, 'the wholesale lead goes to Bruno Sales');
  const tasks = (await stack.kommo('GET', `/api/v4/tasks?filter[entity_type]=leads&filter[entity_id]=${lead.id}`))._embedded.tasks;
  assert.equal(tasks.length, 1);
  assert.equal(tasks[0].responsible_user_id, 1002);
  assert.equal(tasks[0].text, 'Call the wholesale client WHOLESALE form order');
  assert.equal((await stack.kommo('GET', `/api/v4/leads/${other.id}`)).responsible_user_id, 1003, 'the retail lead goes to Chen Support');

  // The debugger shows "If wholesale" completed with its condition's values.
  await page.getByRole('tab', { name: T.tab_debugger, exact: true }).click();
  await page.getByLabel(T.debugger_rule, exact).selectOption({ label: 'Wholesale or retail' });
  const runs = page.getByTestId('debugger-log').locator('summary');
  await eventually('both runs logged', async () => (await runs.count()) >= 2, 20);
  for (const summary of await runs.all()) await summary.click();
  const completed = page.getByRole('listitem', { name: `If wholesale: ${T.trace_completed}` });
  await completed.first().waitFor();
  assert.match(await completed.first().textContent(), /«WHOLESALE form order»/);
  await page.screenshot({ path: path.join(SCREENSHOTS, 'debugger_wholesale.png'), fullPage: true });
  assert.deepEqual(errors, []);
  await page.close();
});

test('a two-block rule is built and its blocks swapped with the keyboard alone', async () => {
  const { page, errors } = await newPage(stack.page('advanced_settings'));
  const press = async (locator, key = 'Enter') => {
    await locator.focus();
    await page.keyboard.press(key);
  };
  const type = async (locator, text) => {
    await locator.focus();
    await page.keyboard.press('ControlOrMeta+a');
    await page.keyboard.type(text);
  };
  await press(page.getByRole('button', { name: T.rule_new, exact: true }));
  await press(page.getByRole('button', { name: /blank/i }).first());
  const form = page.getByRole('form', { name: T.builder_title });
  await type(form.getByLabel(T.rule_name, exact), 'Two blocks');
  await type(form.getByLabel(`${T.builder_block_name} 1`), 'First');
  await press(form.getByRole('button', { name: T.builder_add_block, exact: true }));
  await type(form.getByLabel(`${T.builder_block_name} 2`), 'Second');
  await press(form.getByRole('button', { name: `${T.builder_move_block_up} «Second»` }));
  const live = form.locator('[aria-live="polite"]').first();
  assert.match(await live.textContent(), new RegExp(`${T.builder_moved_block} «Second».*1 / 2`));
  const order = await form.locator('.rb-block-list > li').evaluateAll((ls) => ls.map((l) => l.getAttribute('aria-label')));
  assert.deepEqual(order, ['Second', 'First']);
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url() === `${stack.backendUrl}/api/v1/rules` && r.request().method() === 'POST'),
    press(form.getByRole('button', { name: T.rule_save, exact: true })),
  ]);
  const stored = (await stack.api('GET', `/api/v1/rules/${(await response.json()).id}`)).rule;
  assert.deepEqual(stored.blocks.map((b) => [b.id, b.name]), [[2, 'Second'], [1, 'First']], 'ids stay with their blocks');
  assert.deepEqual(errors, []);
  await page.close();
});

test('the builder speaks four languages and follows the dark theme', async () => {
  const rule = {
    schema_version: 2,
    name: 'Screens',
    trigger: { kind: 'status_changed', pipeline_id: 7001, status_id: 7102, entry: 'created_or_moved' },
    blocks: [{
      id: 1, name: 'If wholesale',
      conditions: [{ left: { path: 'lead.cf(8001)' }, op: { is: 'equals' }, right: { literal: 'WHOLESALE' } }],
      actions: [
        { id: 1, do: { type: 'change_responsible', entity: 'lead', user: { user: 1002 } } },
        { id: 2, timer: { kind: 'after', amount: 1, unit: 'hours' }, do: { type: 'create_task', entity: 'lead', responsible: { user: 1002 }, task_type_id: 1, complete_in_seconds: 3600, text: 'Call {{lead.name}}' } },
      ],
    }],
  };
  await stack.api('POST', '/api/v1/rules', { name: rule.name, rule });
  for (const [lang, theme, viewport] of [
    ['en', 'light', { width: 1920, height: 1080 }], ['es', 'light'], ['pt', 'light'], ['ru', 'light'], ['en', 'dark'],
  ]) {
    const L = texts(lang);
    const { page, errors } = await newPage(stack.page('advanced_settings', { lang, theme }), viewport);
    await page.getByRole('link', { name: rule.name, exact: true }).click();
    const form = page.getByRole('form', { name: L.builder_title });
    await form.waitFor();
    assert.ok(await form.getByRole('button', { name: L.rule_save, exact: true }).isVisible(), `${lang}: the save button speaks ${lang}`);
    assert.ok(await form.getByText(L.builder_blocks_order).isVisible(), `${lang}: the blocks' order is explained`);
    if (theme === 'dark') {
      const bg = await form.locator('.rb-section').first().evaluate((e) => getComputedStyle(e).backgroundColor);
      assert.notEqual(bg, 'rgb(255, 255, 255)', 'sections take the dark background');
    }
    const size = viewport ? `_${viewport.width}` : '';
    await page.screenshot({ path: path.join(SCREENSHOTS, `builder_${lang}_${theme}${size}.png`), fullPage: true });
    assert.deepEqual(errors, []);
    await page.close();
  }
});
