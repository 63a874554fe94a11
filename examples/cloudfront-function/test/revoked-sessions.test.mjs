// Runs revoked-sessions.js under node against a stand-in for CloudFront's `cloudfront` module
// (an in-memory KeyValueStore), with the cases in the JSON file $AUTOREVOKE_FUNCTION_CASES
// (written by autorevoke's test suite from its own session-id rules): for each request, the
// session id autorevoke computes for it (or null), for both session rules.
//
//   AUTOREVOKE_FUNCTION_CASES=cases.json node --test examples/cloudfront-function/test/
//
// Without the file, a built-in set runs (one known token).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const source = readFileSync(join(here, '..', 'revoked-sessions.js'), 'utf8');

// The stand-in `cloudfront` module: cf.kvs(id) reads globalThis.kvsStores[id] (a Map).
const STAND_IN = `
export default {
    kvs(id) {
        return {
            async exists(key) {
                const store = globalThis.kvsStores[id];
                if (!store) { throw new Error('no KeyValueStore ' + id); }
                return store.has(key);
            },
            async get(key) {
                const store = globalThis.kvsStores[id];
                if (!store || !store.has(key)) { throw new Error('key not found'); }
                return store.get(key);
            },
        };
    },
};
`;

// The function as a module of its own, with the settings of a test, exporting its handler.
async function loadFunction(sessionFrom, kvsId, prefix) {
    const dir = mkdtempSync(join(tmpdir(), 'cf-function-'));
    mkdirSync(join(dir, 'node_modules', 'cloudfront'), { recursive: true });
    writeFileSync(join(dir, 'node_modules', 'cloudfront', 'package.json'),
        JSON.stringify({ name: 'cloudfront', type: 'module', main: 'index.js' }));
    writeFileSync(join(dir, 'node_modules', 'cloudfront', 'index.js'), STAND_IN);
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
    const code = source
        .replace(/const KVS_ID = '[^']*';/, `const KVS_ID = '${kvsId}';`)
        .replace(/const KEY_PREFIX = '[^']*';/, `const KEY_PREFIX = '${prefix}';`)
        .replace(/const SESSION_FROM = '[^']*';/, `const SESSION_FROM = '${sessionFrom}';`);
    assert.notEqual(code, source, 'the settings were found and replaced');
    writeFileSync(join(dir, 'function.js'), code + '\nexport { handler };\n');
    return (await import(pathToFileURL(join(dir, 'function.js')).href)).handler;
}

// A CloudFront Functions event for a request.
function event(c) {
    const querystring = {};
    for (const [k, v] of Object.entries(c.query || {})) {
        querystring[k] = { value: v };
    }
    const headers = {};
    for (const [k, v] of Object.entries(c.headers || {})) {
        headers[k.toLowerCase()] = { value: v };
    }
    return { version: '1.0', request: { method: 'GET', uri: c.uri, querystring, headers, cookies: {} } };
}

const BUILT_IN = {
    prefix: 'revoked:',
    cases: [
        { rule: 'prefix', uri: '/abcDEF123.h.p.s/vod/a.ts', session_id: 'abcDEF123' },
        { rule: 'prefix', uri: '/abc.h.p/vod/a.ts', session_id: null },
        // 61(17([h'a10105', {}, h'a1074473657373', h'00'])): cti h'73657373'.
        { rule: 'cta', uri: '/vod/a.ts', query: { CAT: '2D3RhEOhAQWgR6EHRHNlc3NBAA' }, session_id: '73657373' },
        { rule: 'cta', uri: '/vod/a.ts', query: { CAT: 'not-a-token' }, session_id: null },
    ],
};

const cases = process.env.AUTOREVOKE_FUNCTION_CASES
    ? JSON.parse(readFileSync(process.env.AUTOREVOKE_FUNCTION_CASES, 'utf8'))
    : BUILT_IN;

for (const rule of ['prefix', 'cta']) {
    test(`the ${rule} rule refuses exactly the revoked sessions`, async () => {
        const handler = await loadFunction(rule, 'kvs-test', cases.prefix);
        const mine = cases.cases.filter((c) => c.rule === rule);
        assert.ok(mine.length > 0, 'cases for the rule');
        const store = new Map();
        // Another prefix's key of the same id must not refuse anything.
        for (const c of mine) {
            if (c.session_id !== null) {
                store.set('other:' + c.session_id, '{}');
            }
        }
        globalThis.kvsStores = { 'kvs-test': store };
        for (const c of mine) {
            const out = await handler(event(c));
            assert.equal(out.statusCode, undefined, `not revoked yet: ${JSON.stringify(c)}`);
            assert.equal(out.uri, c.uri);
        }
        for (const c of mine) {
            if (c.session_id !== null) {
                store.set(cases.prefix + c.session_id, '{"type":"AUTO"}');
            }
        }
        for (const c of mine) {
            const out = await handler(event(c));
            if (c.session_id === null) {
                assert.equal(out.uri, c.uri, `no session, let through: ${JSON.stringify(c)}`);
            } else {
                assert.equal(out.statusCode, 403, `revoked: ${JSON.stringify(c)}`);
            }
        }
    });
}

test('a failed lookup lets the request through', async () => {
    const handler = await loadFunction('prefix', 'missing-store', 'revoked:');
    globalThis.kvsStores = {};
    const out = await handler(event({ uri: '/abc.h.p.s/a.ts' }));
    assert.equal(out.uri, '/abc.h.p.s/a.ts');
});
