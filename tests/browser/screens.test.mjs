// Every screen, in every language, light and dark, at 1280x800 and 1920x1080 (and a card in its narrow
// right panel): a screenshot of each under SCREENSHOT_DIR (`<screen>-<lang>-<theme>-<w>x<h>.png`), and on
// each no raw i18n key on show, an accessible name on every interactive control, and no horizontal
// overflow. The advanced-settings page's tabs are found by role=tab, so a tab added later is covered;
// every other location is in LOCATIONS, and the test fails when the host page serves one it lacks.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';

import { startStack } from './stack.mjs';

// The host page's locations besides advanced_settings: how a person opens our part of each, and the
// element our app is mounted in when it lives in a narrow panel (measured for overflow on its own).
const openListMenu = async (page) => {
  for (const box of (await page.locator('.list-row__checkbox').all()).slice(0, 2)) await box.check();
  await page.locator('#list-more').click();
  await page.locator('#list-more-menu a').first().click();
};
const LOCATIONS = [
  { name: 'lcard', query: { lead_id: '5001' }, panel: '#widgets_block' },
  { name: 'ccard', query: { entity_id: '1' }, panel: '#widgets_block' },
  { name: 'comcard', query: { entity_id: '1' }, panel: '#widgets_block' },
  { name: 'salesbot_designer' },
  { name: 'llist', open: openListMenu },
  { name: 'clist', open: openListMenu },
  { name: 'digital_pipeline' },
];

const LANGS = ['en', 'es', 'pt', 'ru'];
const THEMES = ['light', 'dark'];
const SIZES = [{ width: 1280, height: 800 }, { width: 1920, height: 1080 }];
const SCREENSHOTS = process.env.SCREENSHOT_DIR || 'target/screenshots';
const UI_KEYS = Object.keys(JSON.parse(readFileSync(new URL('../../i18n/en.json', import.meta.url))).ui);
// A text that is a key: one of ours, or shaped like one (`ui.something.x`, or a known key's prefix
// followed by `_word`s, as a missing key built at run time would show).
const PREFIXES = [...new Set(UI_KEYS.filter((k) => k.includes('_')).map((k) => k.split('_')[0]))];
const KEY_SHAPE = new RegExp(`(^|[^\\w.{])((ui\\.[a-z0-9_]+(\\.[a-z0-9_]+)*)|((${PREFIXES.join('|')})(_[a-z0-9]+)+))(?![\\w}])`, 'm');
const INTERACTIVE = ['button', 'link', 'textbox', 'searchbox', 'combobox', 'listbox', 'checkbox', 'radio', 'switch', 'tab', 'spinbutton', 'slider', 'menuitem'];
const NAMELESS = new RegExp(`^\\s*- (${INTERACTIVE.join('|')})(?=$|:| \\[)`);

let stack;
let browser;

before(async () => {
  mkdirSync(SCREENSHOTS, { recursive: true });
  stack = await startStack();
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-quic'],
  });
  // Something on each screen: a rule that runs on leads, a manual rule for the card and the list,
  // and a global variable.
  await stack.api('POST', '/api/v1/rules', {
    name: 'Wholesale or retail',
    rule: {
      schema_version: 2,
      name: 'Wholesale or retail',
      trigger: { kind: 'entity_added', entity: 'lead' },
      blocks: [{
        id: 1, name: 'If wholesale',
        conditions: [{ left: { path: 'lead.name' }, op: { is: 'equals' }, right: { literal: 'WHOLESALE form order' } }],
        actions: [{ id: 11, do: { type: 'change_responsible', entity: 'lead', user: { user: 1002 } } }],
      }],
    },
  });
  await stack.api('POST', '/api/v1/rules', {
    name: 'Mark as checked',
    rule: { schema_version: 2, name: 'Mark as checked', trigger: { kind: 'manual', entity: 'lead' }, blocks: [{ id: 1, name: 'Tag it', conditions: [], actions: [] }] },
  });
  await stack.api('PUT', '/api/v1/variables/missed_calls', { value: '3' });
});

after(async () => {
  await browser?.close();
  stack?.stop();
});

// Waits until our app has mounted and nothing in it is loading.
async function settled(page) {
  await page.locator('.rb-root').first().waitFor();
  await page.waitForFunction(() => !document.querySelector('.rb-root .rb-loading'));
}

// The checks of one screen as it is shown; returns the problems found.
async function problems(page, screen, panel) {
  const found = [];
  const roots = page.locator('.rb-root');
  for (const root of await roots.all()) {
    const text = await root.innerText();
    for (const line of text.split('\n')) {
      const shaped = KEY_SHAPE.exec(line);
      if (shaped) found.push(`${screen}: a raw text key shows: "${shaped[2]}" in "${line.trim()}"`);
    }
    const snapshot = await root.ariaSnapshot();
    for (const line of snapshot.split('\n')) {
      if (NAMELESS.test(line)) found.push(`${screen}: a control without an accessible name: ${line.trim()}`);
    }
  }
  const overflow = await page.evaluate((panelSelector) => {
    const out = [];
    const doc = document.documentElement;
    if (doc.scrollWidth > window.innerWidth) out.push(`the page scrolls sideways (${doc.scrollWidth} > ${window.innerWidth})`);
    for (const el of document.querySelectorAll('.rb-root')) {
      if (el.scrollWidth > el.clientWidth + 1) out.push(`the app is wider than its place (${el.scrollWidth} > ${el.clientWidth})`);
    }
    const panel = panelSelector && document.querySelector(panelSelector);
    if (panel && panel.scrollWidth > panel.clientWidth + 1) out.push(`the panel overflows (${panel.scrollWidth} > ${panel.clientWidth})`);
    return out;
  }, panel ?? null);
  for (const o of overflow) found.push(`${screen}: ${o}`);
  return found;
}

async function shoot(page, name) {
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

test('every location the host page serves is in LOCATIONS', async () => {
  const page = await browser.newPage();
  await page.goto(stack.page('advanced_settings'));
  const served = await page.locator('#host-nav a[data-area]').evaluateAll((links) => links.map((a) => a.dataset.area));
  const missing = served.filter((area) => area !== 'advanced_settings' && !LOCATIONS.some((l) => l.name === area));
  assert.deepEqual(missing, [], 'add these locations to LOCATIONS at the top of screens.test.mjs');
  await page.close();
});

for (const lang of LANGS) {
  for (const theme of THEMES) {
    test(`every screen in ${lang}, ${theme}`, async () => {
      const found = [];
      const errors = [];
      const page = await browser.newPage({ viewport: SIZES[0] });
      page.on('pageerror', (e) => errors.push(String(e)));
      const query = { lang, ...(theme === 'dark' ? { theme: 'dark' } : {}) };

      // The advanced-settings page, tab by tab.
      await page.goto(stack.page('advanced_settings', query));
      await settled(page);
      const tabs = page.getByRole('tab');
      const count = await tabs.count();
      assert.ok(count >= 4, `the settings page has its tabs (found ${count})`);
      for (let i = 0; i < count; i++) {
        const tab = tabs.nth(i);
        const slug = ((await tab.getAttribute('data-testid')) ?? `tab${i}`).replace(/^tab-(tab_)?/, '');
        await tab.click();
        assert.equal(await tab.getAttribute('aria-selected'), 'true');
        await settled(page);
        for (const size of SIZES) {
          await page.setViewportSize(size);
          const screen = `settings_${slug}-${lang}-${theme}-${size.width}x${size.height}`;
          await shoot(page, screen);
          found.push(...(await problems(page, screen)));
        }
        await page.setViewportSize(SIZES[0]);
      }

      for (const location of LOCATIONS) {
        await page.setViewportSize(SIZES[0]);
        await page.goto(stack.page(location.name, { ...(location.query ?? {}), ...query }));
        if (location.open) await location.open(page);
        await settled(page);
        for (const size of SIZES) {
          await page.setViewportSize(size);
          const screen = `${location.name}-${lang}-${theme}-${size.width}x${size.height}`;
          await shoot(page, screen);
          found.push(...(await problems(page, screen, location.panel)));
        }
        if (location.panel) {
          const panel = page.locator(location.panel);
          const width = Math.round((await panel.boundingBox()).width);
          await panel.screenshot({ path: path.join(SCREENSHOTS, `${location.name}-${lang}-${theme}-panel${width}.png`) });
        }
      }
      assert.deepEqual(found, []);
      assert.deepEqual(errors, []);
      await page.close();
    });
  }
}
