// Checks run by `make conformance` (run.sh): real clients, unmodified,
// against `ferry emulator`. Each check says what it exercises; the run
// prints every result, then "N passed, M failed", and exits 1 on a failure.
import { createRequire } from 'node:module';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createSign } from 'node:crypto';
import path from 'node:path';

const work = process.env.CONFORMANCE_WORK;
const cache = process.env.CONFORMANCE_CACHE;
const require = createRequire(path.join(cache, 'package.json'));
const jsforce = require('jsforce');
const { IntercomClient, IntercomError } = require('intercom-client');

function readEnv(file) {
  const env = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = line.match(/^export ([A-Z_]+)=(.*)$/);
    if (m) env[m[1]] = m[2];
  }
  return env;
}
const main = readEnv(process.env.CONFORMANCE_MAIN_ENV);
const limited = readEnv(process.env.CONFORMANCE_LIMITED_ENV);
const VERSION = '62.0';

let passed = 0;
let failed = 0;
async function check(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    passed++;
    console.log(`ok    ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    failed++;
    console.log(`FAIL  ${name}: ${(e && (e.stack || e.message)) || e}`);
  }
}
function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

// ---------------------------------------------------------------- jsforce

function b64url(b) {
  return Buffer.from(b).toString('base64').replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
}
function jwtAssertion(env) {
  const head = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT' }));
  const claims = b64url(JSON.stringify({ iss: env.SALESFORCE_CLIENT_ID, sub: env.SALESFORCE_USERNAME, aud: env.SALESFORCE_LOGIN_URL, exp: Math.floor(Date.now() / 1000) + 180 }));
  const sig = createSign('RSA-SHA256').update(`${head}.${claims}`).sign(readFileSync(env.SALESFORCE_PRIVATE_KEY_FILE));
  return `${head}.${claims}.${b64url(sig)}`;
}

let conn;
await check('jsforce: OAuth client credentials', async () => {
  conn = new jsforce.Connection({ oauth2: { loginUrl: main.SALESFORCE_LOGIN_URL, clientId: main.SALESFORCE_CLIENT_ID, clientSecret: main.SALESFORCE_CLIENT_SECRET }, version: VERSION });
  const info = await conn.authorize({ grant_type: 'client_credentials' });
  assert(conn.accessToken && info.organizationId, 'no token or org id');
});
await check('jsforce: OAuth JWT bearer', async () => {
  const c = new jsforce.Connection({ oauth2: { loginUrl: main.SALESFORCE_LOGIN_URL, clientId: main.SALESFORCE_CLIENT_ID }, version: VERSION });
  await c.authorize({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion: jwtAssertion(main) });
  assert(c.accessToken && c.instanceUrl, 'no token');
});
await check('jsforce: access token, identity and the User it names', async () => {
  const c = new jsforce.Connection({ instanceUrl: conn.instanceUrl, accessToken: conn.accessToken, version: VERSION });
  const id = await c.identity();
  assert(id.username === main.SALESFORCE_USERNAME, `identity username ${id.username}`);
  const user = await c.sobject('User').retrieve(id.user_id);
  assert(user.Username === id.username, `User ${id.user_id} is ${user.Username}, identity says ${id.username}`);
});
await check('jsforce: query and queryMore', async () => {
  const res = await conn.query('SELECT Id, Email, Owner.Email FROM Contact', { autoFetch: true, maxFetch: 1e6, headers: { 'Sforce-Query-Options': 'batchSize=200' } });
  assert(res.totalSize > 200 && res.records.length === res.totalSize, `read ${res.records.length} of ${res.totalSize}`);
  assert(res.records[0].Owner && res.records[0].Owner.Email, 'no parent path');
});
let deletedLead;
let deletedAt = 0;
await check('jsforce: record create, retrieve, update, delete; queryAll sees the delete', async () => {
  const r = await conn.sobject('Lead').create({ LastName: 'Conformance', Company: 'jsforce' });
  assert(r.success && r.id, JSON.stringify(r));
  await conn.sobject('Lead').update({ Id: r.id, Company: 'jsforce 2' });
  const got = await conn.sobject('Lead').retrieve(r.id);
  assert(got.Company === 'jsforce 2', `Company ${got.Company}`);
  await conn.sobject('Lead').destroy(r.id);
  const all = await conn.query(`SELECT Id, IsDeleted FROM Lead WHERE Id = '${r.id}'`, { scanAll: true });
  assert(all.records.length === 1 && all.records[0].IsDeleted === true, JSON.stringify(all.records));
  deletedLead = r.id;
  deletedAt = Date.now();
});
await check('jsforce: upsert by external id', async () => {
  const a = await conn.sobject('Lead').upsert({ Intercom_Id__c: 'conformance-1', LastName: 'Upsert', Company: 'jsforce' }, 'Intercom_Id__c');
  const b = await conn.sobject('Lead').upsert({ Intercom_Id__c: 'conformance-1', LastName: 'Upsert', Company: 'jsforce again' }, 'Intercom_Id__c');
  assert(a.success && a.created === true && b.success && b.created === false, JSON.stringify([a, b]));
});
await check('jsforce: describe (custom fields are custom), describeGlobal, Organization', async () => {
  const d = await conn.sobject('Account').describe();
  const f = (n) => d.fields.find((x) => x.name === n);
  for (const n of ['Health_Score__c', 'Health_Band__c', 'Tier__c', 'Intercom_Company_Id__c']) {
    assert(f(n) && f(n).custom === true, `${n} custom=${f(n) && f(n).custom}`);
  }
  assert(f('Name').custom === false, 'Name is custom');
  const g = await conn.describeGlobal();
  assert(g.sobjects.some((s) => s.name === 'Organization'), 'no Organization in describeGlobal');
  const org = await conn.query('SELECT Id, Name, IsSandbox, OrganizationType FROM Organization');
  assert(org.totalSize === 1 && org.records[0].IsSandbox === false, JSON.stringify(org.records));
});
await check('jsforce: Bulk API 2.0 insert, upsert, delete', async () => {
  const rows = Array.from({ length: 50 }, (_, i) => ({ LastName: `Bulk ${i}`, Company: 'bulk2', Intercom_Id__c: `bulk-conf-${i}` }));
  const ins = await conn.bulk2.loadAndWaitForResults({ object: 'Lead', operation: 'insert', input: rows, pollTimeout: 60000 });
  assert(ins.successfulResults.length === 50 && ins.failedResults.length === 0, `insert: ${ins.successfulResults.length} ok, ${ins.failedResults.length} failed`);
  const ups = await conn.bulk2.loadAndWaitForResults({ object: 'Lead', operation: 'upsert', externalIdFieldName: 'Intercom_Id__c', input: rows.map((r) => ({ ...r, Company: 'bulk2 upserted' })), pollTimeout: 60000 });
  assert(ups.successfulResults.length === 50 && ups.successfulResults.every((r) => r.sf__Created === 'false'), `upsert: ${JSON.stringify(ups.successfulResults[0])}`);
  const del = await conn.bulk2.loadAndWaitForResults({ object: 'Lead', operation: 'delete', input: ins.successfulResults.map((r) => ({ Id: r.sf__Id })), pollTimeout: 60000 });
  assert(del.successfulResults.length === 50, `delete: ${del.successfulResults.length} ok, ${JSON.stringify(del.failedResults[0])}`);
});
await check('jsforce: Bulk API 2.0 query', async () => {
  const stream = await conn.bulk2.query('SELECT Id, Name FROM Account', { pollTimeout: 60000 });
  const recs = await stream.toArray();
  const n = (await conn.query('SELECT count() FROM Account')).totalSize;
  assert(recs.length === n && n > 0 && recs[0].Id, `bulk query read ${recs.length} of ${n}`);
});
await check('jsforce: limits', async () => {
  const l = await conn.limits();
  assert(l.DailyApiRequests && l.DailyApiRequests.Max > 0, JSON.stringify(l.DailyApiRequests));
});

// ---------------------------------------------------- Salesforce CLI (sf)

const sfHome = path.join(work, 'sf-home');
mkdirSync(sfHome, { recursive: true });
function sf(args, env = {}) {
  const r = spawnSync(process.env.CONFORMANCE_NODE, [path.join(cache, 'node_modules/@salesforce/cli/bin/run.js'), ...args, '--json'], {
    env: { ...process.env, HOME: sfHome, SF_DISABLE_TELEMETRY: 'true', SF_AUTOUPDATE_DISABLE: 'true', SF_USE_GENERIC_UNIX_KEYCHAIN: 'true', SF_CONTAINER_MODE: 'true', SF_SKIP_NEW_VERSION_CHECK: 'true', SFDX_DISABLE_DNS_CHECK: 'true', ...env },
    cwd: sfHome, encoding: 'utf8', timeout: 180000,
  });
  let out;
  try {
    out = JSON.parse(r.stdout);
  } catch {
    throw new Error(`sf ${args.join(' ')}: exit ${r.status}\n${r.stdout}\n${r.stderr}`);
  }
  if (out.status !== 0) throw new Error(`sf ${args.join(' ')}: ${out.name}: ${out.message}`);
  return out.result;
}
// Both logins are for the integration user; sf keeps one authorization
// per username, so later commands name the username.
const org = ['--target-org', main.SALESFORCE_USERNAME];
await check('sf: org login jwt', async () => {
  const r = sf(['org', 'login', 'jwt', '--username', main.SALESFORCE_USERNAME, '--jwt-key-file', main.SALESFORCE_PRIVATE_KEY_FILE, '--client-id', main.SALESFORCE_CLIENT_ID, '--instance-url', main.SALESFORCE_LOGIN_URL]);
  assert(r.username === main.SALESFORCE_USERNAME && r.orgId, JSON.stringify(r));
});
await check('sf: org login access-token (instance URL with a trailing slash)', async () => {
  // sf keeps the instance URL as given, trailing slash included: every
  // later request goes to //services/data/..., which a real org serves.
  const r = sf(['org', 'login', 'access-token', '--instance-url', `${conn.instanceUrl}/`, '--no-prompt'], { SF_ACCESS_TOKEN: conn.accessToken });
  assert(r.username === main.SALESFORCE_USERNAME && r.name === 'ferry emulator', `logged in as ${r.username} to ${r.name}`);
});
await check('sf: data query (columns, parent paths) and --all-rows', async () => {
  const r = sf(['data', 'query', '--query', 'SELECT Id, Name, Owner.Email FROM Account LIMIT 5', ...org]);
  assert(r.totalSize === 5 && r.records[0].Owner.Email, JSON.stringify(r).slice(0, 300));
  const all = sf(['data', 'query', '--query', `SELECT Id, IsDeleted FROM Lead WHERE Id = '${deletedLead}'`, '--all-rows', ...org]);
  assert(all.totalSize === 1 && all.records[0].IsDeleted === true, JSON.stringify(all));
});
await check('sf: data create, get, update, delete record', async () => {
  const c = sf(['data', 'create', 'record', '--sobject', 'Lead', '--values', "LastName='Sf Cli' Company=Conformance", ...org]);
  assert(c.id, JSON.stringify(c));
  sf(['data', 'update', 'record', '--sobject', 'Lead', '--record-id', c.id, '--values', 'Company=Updated', ...org]);
  const g = sf(['data', 'get', 'record', '--sobject', 'Lead', '--record-id', c.id, ...org]);
  assert(g.Company === 'Updated', JSON.stringify(g).slice(0, 300));
  sf(['data', 'delete', 'record', '--sobject', 'Lead', '--record-id', c.id, ...org]);
});
await check('sf: sobject describe', async () => {
  const d = sf(['sobject', 'describe', '--sobject', 'Account', ...org]);
  assert(d.fields.find((f) => f.name === 'Tier__c').custom === true, 'Tier__c is not custom');
});
// The bulk commands answer in two shapes: processedRecords/failedRecords
// (import, delete) or the job's info (upsert).
function bulkCounts(r) {
  const info = r.jobInfo || {};
  return [r.processedRecords ?? info.numberRecordsProcessed, r.failedRecords ?? info.numberRecordsFailed];
}
await check('sf: data import, upsert, export and delete bulk', async () => {
  const csv = path.join(sfHome, 'leads.csv');
  writeFileSync(csv, 'LastName,Company,Intercom_Id__c\n' + Array.from({ length: 20 }, (_, i) => `SfBulk ${i},Conformance,sf-bulk-${i}\n`).join(''));
  const imp = sf(['data', 'import', 'bulk', '--file', csv, '--sobject', 'Lead', '--wait', '5', ...org]);
  assert(String(bulkCounts(imp)) === '20,0', JSON.stringify(imp).slice(0, 400));
  const ups = sf(['data', 'upsert', 'bulk', '--file', csv, '--sobject', 'Lead', '--external-id', 'Intercom_Id__c', '--wait', '5', ...org]);
  assert(String(bulkCounts(ups)) === '20,0' && ups.records.successfulResults.every((r) => r.sf__Created === 'false'), JSON.stringify(ups).slice(0, 400));
  const out = path.join(sfHome, 'export.csv');
  sf(['data', 'export', 'bulk', '--query', "SELECT Id FROM Lead WHERE Company = 'Conformance'", '--output-file', out, '--wait', '5', ...org]);
  const ids = readFileSync(out, 'utf8').trim().split('\n');
  assert(ids[0].replace(/"/g, '') === 'Id' && ids.length === 21, `export: ${ids.length - 1} rows`);
  const delFile = path.join(sfHome, 'delete.csv');
  writeFileSync(delFile, ids.join('\n') + '\n');
  const del = sf(['data', 'delete', 'bulk', '--file', delFile, '--sobject', 'Lead', '--wait', '5', ...org]);
  assert(String(bulkCounts(del)) === '20,0', JSON.stringify(del).slice(0, 400));
});
await check('sf: org list limits', async () => {
  const l = sf(['org', 'list', 'limits', ...org]);
  assert(l.some((x) => x.name === 'DailyApiRequests' && x.max > 0), JSON.stringify(l).slice(0, 300));
});

// ------------------------------------------- intercom-client (official SDK)

const ic = new IntercomClient({ token: main.INTERCOM_ACCESS_TOKEN, baseUrl: main.INTERCOM_BASE_URL });
async function collect(page) {
  const out = [];
  for await (const item of page) out.push(item);
  return out;
}
await check('intercom-client: contacts.list iterates every contact once', async () => {
  const all = await collect(await ic.contacts.list({ per_page: 50 }));
  const first = await ic.contacts.list({ per_page: 50 });
  assert(all.length === first.response.total_count && new Set(all.map((c) => c.id)).size === all.length, `listed ${all.length} of ${first.response.total_count}`);
});
await check('intercom-client: contacts.search iterates pages', async () => {
  const page = await ic.contacts.search({ query: { field: 'role', operator: '=', value: 'user' }, pagination: { per_page: 25 } });
  const all = await collect(page);
  assert(all.length === page.response.total_count && all.length > 25, `found ${all.length} of ${page.response.total_count}`);
});
await check('intercom-client: companies.scroll to the end', async () => {
  const all = await collect(await ic.companies.scroll());
  assert(all.length > 0 && new Set(all.map((c) => c.id)).size === all.length, `scrolled ${all.length}`);
});
await check('intercom-client: companies.list and companies.retrieve by company_id', async () => {
  const all = await collect(await ic.companies.list({ per_page: 20 }));
  assert(all.length > 20, `listed ${all.length}`);
  const one = await ic.companies.retrieve({ company_id: all[0].company_id });
  const got = one.type === 'list' ? one.data[0] : one;
  assert(got && got.id === all[0].id, JSON.stringify(one).slice(0, 300));
});
await check('intercom-client: conversations.list and conversations.search', async () => {
  const all = await collect(await ic.conversations.list({ per_page: 20 }));
  assert(all.length > 20 && new Set(all.map((c) => c.id)).size === all.length, `listed ${all.length}`);
  const found = await collect(await ic.conversations.search({ query: { field: 'updated_at', operator: '>', value: 0 }, pagination: { per_page: 20 } }));
  assert(found.length === all.length, `search found ${found.length}, list ${all.length}`);
});
await check('intercom-client: admins, tags, data attributes', async () => {
  const admins = await ic.admins.list();
  assert(admins.admins.length > 0, 'no admins');
  const tags = await ic.tags.list();
  assert(tags.data.length > 0, 'no tags');
  const attrs = await ic.dataAttributes.list({ model: 'contact' });
  assert(attrs.data.some((a) => a.custom), 'no custom data attribute');
});
await check('intercom-client: contacts.create, 409 on a duplicate, update', async () => {
  const c = await ic.contacts.create({ email: 'conformance@example.com', role: 'user', name: 'Con Formance' });
  let conflict;
  try {
    await ic.contacts.create({ email: 'conformance@example.com', role: 'user' }, { maxRetries: 0 });
  } catch (e) {
    conflict = e;
  }
  assert(conflict instanceof IntercomError && conflict.statusCode === 409 && JSON.stringify(conflict.body).includes(`id=${c.id}`), `duplicate create: ${conflict}`);
  const u = await ic.contacts.update({ contact_id: c.id, name: 'Updated' });
  assert(u.name === 'Updated', JSON.stringify(u).slice(0, 200));
});
await check('intercom-client: retries a 429 after the rate-limit window resets', async () => {
  const slow = new IntercomClient({ token: limited.INTERCOM_ACCESS_TOKEN, baseUrl: limited.INTERCOM_BASE_URL, maxRetries: 3 });
  // 45 requests against a 30-per-10-seconds limit: some answer 429 and
  // succeed once retried after X-RateLimit-Reset.
  const results = await Promise.all(Array.from({ length: 45 }, () => slow.admins.list()));
  assert(results.every((r) => r.admins.length > 0), 'a request failed');
  const stats = await (await fetch(`${limited.INTERCOM_BASE_URL}/_emulator/stats`)).json();
  assert((stats.faults && stats.faults['429'] > 0) || stats.requests_limited > 0 || JSON.stringify(stats).includes('429'), `no 429 was answered: ${JSON.stringify(stats).slice(0, 300)}`);
});

// Last, so that the minute of the Lead's delete is over: getDeleted covers
// whole minutes only (latestDateCovered), as in an org.
await check('jsforce: getDeleted and getUpdated', async () => {
  const wait = 61e3 - (Date.now() - deletedAt);
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  const end = new Date(Date.now() + 120e3);
  const start = new Date(Date.now() - 600e3);
  const del = await conn.sobject('Lead').deleted(start, end);
  assert(del.deletedRecords.some((d) => d.id === deletedLead), JSON.stringify(del));
  const upd = await conn.sobject('Lead').updated(start, end);
  assert(Array.isArray(upd.ids), JSON.stringify(upd));
});
console.log(`\n${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
