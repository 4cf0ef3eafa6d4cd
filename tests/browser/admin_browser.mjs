// Headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core: no browser
// download) against the real stack that tests/integration/test_admin_browser.py starts.
//   BASE_URL=http://127.0.0.1:PORT OUT_DIR=build/test-output/browser node admin_browser.mjs
// Prints "STEP name" as it goes and "OK" at the end; exits non-zero on the first failure.
import path from 'node:path';

import { BASE, OUT, clickUntilDenied, expect, launch, step } from './common.mjs';


// Polls from Node: the page's CSP forbids eval, so page.waitForFunction cannot run there.
async function until(check, what, timeout = 15000) {
  const end = Date.now() + timeout;
  for (;;) {
    if (await check()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const browser = await launch();
let failed = false;
try {
  const dialogs = [];
  const violations = [];

  async function userContext(name, userAgent) {
    const context = await browser.newContext(userAgent ? { userAgent } : {});
    const page = await context.newPage();
    await page.goto(`${BASE}/php/login.php`);
    await page.fill('input[name=username]', name);
    await page.fill('input[name=password]', 'demo');
    await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    expect((await page.textContent('body')).includes(`Hello, ${name}`), `${name} is not logged in`);
    return { context, page };
  }

  step('users log in to the PHP demo app');
  const alice = await userContext('alice',
    'Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1');
  const bob = await userContext('bob');
  // A session whose User-Agent is an attack: the admin pages must show it as text.
  const hostile = await userContext('carol', '<script>alert(1)</script>"><img src=x onerror=alert(1)>');

  step('admin opens the sessions page');
  const adminContext = await browser.newContext({ httpCredentials: { username: 'admin', password: 'admin' },
                                                  viewport: { width: 1400, height: 900 } });
  const admin = await adminContext.newPage();
  admin.on('dialog', async (d) => { dialogs.push(d.message()); await d.dismiss(); });
  admin.on('console', (m) => { if (m.type() === 'error') violations.push(m.text()); });
  await admin.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`));
  });
  await admin.goto(`${BASE}/session-guard/sessions`);
  expect((await admin.title()).includes('Sessions'), 'sessions page title');
  const aliceRow = admin.locator('#sessions-body tr', { hasText: 'alice' }).first();
  await aliceRow.waitFor();
  const aliceText = await aliceRow.textContent();
  expect(aliceText.includes('Tablet') && aliceText.includes('iPad'), `alice's device not shown: ${aliceText}`);
  const carolRow = admin.locator('#sessions-body tr', { hasText: 'carol' }).first();
  expect((await carolRow.textContent()).includes('<script>alert(1)</script>'), 'hostile user agent shown as text');
  expect(await admin.locator('#sessions-body img').count() === 0, 'an <img> was injected');
  await admin.screenshot({ path: path.join(OUT, 'sessions.png'), fullPage: true });

  step('selection survives the automatic refresh');
  const bobBox = admin.locator('#sessions-body tr', { hasText: 'bob' }).first().locator('input.pick');
  await bobBox.check();
  const before = await admin.locator('#refreshed').textContent();
  await until(async () => (await admin.locator('#refreshed').textContent()) !== before, 'an automatic refresh');
  expect((await admin.locator('#refreshed').textContent()).startsWith('Updated'), 'refresh succeeded');
  expect(await admin.locator('#sessions-body tr', { hasText: 'bob' }).first().locator('input.pick').isChecked(),
         'selection lost on refresh');
  await admin.locator('#sessions-body tr', { hasText: 'bob' }).first().locator('input.pick').uncheck();

  step('admin kills alice\'s session through the confirmation');
  await admin.locator('#sessions-body tr', { hasText: 'alice' }).first().locator('a', { hasText: /^Kill$/ }).click();
  await admin.waitForURL(/\/session-guard\/confirm\?action=kill/);
  expect((await admin.textContent('h1')).startsWith('Kill session'), 'confirmation page');
  await admin.screenshot({ path: path.join(OUT, 'confirm-kill.png'), fullPage: true });
  await Promise.all([admin.waitForURL(/notice=killed/), admin.click('button.danger')]);
  expect((await admin.textContent('.notice')).includes('The session has been killed.'), 'kill reported');
  await admin.screenshot({ path: path.join(OUT, 'sessions-after-kill.png'), fullPage: true });

  step('alice\'s next click lands on the login page with the reason');
  await clickUntilDenied(alice.page, 'killed');
  expect(/\/php\/login\.php\?.*reason=killed/.test(alice.page.url()), `not the login page: ${alice.page.url()}`);
  const aliceNotice = await alice.page.textContent('.notice');
  expect(/administrator/i.test(aliceNotice), `reason not shown to alice: ${aliceNotice}`);
  await alice.page.screenshot({ path: path.join(OUT, 'alice-killed.png') });

  step('admin blocks bob from the users page');
  await admin.goto(`${BASE}/session-guard/users`);
  await admin.locator('tr[data-user="bob"] a', { hasText: 'Block' }).click();
  await admin.waitForURL(/action=block/);
  await admin.fill('textarea[name=reason]', 'Left the company');
  await Promise.all([admin.waitForURL(/notice=blocked/), admin.click('button.danger')]);
  expect((await admin.textContent('.notice')).includes('bob has been blocked'), 'block reported');
  await admin.screenshot({ path: path.join(OUT, 'users-after-block.png'), fullPage: true });

  step('bob\'s open session ends and his new login is refused');
  await clickUntilDenied(bob.page, 'blocked');
  expect(/blocked/i.test(await bob.page.textContent('.notice')), 'blocked reason shown to bob');
  await bob.page.fill('input[name=username]', 'bob');
  await bob.page.fill('input[name=password]', 'demo');
  await Promise.all([bob.page.waitForNavigation(), bob.page.click('button[type=submit]')]);
  expect(!(await bob.page.textContent('body')).includes('Hello, bob'), 'blocked bob could log in again');
  expect(/reason=blocked/.test(bob.page.url()), `bob's login was not refused as blocked: ${bob.page.url()}`);
  await bob.page.screenshot({ path: path.join(OUT, 'bob-blocked.png') });

  step('audit page shows both actions and the outbox both emails');
  await admin.goto(`${BASE}/session-guard/audit`);
  const audit = await admin.textContent('#audit-body');
  expect(audit.includes('kill_session') && audit.includes('block_user'), 'audit rows');
  await until(async () => {
    await admin.reload();
    const t = await admin.textContent('#outbox-body');
    return t.includes('alice@example.test') && t.includes('bob@example.test') && !t.includes('pending');
  }, 'both emails sent');
  const outbox = await admin.textContent('#outbox-body');
  expect(outbox.includes('alice@example.test') && outbox.includes('bob@example.test'), `outbox: ${outbox}`);
  await admin.screenshot({ path: path.join(OUT, 'audit.png'), fullPage: true });

  step('a phone-sized screen');
  await admin.setViewportSize({ width: 390, height: 844 });
  await admin.goto(`${BASE}/session-guard/sessions`);
  await admin.screenshot({ path: path.join(OUT, 'sessions-phone.png'), fullPage: true });

  expect(dialogs.length === 0, `a dialog opened: ${dialogs.join(', ')}`);
  expect(violations.length === 0, `console errors / CSP violations: ${violations.join(' | ')}`);
  await hostile.context.close();
  console.log('OK');
} catch (e) {
  failed = true;
  console.log(`FAILED: ${e.stack || e}`);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
