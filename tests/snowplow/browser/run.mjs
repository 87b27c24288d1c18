// Drives @snowplow/browser-tracker in Debian's headless Chromium (never a downloaded browser).
// Usage: node run.mjs PAGE_URL COLLECTOR_URL
// The page (served by the Python test) loads the tracker; this script fires three events one
// after another, waiting for each collector response, then prints {"cookie": <sp value>}.
import { chromium } from 'playwright-core';

const [pageUrl, collector] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
});
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('console', (msg) => console.error('page:', msg.text()));
  const collected = (r) => r.url().startsWith(collector) && r.request().method() === 'POST';
  await page.goto(pageUrl);
  await page.waitForFunction(() => window.snowplowBrowserTracking !== undefined);
  const steps = [
    `sp.trackPageView()`,
    `sp.trackStructEvent({ category: 'shop', action: 'add-to-basket', label: 'pcs', value: 2 })`,
    `sp.trackPageView({ title: 'again' })`,
  ];
  await page.evaluate((collectorUrl) => {
    window.sp = window.snowplowBrowserTracking;
    window.sp.newTracker('sp1', collectorUrl, {
      appId: 'browser-test', platform: 'web', eventMethod: 'post', bufferSize: 1,
      contexts: { webPage: true },
    });
  }, collector);
  for (const step of steps) {
    const response = page.waitForResponse(collected, { timeout: 30000 });
    await page.evaluate(step);
    const r = await response;
    if (r.status() !== 200) throw new Error(`collector answered ${r.status()}`);
  }
  const cookies = await context.cookies(collector);
  const sp = cookies.find((c) => c.name === 'sp');
  console.log(JSON.stringify({ cookie: sp ? sp.value : null }));
} finally {
  await browser.close();
}
