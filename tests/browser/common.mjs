// What both browser scripts share: the environment they run in, the browser launch, and
// the "next click" of a user whose session was ended elsewhere.
import { chromium } from 'playwright-core';
import fs from 'node:fs';

export const BASE = process.env.BASE_URL;
export const OUT = process.env.OUT_DIR || 'build/test-output/browser';
if (!BASE) throw new Error('BASE_URL is required');
fs.mkdirSync(OUT, { recursive: true });

export function expect(cond, what) {
  if (!cond) throw new Error(what);
}

export function step(name) {
  console.log(`STEP ${name}`);
}

// The user's next click after an action elsewhere: the deny-list reaches Apache within a
// poll (250 ms), so a click that raced ahead of it is answered normally; click again (as a
// user would) until the denial shows, for at most `timeout` ms.
export async function clickUntilDenied(page, reason, timeout = 10000) {
  const end = Date.now() + timeout;
  const pattern = new RegExp(`reason=${reason}`);
  for (;;) {
    await Promise.all([page.waitForNavigation(), page.click('a[href="/php/page2.php"]')]);
    if (pattern.test(page.url())) return;
    if (Date.now() > end) throw new Error(`not denied as ${reason}: ${page.url()}`);
    await new Promise((r) => setTimeout(r, 300));
    await page.goto(`${BASE}/php/`);
    if (pattern.test(page.url())) return;
  }
}

// Debian's Chromium, no browser download; without the background-networking flags it
// keeps trying hosts this machine cannot reach.
export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
           '--disable-sync', '--no-first-run'],
  });
}
