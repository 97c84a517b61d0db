// The Settings tab's working hours, driven by role and label as an admin would: days ticked and
// unticked, times typed, a span added, a mistake shown at its field, unsaved changes kept across a
// switch of tabs, then saved and read back through the API and after a reload. A rule whose
// condition is "inside working hours" is dry-run before and after the Settings tab changes today's
// hours. Members see the hours but cannot change them. Screenshots in en and ru, light and dark.
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

// The advanced-settings page opened on the Settings tab, its hours loaded.
async function settingsTab(overrides = {}, tx = T) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('dialog', (d) => d.accept());
  await page.goto(stack.page('advanced_settings', overrides));
  await page.getByRole('tab', { name: tx.tab_settings, ...exact }).click();
  await page.getByRole('checkbox', { name: `${tx.day_mon}: ${tx.hours_working_day}` }).waitFor();
  return { page, errors, close: () => context.close() };
}

const working = (page, day) => page.getByRole('checkbox', { name: `${T[day]}: ${T.hours_working_day}` });
const time = (page, day, end, n) => page.getByLabel(`${T[day]}, ${T[`builder_${end}`].toLowerCase()}${n ? ` (${n})` : ''}`, exact);
const status = (page) => page.getByTestId('hours-status');
const hours = async () => (await stack.api('GET', '/api/v1/account/settings')).working_hours.intervals;

test('an admin sets the working hours in the Settings tab, and they are kept as typed', async () => {
  await stack.api('PUT', '/api/v1/account/settings', { working_hours: { intervals: [] } });
  const { page, errors, close } = await settingsTab();
  // The account's timezone comes from its schema.
  await page.getByTestId('hours-timezone').getByText('Europe/Berlin').waitFor();
  // Nothing saved yet: every day is a day off.
  for (const day of ['day_mon', 'day_sat', 'day_sun']) assert.equal(await working(page, day).isChecked(), false);
  const save = page.getByRole('button', { name: T.hours_save, ...exact });
  assert.equal(await save.isDisabled(), true, 'nothing to save yet');

  // Monday, by keyboard: the checkbox ticked with Space, then 08:30 to 17:00.
  await working(page, 'day_mon').focus();
  await page.keyboard.press('Space');
  await time(page, 'day_mon', 'from').fill('08:30');
  // A span that ends when it starts is refused at its field.
  await time(page, 'day_mon', 'to').fill('08:30');
  const to = time(page, 'day_mon', 'to');
  assert.equal(await to.getAttribute('aria-invalid'), 'true');
  await page.getByText(T.hours_same_time).waitFor();
  await save.click();
  await status(page).getByText(T.hours_fix_fields).waitFor();
  assert.deepEqual(await hours(), [], 'nothing was sent');
  await to.fill('17:00');
  assert.equal(await to.getAttribute('aria-invalid'), null);
  // A second span the same day starts where the first ends.
  await page.getByRole('button', { name: `${T.builder_add_interval} (${T.day_mon})`, ...exact }).click();
  assert.equal(await time(page, 'day_mon', 'from', 2).inputValue(), '17:00');
  assert.equal(await time(page, 'day_mon', 'to', 2).inputValue(), '18:00');
  // Saturday night runs past midnight: allowed, and said so.
  await working(page, 'day_sat').check();
  await time(page, 'day_sat', 'from').fill('22:00');
  await time(page, 'day_sat', 'to').fill('02:00');
  await page.getByText(T.hours_overnight).waitFor();
  await status(page).getByText(T.hours_unsaved).waitFor();

  // Another tab and back: the unsaved changes are still there, marked on the tab meanwhile.
  await page.getByRole('tab', { name: T.tab_statistics, ...exact }).click();
  assert.ok((await page.getByTestId('tab-tab_settings').innerText()).includes('•'), 'the Settings tab shows unsaved changes');
  await page.getByRole('tab', { name: T.tab_settings }).click();
  assert.equal(await time(page, 'day_mon', 'from', 1).inputValue(), '08:30');
  assert.equal(await working(page, 'day_sat').isChecked(), true);
  assert.deepEqual(await hours(), [], 'nothing saved while switching tabs');

  await page.screenshot({ path: path.join(SCREENSHOTS, 'settings_hours-unsaved-en-light.png'), fullPage: true });
  await save.click();
  await status(page).getByText(T.hours_saved).waitFor();
  assert.equal(await save.isDisabled(), true, 'saved: nothing left to save');
  assert.deepEqual(await hours(), [
    { day: 'Mon', from: '08:30:00', to: '17:00:00' },
    { day: 'Mon', from: '17:00:00', to: '18:00:00' },
    { day: 'Sat', from: '22:00:00', to: '02:00:00' },
  ]);

  // A change undone leaves nothing to save.
  await working(page, 'day_sun').check();
  await status(page).getByText(T.hours_unsaved).waitFor();
  await page.getByRole('button', { name: T.hours_discard, ...exact }).click();
  assert.equal(await working(page, 'day_sun').isChecked(), false);

  // Read again after a reload.
  await page.reload();
  await page.getByRole('tab', { name: T.tab_settings, ...exact }).click();
  await working(page, 'day_mon').waitFor();
  assert.equal(await time(page, 'day_mon', 'from', 1).inputValue(), '08:30');
  assert.equal(await time(page, 'day_mon', 'to', 2).inputValue(), '18:00');
  assert.equal(await time(page, 'day_sat', 'to').inputValue(), '02:00');
  assert.equal(await working(page, 'day_tue').isChecked(), false);
  assert.deepEqual(errors, []);
  await close();
});

test('a dry run of the working-hours condition follows the hours the Settings tab saved', async () => {
  await stack.api('PUT', '/api/v1/account/settings', { working_hours: { intervals: [] } });
  const note = (text) => [{ do: { type: 'add_note', entity: 'lead', text } }];
  const rule = await stack.api('POST', '/api/v1/rules', {
    name: 'Office hours',
    rule: {
      schema_version: 2, name: 'Office hours', trigger: { kind: 'entity_added', entity: 'lead' },
      blocks: [{ id: 1, name: 'Inside', conditions: [{ left: { path: 'date.working_hours' }, op: { is: 'is_true' } }], actions: note('inside working hours') }],
      else_scenario: { actions: note('day off') },
    },
  });
  const lead = (await stack.kommo('GET', '/api/v4/leads'))._embedded.leads[0];
  const inside = async () => {
    const run = await stack.api('POST', `/api/v1/rules/${rule.id}/dry-run`, { entity_id: lead.id });
    const texts = run.plan.map((p) => p.action.text);
    assert.equal(texts.length, 1, JSON.stringify(run.plan));
    return texts[0] === 'inside working hours';
  };
  assert.equal(await inside(), false, 'no hours: outside');

  // Today in the account's timezone, all day: 00:00–12:00 and 12:00 to midnight.
  const today = new Intl.DateTimeFormat('en-US', { timeZone: 'Europe/Berlin', weekday: 'short' })
    .format(new Date()).toLowerCase().slice(0, 3);
  const day = `day_${today}`;
  const { page, errors, close } = await settingsTab();
  await working(page, day).check();
  await time(page, day, 'from').fill('00:00');
  await time(page, day, 'to').fill('12:00');
  await page.getByRole('button', { name: `${T.builder_add_interval} (${T[day]})`, ...exact }).click();
  await time(page, day, 'to', 2).fill('00:00');
  await page.getByRole('button', { name: T.hours_save, ...exact }).click();
  await status(page).getByText(T.hours_saved).waitFor();
  assert.equal(await inside(), true, 'today all day: inside');

  // Today a day off again.
  await working(page, day).uncheck();
  await page.getByRole('button', { name: T.hours_save, ...exact }).click();
  await status(page).getByText(T.hours_saved).waitFor();
  assert.equal(await inside(), false, 'today off: outside');
  assert.deepEqual(errors, []);
  await close();
});

test('members see the working hours but cannot change them, and are told why', async () => {
  await stack.api('PUT', '/api/v1/account/settings', {
    working_hours: { intervals: [{ day: 'Tue', from: '10:00:00', to: '16:00:00' }] },
  });
  const { page, errors, close } = await settingsTab({ is_admin: 'false', user_id: '1002' });
  await page.getByTestId('hours-admins-only').getByText(T.hours_admins_only).waitFor();
  assert.equal(await working(page, 'day_tue').isChecked(), true);
  assert.equal(await working(page, 'day_tue').isDisabled(), true);
  assert.equal(await time(page, 'day_tue', 'from').isDisabled(), true);
  assert.equal(await time(page, 'day_tue', 'from').inputValue(), '10:00');
  assert.equal(await page.getByRole('button', { name: T.hours_save, ...exact }).isDisabled(), true);
  assert.deepEqual(errors, []);
  await close();
});

test('screenshots of the Settings tab in en and ru, light and dark', async () => {
  await stack.api('PUT', '/api/v1/account/settings', {
    working_hours: {
      intervals: ['Mon', 'Tue', 'Wed', 'Thu', 'Fri'].map((day) => ({ day, from: '09:00:00', to: '18:00:00' }))
        .concat([{ day: 'Fri', from: '20:00:00', to: '02:00:00' }]),
    },
  });
  for (const lang of ['en', 'ru']) {
    for (const theme of ['light', 'dark']) {
      const tx = texts(lang);
      const { page, errors, close } = await settingsTab({ lang, ...(theme === 'dark' ? { theme: 'dark' } : {}) }, tx);
      await page.getByTestId('hours-timezone').getByText('Europe/Berlin').waitFor();
      // A mistake at its field, as an admin would see it.
      await page.getByLabel(`${tx.day_wed}, ${tx.builder_to.toLowerCase()}`, exact).fill('09:00');
      await page.getByText(tx.hours_same_time).waitFor();
      await page.screenshot({ path: path.join(SCREENSHOTS, `settings_hours-${lang}-${theme}.png`), fullPage: true });
      // Nothing overflows the page sideways.
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert.ok(overflow <= 0, `${lang} ${theme}: the page overflows by ${overflow}px`);
      assert.deepEqual(errors, []);
      await close();
    }
  }
});
