// Status page of docspace-dropbox-bridge. The HTML holds no data: everything shown here comes
// from the token-protected JSON API (GET api/v1/status, GET api/v1/jobs?state=dead,
// POST api/v1/jobs/{id}/retry; "Find an event": GET api/v1/deliveries?event_id=, GET
// api/v1/jobs/{id}). The token lives in sessionStorage (this tab only) and goes out
// as `Authorization: Bearer`. Text reaches the page only through textContent, never as HTML.
'use strict';

(function () {
  const TOKEN_KEY = 'docspace-dropbox-bridge.api-token';
  const DEAD_LIMIT = 100;
  const REFRESH_MS = 15000;
  const STATES = ['queued', 'running', 'failed', 'dead', 'succeeded'];

  const RESULT_CHARS = 200;

  const byId = (id) => document.getElementById(id);
  let timer = null;
  let loading = false;
  // The event id whose delivery is shown (refreshed with the rest), and the newest lookup: an
  // older answer arriving late is dropped.
  let shownEvent = null;
  let lookup = 0;

  // A 401 from the API: the caller stops, the sign-in form is already shown.
  class SignedOut extends Error {}

  function token() {
    return sessionStorage.getItem(TOKEN_KEY);
  }

  async function api(method, path) {
    const resp = await fetch(path, {
      method,
      headers: { Authorization: 'Bearer ' + token(), Accept: 'application/json' },
      cache: 'no-store',
      credentials: 'omit',
      redirect: 'error',
    });
    let body = null;
    try {
      body = await resp.json();
    } catch (_) {
      body = null;
    }
    if (resp.status === 401) {
      signOut('The bridge refused this token. Enter it again.');
      throw new SignedOut();
    }
    if (!resp.ok) {
      const message = body && body.error && body.error.message;
      const error = new Error(message || 'the bridge answered HTTP ' + resp.status);
      error.status = resp.status;
      throw error;
    }
    return body;
  }

  // --- building DOM from data (text only) -----------------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === 'class') node.className = value;
      else if (key.startsWith('data-')) node.setAttribute(key, value);
      else node[key] = value;
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function setText(id, text) {
    byId(id).textContent = text;
  }

  function fill(tbody, rows) {
    tbody.replaceChildren(...rows);
  }

  function formatTime(iso) {
    if (!iso) return '';
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return String(iso);
    return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
  }

  function ago(iso, nowIso) {
    const then = new Date(iso).getTime();
    const now = new Date(nowIso).getTime();
    if (Number.isNaN(then) || Number.isNaN(now)) return '';
    let s = Math.max(0, Math.round((now - then) / 1000));
    if (s < 60) return s + ' s ago';
    const m = Math.round(s / 60);
    if (m < 60) return m + ' min ago';
    const h = Math.round(m / 60);
    if (h < 48) return h + ' h ago';
    return Math.round(h / 24) + ' days ago';
  }

  function when(iso, nowIso) {
    return el('time', { dateTime: iso, title: formatTime(iso) }, ago(iso, nowIso));
  }

  function size(bytes) {
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let n = Number(bytes) || 0;
    let i = 0;
    while (n >= 1024 && i < units.length - 1) {
      n /= 1024;
      i += 1;
    }
    return (i === 0 ? String(n) : n.toFixed(1)) + ' ' + units[i];
  }

  function target(job) {
    const p = job.payload || {};
    if (p.group_id) return 'group ' + p.group_id + (p.group_name ? ' (' + p.group_name + ')' : '');
    if (p.file_id) return 'file ' + p.file_id + (p.folder ? ' to ' + p.folder : '');
    if (p.account_id) return 'account ' + p.account_id;
    return '';
  }

  // --- sections ---------------------------------------------------------------------------------

  function renderQueue(status) {
    for (const state of STATES) setText('depth-' + state, String(status.queue[state] || 0));
    const due = status.oldest_due;
    const out = byId('oldest-due');
    if (!due) {
      out.replaceChildren('none: nothing is waiting');
    } else {
      out.replaceChildren(
        'job ' + due.id + ' ' + due.kind + ' (' + due.state + '), due since ',
        formatTime(due.run_at),
        ', ',
        when(due.run_at, status.now),
      );
    }
  }

  function renderReconcile(id, job, nowIso) {
    const out = byId(id);
    if (!job) {
      out.replaceChildren('none yet');
      return;
    }
    out.replaceChildren(
      'job ' + job.id + ' finished ' + formatTime(job.updated_at) + ', ',
      when(job.updated_at, nowIso),
    );
  }

  function renderDead(jobs, status) {
    const total = status.queue.dead || 0;
    setText(
      'dead-summary',
      total === 0
        ? 'No dead jobs.'
        : jobs.length < total
          ? 'The newest ' + jobs.length + ' of ' + total + ' dead jobs.'
          : total + (total === 1 ? ' dead job.' : ' dead jobs.'),
    );
    fill(
      byId('dead-jobs').tBodies[0],
      jobs.map((job) => {
        const retry = el('button', { type: 'button', class: 'retry', 'data-id': String(job.id) }, 'Retry');
        retry.addEventListener('click', () => retryJob(job, retry));
        return el(
          'tr',
          { 'data-job-id': String(job.id) },
          el('td', {}, String(job.id)),
          el('td', {}, job.kind),
          el('td', {}, target(job)),
          el('td', {}, String(job.attempts)),
          el('td', { class: 'error' }, job.last_error || ''),
          el('td', {}, when(job.updated_at, status.now)),
          el('td', { class: 'state' }, job.state),
          el('td', {}, retry),
        );
      }),
    );
  }

  function renderGroups(folders) {
    setText(
      'groups-summary',
      folders.length === 0
        ? 'No group has a Dropbox folder yet.'
        : folders.length + (folders.length === 1 ? ' group folder.' : ' group folders.'),
    );
    fill(
      byId('group-folders').tBodies[0],
      folders.map((f) =>
        el(
          'tr',
          {},
          el('td', { title: f.group_id }, f.group_name),
          el('td', {}, f.path),
          el('td', {}, f.shared_folder_id || 'not shared yet'),
          el('td', { class: 'count' }, String(f.members)),
          el('td', {}, f.active ? 'exists' : 'deleted in DocSpace'),
        ),
      ),
    );
  }

  function renderExports(exports, nowIso) {
    setText('exports-summary', exports.length === 0 ? 'Nothing exported yet.' : '');
    fill(
      byId('latest-exports').tBodies[0],
      exports.map((x) =>
        el(
          'tr',
          {},
          el('td', {}, x.file_id),
          el('td', { class: 'count' }, String(x.docspace_version)),
          el('td', {}, x.dropbox_path),
          el('td', { class: 'count' }, size(x.size)),
          el('td', {}, when(x.exported_at, nowIso)),
        ),
      ),
    );
  }

  // A job's result in one line: its top-level values, or the JSON, shortened.
  function resultSummary(result) {
    if (result === null || result === undefined) return '';
    let text;
    if (typeof result === 'object' && !Array.isArray(result)) {
      text = Object.entries(result)
        .map(([key, value]) => key + ': ' + (typeof value === 'object' ? JSON.stringify(value) : String(value)))
        .join(', ');
    } else {
      text = JSON.stringify(result);
    }
    return text.length > RESULT_CHARS ? text.slice(0, RESULT_CHARS - 1) + '…' : text;
  }

  function clearEvent(message) {
    setText('event-summary', message || '');
    byId('event-found').hidden = true;
    for (const id of ['event-received', 'event-trigger', 'event-request']) setText(id, '');
    fill(byId('event-jobs').tBodies[0], []);
  }

  function renderEvent(eventId, delivery, jobs) {
    const n = delivery.job_ids.length;
    setText(
      'event-summary',
      'DocSpace event ' + eventId + ' was delivered as delivery ' + delivery.id + ' and led to ' +
        n + (n === 1 ? ' job.' : ' jobs.'),
    );
    setText('event-received', formatTime(delivery.received_at));
    setText('event-trigger', delivery.trigger || '');
    setText('event-request', delivery.request_id || '');
    fill(
      byId('event-jobs').tBodies[0],
      jobs.map((job) =>
        job.pruned
          ? el(
              'tr',
              { 'data-job-id': String(job.id) },
              el('td', {}, String(job.id)),
              el('td', {}, ''),
              el('td', { class: 'state' }, 'pruned'),
              el('td', {}, ''),
              el('td', {}, ''),
              el('td', {}, 'finished longer ago than its retention'),
            )
          : el(
              'tr',
              { 'data-job-id': String(job.id) },
              el('td', {}, String(job.id)),
              el('td', {}, job.kind),
              el('td', { class: 'state' }, job.state),
              el('td', { class: 'count' }, String(job.attempts)),
              el('td', { class: 'error' }, job.last_error || ''),
              el('td', { class: 'result' }, resultSummary(job.result)),
            ),
      ),
    );
    byId('event-found').hidden = false;
  }

  async function jobOrPruned(id) {
    try {
      return (await api('GET', 'api/v1/jobs/' + encodeURIComponent(id))).job;
    } catch (e) {
      if (e.status === 404) return { id, pruned: true };
      throw e;
    }
  }

  // Looks the delivery of a DocSpace event up by its id, then each of its jobs.
  async function findEvent(eventId) {
    const mine = ++lookup;
    try {
      const found = await api(
        'GET',
        'api/v1/deliveries?event_id=' + encodeURIComponent(eventId) + '&limit=1',
      );
      const delivery = found.deliveries[0];
      const jobs = delivery ? await Promise.all(delivery.job_ids.map(jobOrPruned)) : [];
      if (mine !== lookup) return;
      shownEvent = eventId;
      if (!delivery) {
        clearEvent(
          'No delivery of DocSpace event ' + eventId + ' is kept: deliveries are kept for ' +
            'BRIDGE_DELIVERY_RETENTION, duplicates and triggers the bridge ignores are not.',
        );
        return;
      }
      renderEvent(eventId, delivery, jobs);
    } catch (e) {
      if (e instanceof SignedOut || mine !== lookup) return;
      clearEvent('Could not look event ' + eventId + ' up: ' + e.message);
    }
  }

  // --- actions ----------------------------------------------------------------------------------

  async function load() {
    if (loading || !token()) return;
    loading = true;
    try {
      const [status, dead] = await Promise.all([
        api('GET', 'api/v1/status'),
        api('GET', 'api/v1/jobs?state=dead&limit=' + DEAD_LIMIT),
      ]);
      renderQueue(status);
      renderReconcile('reconcile-groups', status.last_reconcile.groups, status.now);
      renderReconcile('reconcile-files', status.last_reconcile.files, status.now);
      renderDead(dead.jobs, status);
      renderGroups(status.group_folders);
      renderExports(status.exports, status.now);
      setText('updated', 'Updated ' + formatTime(status.now));
      setText('problem', '');
      byId('status').hidden = false;
      if (shownEvent !== null) findEvent(shownEvent);
    } catch (e) {
      if (!(e instanceof SignedOut)) setText('problem', 'Could not load the status: ' + e.message);
    } finally {
      loading = false;
    }
  }

  async function retryJob(job, button) {
    button.disabled = true;
    const row = button.closest('tr');
    try {
      // A 200 means the job is due now with its attempts reset, whatever state name the store
      // gives a re-driven job: it waits for the next free worker.
      const answer = await api('POST', 'api/v1/jobs/' + encodeURIComponent(job.id) + '/retry');
      row.querySelector('.state').textContent = 'queued';
      button.replaceWith('retried');
      setText(
        'notice',
        'Job ' + answer.job.id + ' (' + answer.job.kind + ') is queued again: it runs as soon as a worker is free.',
      );
    } catch (e) {
      if (e instanceof SignedOut) return;
      button.disabled = false;
      setText('notice', 'Job ' + job.id + ' was not retried: ' + e.message);
    }
  }

  function showSignedIn() {
    byId('login').hidden = true;
    byId('bar').hidden = false;
    clearInterval(timer);
    timer = setInterval(load, REFRESH_MS);
    load();
  }

  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    clearInterval(timer);
    timer = null;
    shownEvent = null;
    lookup += 1;
    clearEvent('');
    byId('event-id').value = '';
    byId('status').hidden = true;
    byId('bar').hidden = true;
    byId('login').hidden = false;
    setText('login-error', message || '');
    byId('token').value = '';
    byId('token').focus();
  }

  document.addEventListener('DOMContentLoaded', () => {
    byId('login').addEventListener('submit', (event) => {
      event.preventDefault();
      const value = byId('token').value.trim();
      if (!value) return;
      sessionStorage.setItem(TOKEN_KEY, value);
      byId('token').value = '';
      setText('login-error', '');
      showSignedIn();
    });
    byId('event-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const value = byId('event-id').value.trim();
      if (!value) return;
      setText('event-summary', 'Looking up event ' + value + '…');
      findEvent(value);
    });
    byId('refresh').addEventListener('click', load);
    byId('signout').addEventListener('click', () => signOut(''));
    if (token()) showSignedIn();
    else signOut('');
  });
})();
