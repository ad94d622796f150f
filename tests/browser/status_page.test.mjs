// The status page in a real headless browser: Debian's Chromium driven by playwright-core (no
// browser is downloaded). Starts `docspace-dropbox-bridge demo --keep-running` (the bridge on a
// temporary SQLite database with the built-in DocSpace and Dropbox stand-ins), arranges a dead job
// (the DocSpace stand-in refuses the file's reads with 403, which cannot succeed by retrying) and a
// group whose name is markup, then signs in on the page with the API token, sees the dead job
// and its error, retries it and sees it queued and then gone from the dead jobs, and looks up an
// event the demo delivered by its event id to see its delivery and its job.
//
// Environment: BRIDGE_BIN (the bridge binary; default ../../target/debug/docspace-dropbox-bridge),
// CHROMIUM (default /usr/bin/chromium), SCREENSHOT_DIR (optional: where to save screenshots).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const BRIDGE_BIN =
  process.env.BRIDGE_BIN || resolve(here, '../../target/debug/docspace-dropbox-bridge');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SCREENSHOT_DIR = process.env.SCREENSHOT_DIR || '';
// Upper bound for anything the bridge or the browser does; a wait ends as soon as its condition
// holds, so this is never how long a passing run takes.
const WAIT_MS = 30_000;
const MARKUP_GROUP = '<img src=x onerror="window.pwned=1"> R&D "Ops"';

let demo;
let demoExit;
let bridge;
let token;
let docspace;
let profileDir;
let context;
let deadJob;
let markupGroupId;
let reconcileJob;
const consoleProblems = [];

// --- the bridge (demo --keep-running) ---------------------------------------------------------

function startDemo() {
  return new Promise((resolveStart, rejectStart) => {
    const child = spawn(BRIDGE_BIN, ['demo', '--keep-running'], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { PATH: process.env.PATH, TMPDIR: process.env.TMPDIR || tmpdir() },
    });
    demoExit = new Promise((r) => child.on('exit', (code, signal) => r({ code, signal })));
    child.on('error', rejectStart);
    const seen = {};
    const lines = [];
    const timer = setTimeout(
      () => rejectStart(new Error('demo did not reach --keep-running:\n' + lines.join('\n'))),
      WAIT_MS * 2,
    );
    createInterface({ input: child.stdout }).on('line', (line) => {
      lines.push(line);
      const l = line.trim();
      let m;
      if ((m = /^bridge\s+(http:\/\/\S+)$/.exec(l))) seen.bridge = m[1];
      if ((m = /^API token\s+(\S+)$/.exec(l))) seen.token = m[1];
      if ((m = /^status page\s+(http:\/\/\S+)/.exec(l))) seen.page = m[1];
      if ((m = /^DocSpace stand-in\s+(http:\/\/\S+)/.exec(l))) seen.docspace = m[1];
      if (seen.bridge && seen.token && seen.page && seen.docspace) {
        clearTimeout(timer);
        resolveStart({ child, ...seen });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      rejectStart(new Error('demo exited with ' + code + ':\n' + lines.join('\n')));
    });
  });
}

async function call(method, url, body, auth = true) {
  const headers = { Accept: 'application/json' };
  if (auth) headers.Authorization = 'Bearer ' + token;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const resp = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await resp.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch (_) {
    json = null;
  }
  return { status: resp.status, json, text };
}

async function until(what, probe) {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error('gave up waiting for ' + what);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function jobInState(id, states) {
  return until(`job ${id} in ${states}`, async () => {
    const r = await call('GET', `${bridge}/api/v1/jobs/${id}`);
    return states.includes(r.json?.job?.state) ? r.json.job : null;
  });
}

// --- the browser ------------------------------------------------------------------------------

async function openBrowser() {
  profileDir = mkdtempSync(join(tmpdir(), 'bridge-browser-profile-'));
  // A persistent context, because Chromium gets its (new, empty) profile as --user-data-dir.
  context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    timeout: WAIT_MS,
  });
  context.setDefaultTimeout(WAIT_MS);
}

function watch(page) {
  page.on('console', (msg) => {
    if (msg.type() === 'error' || msg.type() === 'warning') {
      consoleProblems.push(`${msg.type()}: ${msg.text()} (${msg.location().url})`);
    }
  });
  page.on('pageerror', (err) => consoleProblems.push('page error: ' + err.message));
  return page;
}

async function shot(page, name) {
  if (SCREENSHOT_DIR) await page.screenshot({ path: join(SCREENSHOT_DIR, name), fullPage: true });
}

async function text(locator) {
  return (await locator.textContent())?.trim() ?? '';
}

// --- arrange ----------------------------------------------------------------------------------

before(async () => {
  const started = await startDemo();
  demo = started.child;
  bridge = started.bridge;
  token = started.token;
  docspace = started.docspace;
  assert.equal(started.page, bridge + '/', 'demo prints the status page address');

  const state = await call('GET', `${docspace}/_fake/state`, undefined, false);
  assert.equal(state.status, 200, state.text);
  const budget = state.json.files.find((f) => f.title === 'Budget.xlsx');
  assert.ok(budget, 'the demo created Budget.xlsx');
  const alice = state.json.users.find((u) => u.email === 'alice@example.com');
  assert.ok(alice, 'the demo created Alice');

  // A group whose name is markup: the page must show it as text.
  const group = await call(
    'POST',
    `${docspace}/_fake/groups`,
    { name: MARKUP_GROUP, members: [alice.id] },
    false,
  );
  assert.equal(group.status, 200, group.text);
  markupGroupId = group.json.id;
  // A full reconcile, so the page has a last successful one to show.
  const sync = await call('POST', `${bridge}/api/v1/groups/sync`);
  assert.equal(sync.status, 202, sync.text);
  reconcileJob = await jobInState(sync.json.job.id, ['succeeded']);
  await until('the markup group has a folder', async () => {
    const s = await call('GET', `${bridge}/api/v1/status`);
    return s.json?.group_folders?.some((f) => f.group_id === markupGroupId);
  });

  // A dead job: DocSpace refuses the next two reads of the file with 403 (no permission). The
  // first is the API's check that the file exists (a refusal there lets the job through to find
  // out itself), the second is the job's own read, which cannot succeed by retrying.
  const fail = await call(
    'POST',
    `${docspace}/_fake/failures`,
    { route: 'file.get', status: 403, times: 2 },
    false,
  );
  assert.equal(fail.status, 204, fail.text);
  const exp = await call('POST', `${bridge}/api/v1/files/${budget.id}/export`);
  assert.equal(exp.status, 202, exp.text);
  deadJob = await jobInState(exp.json.job.id, ['dead']);
  assert.match(deadJob.last_error, /403/);

  await openBrowser();
});

after(async () => {
  if (context) await context.close().catch(() => {});
  if (profileDir) rmSync(profileDir, { recursive: true, force: true });
  if (demo && demo.exitCode === null) {
    demo.kill('SIGINT');
    let timer;
    const end = await Promise.race([
      demoExit,
      new Promise((r) => (timer = setTimeout(() => r(null), WAIT_MS))),
    ]);
    clearTimeout(timer);
    if (end === null) demo.kill('SIGKILL');
    else assert.equal(end.code, 0, 'the demo stops cleanly on Ctrl-C');
  }
});

// --- the tests --------------------------------------------------------------------------------

test('the page asks for the token and refuses a wrong one', async () => {
  const page = watch(await context.newPage());
  const resp = await page.goto(bridge + '/');
  assert.equal(resp.status(), 200);
  assert.match(resp.headers()['content-security-policy'], /default-src 'none'/);
  await page.locator('#login').waitFor({ state: 'visible' });
  assert.equal(await page.locator('#status').isHidden(), true, 'no data before signing in');

  await page.fill('#token', 'certainly-not-the-api-token');
  await page.click('#signin');
  await page.locator('#login-error').filter({ hasText: 'refused' }).waitFor();
  assert.equal(await page.locator('#status').isHidden(), true);
  assert.equal(await page.evaluate(() => sessionStorage.length), 0, 'a refused token is dropped');
  await shot(page, 'refused.png');
  await page.close();
});

test('signed in: queue, reconcile, dead job with its error, group folders, exports', async () => {
  const page = watch(await context.newPage());
  await page.goto(bridge + '/');
  await page.fill('#token', token);
  await page.click('#signin');
  await page.locator('#status').waitFor({ state: 'visible' });

  // The token stays in this tab's sessionStorage, nowhere else.
  assert.equal(await page.evaluate(() => Object.values(sessionStorage).join()), token);
  assert.equal(await page.evaluate(() => localStorage.length), 0);
  assert.ok(!page.url().includes(token));

  assert.equal(await text(page.locator('#depth-dead')), '1');
  assert.equal(await text(page.locator('#depth-queued')), '0');
  assert.equal(await text(page.locator('#oldest-due')), 'none: nothing is waiting');
  assert.match(
    await text(page.locator('#reconcile-groups')),
    new RegExp(`^job ${reconcileJob.id} finished `),
  );
  assert.equal(await text(page.locator('#reconcile-files')), 'none yet');

  const row = page.locator(`#dead-jobs tr[data-job-id="${deadJob.id}"]`);
  await row.waitFor();
  const cells = await row.locator('td').allTextContents();
  assert.equal(cells[0], String(deadJob.id));
  assert.equal(cells[1], 'file.export');
  assert.match(cells[2], /^file \d+$/);
  assert.equal(cells[4], deadJob.last_error);
  assert.match(cells[4], /403/);
  assert.equal(cells[6], 'dead');
  assert.equal(await text(page.locator('#dead-summary')), '1 dead job.');

  // The markup in the group name is shown as text, not run.
  const groupRow = page.locator('#group-folders tbody tr').filter({ hasText: 'R&D' });
  assert.equal(await text(groupRow.locator('td').first()), MARKUP_GROUP);
  assert.equal(await page.locator('#group-folders img').count(), 0);
  assert.equal(await page.evaluate(() => window.pwned), undefined);
  const marketing = await page
    .locator('#group-folders tbody tr')
    .filter({ hasText: 'Marketing' })
    .locator('td')
    .allTextContents();
  assert.equal(marketing[1], '/DocSpace Groups/Marketing');
  assert.equal(marketing[3], '1', 'Alice; Bob left the group');
  assert.equal(marketing[4], 'exists');

  const exports = await page.locator('#latest-exports tbody').textContent();
  assert.ok(exports.includes('/DocSpace Export/Finance/2026/Budget.xlsx'), exports);
  assert.ok(exports.includes('/DocSpace Export/Finance/2026/Report.docx'), exports);
  await shot(page, 'signed-in.png');

  // Retry: the job is queued again, then leaves the dead jobs.
  await row.locator('button.retry').click();
  await row.locator('td.state').filter({ hasText: /^queued$/ }).waitFor();
  assert.equal(
    await text(page.locator('#notice')),
    `Job ${deadJob.id} (file.export) is queued again: it runs as soon as a worker is free.`,
  );
  assert.equal(await row.locator('button.retry').count(), 0, 'no second retry button');
  await shot(page, 'retried.png');

  const done = await jobInState(deadJob.id, ['succeeded', 'dead']);
  assert.equal(done.state, 'succeeded', 'the refusal was for one read only');
  await page.click('#refresh');
  await page.locator('#dead-summary').filter({ hasText: 'No dead jobs.' }).waitFor();
  assert.equal(await page.locator(`#dead-jobs tr[data-job-id="${deadJob.id}"]`).count(), 0);
  assert.equal(await text(page.locator('#depth-dead')), '0');

  // A reload keeps the tab signed in; signing out forgets the token.
  await page.reload();
  await page.locator('#status').waitFor({ state: 'visible' });
  await page.click('#signout');
  await page.locator('#login').waitFor({ state: 'visible' });
  assert.equal(await page.locator('#status').isHidden(), true);
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);
  await page.close();
});

test('another tab does not inherit the token', async () => {
  const first = watch(await context.newPage());
  await first.goto(bridge + '/');
  await first.fill('#token', token);
  await first.click('#signin');
  await first.locator('#status').waitFor({ state: 'visible' });
  const second = watch(await context.newPage());
  await second.goto(bridge + '/');
  await second.locator('#login').waitFor({ state: 'visible' });
  assert.equal(await second.evaluate(() => sessionStorage.length), 0);
  await first.close();
  await second.close();
});

test('find an event: its delivery and the job it led to, by event id', async () => {
  // A file event the demo delivered, as the API lists it.
  const list = await call('GET', `${bridge}/api/v1/deliveries?source=docspace&limit=500`);
  assert.equal(list.status, 200, list.text);
  const delivery = list.json.deliveries.find(
    (d) => d.trigger === 'file.created' && d.job_ids.length === 1,
  );
  assert.ok(delivery, 'the demo delivered a file.created event: ' + list.text);
  const job = await jobInState(delivery.job_ids[0], ['succeeded']);

  const page = watch(await context.newPage());
  await page.goto(bridge + '/');
  await page.fill('#token', token);
  await page.click('#signin');
  await page.locator('#status').waitFor({ state: 'visible' });

  await page.fill('#event-id', delivery.event_id);
  await page.click('#event-find');
  const row = page.locator(`#event-jobs tr[data-job-id="${job.id}"]`);
  await row.waitFor();
  assert.equal(
    await text(page.locator('#event-summary')),
    `DocSpace event ${delivery.event_id} was delivered as delivery ${delivery.id} and led to 1 job.`,
  );
  assert.equal(await text(page.locator('#event-trigger')), 'file.created');
  assert.equal(await text(page.locator('#event-request')), delivery.request_id || '');
  assert.match(await text(page.locator('#event-received')), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
  const cells = await row.locator('td').allTextContents();
  assert.equal(cells[0], String(job.id));
  assert.equal(cells[1], 'file.export');
  assert.equal(cells[2], 'succeeded');
  assert.equal(cells[3], String(job.attempts));
  assert.equal(cells[4], '', 'no error');
  assert.ok(cells[5].length > 0, 'a summary of the result');
  assert.ok(cells[5].includes('/DocSpace Export/'), cells[5]);
  await shot(page, 'event.png');

  // An event id the bridge has no delivery of, typed as markup: said so, as text.
  const typed = '<b id="typed">4711</b>';
  await page.fill('#event-id', typed);
  await page.click('#event-find');
  await page.locator('#event-summary').filter({ hasText: 'No delivery of DocSpace event' }).waitFor();
  assert.ok((await text(page.locator('#event-summary'))).includes(typed));
  assert.equal(await page.locator('#typed').count(), 0, 'not parsed as markup');
  assert.equal(await page.locator('#event-found').isHidden(), true);
  await page.close();
});

test('no console errors, no CSP violations', () => {
  // A refused token is answered 401, which Chromium logs as a failed resource load.
  const unexpected = consoleProblems.filter(
    (p) => !/Failed to load resource: the server responded with a status of 401/.test(p),
  );
  assert.deepEqual(unexpected, []);
});
