// Drive driftline's web UI in headless Chromium (Debian's, through playwright-core from the
// browser SDK test's npm packages). Usage: node ui.mjs BASE_URL SECRET SHOTS_DIR PIPELINE_DEST
// Prints one JSON object: what each step saw. Screenshots of each main page go to SHOTS_DIR.
import { createRequire } from 'module';

const require = createRequire(new URL('../ingest/browser/package.json', import.meta.url));
const { chromium } = require('playwright-core');
const [base, secret, shots, pipelineDest] = process.argv.slice(2);
const out = {};
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
         '--disable-component-update'],
});
const external = [];
try {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  page.on('request', (r) => { if (!r.url().startsWith(base) && !r.url().startsWith('data:')) external.push(r.url()); });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  const shot = (name) => page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });

  // log in
  await page.goto(`${base}/`);
  out.loginUrl = page.url();
  await page.fill('input[name=secret]', 'not-the-secret');
  await page.click('button[type=submit]');
  out.badLogin = await page.textContent('.error');
  await page.fill('input[name=secret]', secret);
  await page.click('button[type=submit]');
  await page.waitForURL('**/insights**');
  out.afterLogin = page.url();
  const cookies = await context.cookies();
  out.cookie = cookies.filter((c) => c.name === 'driftline_session').map((c) => ({ httpOnly: c.httpOnly, sameSite: c.sameSite }));

  // insights: the chart draws (uPlot canvas)
  await page.waitForSelector('#chart canvas', { timeout: 15000 });
  out.insightsRows = await page.locator('section.table tbody tr').count();
  await shot('insights');

  // build a funnel through the form: Sign Up -> Purchase, last month, 7 days, by plan
  await page.click('nav >> text=Funnels');
  await page.fill('input[name=step] >> nth=0', 'Sign Up');
  await page.fill('input[name=step] >> nth=1', 'Purchase');
  await page.selectOption('select[name=range]', 'last_month');
  await page.fill('input[name=window]', '7');
  await page.fill('input[name=by]', 'plan');
  await page.click('text=Show funnel');
  await page.waitForSelector('#funnel-answer');
  out.funnelAnswer = (await page.textContent('#funnel-answer')).replace(/\s+/g, ' ').trim();
  out.funnelUrl = page.url();
  out.funnelBars = await page.locator('#funnel-chart .bar').count();
  out.funnelTable = await page.locator('section.table >> nth=0 >> tbody tr').allInnerTexts();
  await shot('funnels');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('section.table >> nth=0 >> a.csv')]);
  out.csvName = download.suggestedFilename();

  // retention heat map
  await page.goto(`${base}/retention`);
  await page.waitForSelector('#heatmap td.cell');
  out.retentionCells = await page.locator('#heatmap td.cell').count();
  await shot('retention');

  // data pages
  await page.goto(`${base}/data/events?event=Purchase`);
  out.propertyRows = await page.locator('section.table >> nth=0 >> tbody tr').count();
  await shot('data-events');
  await page.goto(`${base}/data/profiles`);
  out.profileRows = await page.locator('section.table tbody tr').count();
  await shot('data-profiles');
  await page.goto(`${base}/data/live`);
  out.liveRows = await page.locator('#live-body tr').count();
  await shot('data-live');

  // a warehouse (Postgres) and a sync with a preview, run it and watch it finish
  await page.goto(`${base}/connections/warehouses`);
  await page.fill('#add-warehouse input[name=name]', 'pg');
  await page.fill('#add-warehouse input[name=url]', process.env.PG_URL);
  await page.click('#add-warehouse button[type=submit]');
  out.warehouseNotice = await page.textContent('.notice');
  await page.click('text=Test pg');
  out.warehouseTest = await page.textContent('.notice');
  out.warehousePage = await page.content();
  await shot('warehouses');
  await page.goto(`${base}/connections/syncs/new?warehouse=pg`);
  await page.fill('#sync-form input[name=name]', 'orders');
  await page.fill('#sync-form input[name=table]', 'public.orders');
  await page.selectOption('#sync-form select[name=mode]', 'append');
  await page.fill('#sync-form input[name=event_name]', 'Order Placed');
  await page.fill('#sync-form input[name=time_column]', 'created_at');
  await page.fill('#sync-form input[name=user_id_column]', 'user_id');
  await page.fill('#sync-form input[name=insert_time_column]', 'created_at');
  await page.click('#preview-button');
  out.preview = (await page.textContent('#preview-summary')).trim();
  out.previewRows = await page.locator('section.table >> nth=1 >> tbody tr').count();
  await shot('sync-new');
  await page.click('#create-button');
  await page.waitForURL('**/connections/syncs/orders');
  await page.click('#run-now');
  await page.waitForURL('**finished=**', { timeout: 60000 });
  out.syncNotice = await page.textContent('.notice');
  out.syncHistory = await page.locator('section.table tbody tr').allInnerTexts();
  await shot('sync-detail');
  await page.goto(`${base}/connections/syncs`);
  await shot('syncs');

  // a pipeline to a local directory, run now
  await page.goto(`${base}/connections/pipelines`);
  await page.fill('#pipeline-form input[name=name]', 'to-files');
  await page.fill('#pipeline-form input[name=destination]', pipelineDest);
  await page.click('#pipeline-form button[type=submit]');
  await page.waitForURL('**/connections/pipelines/to-files');
  await page.click('#run-pipeline');
  await page.waitForURL('**started=1');
  const deadline = Date.now() + 120000;
  while (Date.now() < deadline && await page.locator('#pipeline-running').count()) {
    await page.waitForTimeout(500);
  }
  out.pipelineNotice = await page.locator('.notice, .error').allInnerTexts();
  out.pipelineWindows = await page.locator('section.table tbody tr').allInnerTexts();
  await shot('pipeline-detail');
  await page.goto(`${base}/connections/bad-rows`);
  await shot('bad-rows');

  // a form posted without the CSRF token is refused
  out.csrfStatus = await page.evaluate(async () => {
    const r = await fetch('/connections/pipelines/to-files/run', { method: 'POST', body: new URLSearchParams({}) });
    return r.status;
  });
  out.pageErrors = errors;
} finally {
  out.external = external;
  await browser.close();
}
process.stdout.write(JSON.stringify(out));
