// Session policies in a real browser (Debian's headless Chromium via playwright-core) against
// the stack tests/integration/test_admin_browser.py starts with `SessionGuardMaxSessions 1`
// on /php/: alice signs in in two browser contexts; the first context's next click shows the
// superseded message on the demo's login page. Then the second context opens its own
// sessions page (/session-guard/my-sessions, no Basic auth) from inside the app.
//   BASE_URL=http://127.0.0.1:PORT OUT_DIR=build/test-output/browser node policy_browser.mjs
// Prints "STEP name" as it goes and "OK" at the end; exits non-zero on the first failure.
import path from 'node:path';

import { BASE, OUT, clickUntilDenied, expect, launch, step } from './common.mjs';

const SUPERSEDED = 'Another session has been started using your account. You will now be signed out.';


const browser = await launch();
let failed = false;
try {
  const violations = [];
  async function signIn(name, userAgent) {
    const context = await browser.newContext(userAgent ? { userAgent } : {});
    const page = await context.newPage();
    // The demo app has no favicon (404) and the 401 page is expected: only other errors count.
    page.on('console', (m) => {
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) violations.push(m.text());
    });
    await page.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => console.error(`CSP violation: ${e.violatedDirective}`));
    });
    await page.goto(`${BASE}/php/login.php`);
    await page.fill('input[name=username]', name);
    await page.fill('input[name=password]', 'demo');
    await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    expect((await page.textContent('body')).includes(`Hello, ${name}`), `${name} is not logged in`);
    return { context, page };
  }

  step('alice signs in on her laptop');
  const laptop = await signIn('alice');
  await laptop.page.screenshot({ path: path.join(OUT, 'limit-first-login.png') });

  step('alice signs in on her phone: the limit is 1');
  const phone = await signIn('alice',
    'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36');

  step('the laptop\'s next click shows the superseded message');
  await clickUntilDenied(laptop.page, 'superseded');
  expect(/\/php\/login\.php\?.*reason=superseded/.test(laptop.page.url()), `not the login page: ${laptop.page.url()}`);
  const notice = await laptop.page.textContent('.notice');
  expect(notice.includes(SUPERSEDED), `superseded message not shown: ${notice}`);
  await laptop.page.screenshot({ path: path.join(OUT, 'limit-superseded.png') });

  step('the phone is still signed in and sees its own sessions page');
  await phone.page.click('a[href="/php/page2.php"]');
  expect((await phone.page.textContent('body')).includes('alice'), 'the newer session must live on');
  await phone.page.goto(`${BASE}/session-guard/my-sessions`);
  expect((await phone.page.textContent('h1')).includes('Your sessions'), 'my-sessions page');
  const rows = await phone.page.locator('#my-sessions-body tr').count();
  expect(rows === 1, `one session expected, ${rows} listed`);
  expect((await phone.page.textContent('#my-sessions-body')).includes('This device'), 'this device marked');
  expect((await phone.page.textContent('#my-sessions-body')).includes('Phone'), 'device class shown');
  await phone.page.screenshot({ path: path.join(OUT, 'my-sessions.png'), fullPage: true });

  step('the laptop without a session gets the 401 page, not a password prompt');
  const resp = await laptop.page.goto(`${BASE}/session-guard/my-sessions`);
  expect(resp.status() === 401, `status ${resp.status()}`);
  expect((await laptop.page.textContent('main')).includes('Sign in to the application first'), '401 explains');

  expect(violations.length === 0, `console errors / CSP violations: ${violations.join(' | ')}`);
  console.log('OK');
} catch (e) {
  failed = true;
  console.log(`FAILED: ${e.stack || e}`);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
