// Open the test page in headless Chromium and report every request the Mixpanel SDK sends
// to driftline, decoded, with driftline's answer. Usage: node run.mjs PAGE_URL API_URL
import { chromium } from 'playwright-core';

const [pageUrl, apiUrl] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
         '--disable-component-update'],
});
const sent = [];
try {
  const page = await browser.newPage();
  page.on('response', async (response) => {
    const request = response.request();
    if (!request.url().startsWith(apiUrl)) return;
    const form = new URLSearchParams(request.postData() || '');
    const raw = form.get('data') || '';
    let payload = null;
    try { payload = JSON.parse(Buffer.from(raw, 'base64').toString('utf8')); } catch (e) { payload = raw; }
    sent.push({
      url: request.url(), status: response.status(), body: await response.text(), payload,
      allowOrigin: response.headers()['access-control-allow-origin'] || null,
    });
  });
  await page.goto(`${pageUrl}&api=${encodeURIComponent(apiUrl)}`);
  const deadline = Date.now() + 60000;
  const done = () => {
    const events = sent.filter((s) => s.url.includes('/track') && s.status === 200)
      .flatMap((s) => s.payload).map((e) => e.event);
    const engaged = sent.some((s) => s.url.includes('/engage') && s.status === 200);
    return engaged && events.includes('Clicked Buy') && events.includes('Viewed Page');
  };
  while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(sent));
