// A CloudFront viewer-request function (JavaScript runtime 2.0) that refuses requests whose
// session autorevoke has revoked: `autorevoke kvs publish` writes the key
// `<KEY_PREFIX><session id>` into the KeyValueStore associated with this function, and the
// function answers 403 when the request's session id is there.
//
// Set the three constants below before publishing the function:
//   KVS_ID       the KeyValueStore's id (the last part of its ARN)
//   KEY_PREFIX   as `kvs publish --key-prefix` (default `revoked:`)
//   SESSION_FROM as `--session-from`: 'prefix' for `/<id>.<jwt header>.<payload>.<signature>/`
//                paths, 'cta' for Common Access Tokens (the `cti` claim), found in the `CAT`
//                query parameter, else a first path segment longer than 50 characters, else
//                the `CTA-Common-Access-Token` header
//
// The session id is computed exactly as autorevoke computes it when it scores the logs, so a
// key matches the one session it names. This function does not verify the token's MAC or
// expiry (your token validation does that); it only refuses revoked sessions. A failed
// lookup lets the request through (and logs), so a KeyValueStore problem cannot block every
// viewer.

import cf from 'cloudfront';

const KVS_ID = 'REPLACE-WITH-YOUR-KEY-VALUE-STORE-ID';
const KEY_PREFIX = 'revoked:';
const SESSION_FROM = 'cta';

const kvs = cf.kvs(KVS_ID);

const VALID_ID = /^[A-Za-z0-9_-]{1,128}$/;
const PATH_TOKEN_OVER = 50;
const MAX_TOKEN_CHARS = 8192;

// The first path segment of a URI (`/a/b` -> `a`).
function firstSegment(uri) {
    const rest = uri.charAt(0) === '/' ? uri.slice(1) : uri;
    const end = rest.indexOf('/');
    return end < 0 ? rest : rest.slice(0, end);
}

// `prefix`: the first segment has exactly four `.`-separated parts; the first is the id.
function prefixSessionId(uri) {
    const parts = firstSegment(uri).split('.');
    if (parts.length !== 4 || !VALID_ID.test(parts[0])) {
        return null;
    }
    return parts[0];
}

// `%XX` escapes decoded to characters (bytes); others kept.
function percentDecode(text) {
    return text.replace(/%([0-9A-Fa-f]{2})/g, function (_, hex) {
        return String.fromCharCode(parseInt(hex, 16));
    });
}

// Where a request carries its Common Access Token, in autorevoke's order.
function ctaToken(request) {
    const query = request.querystring || {};
    if (query.CAT && typeof query.CAT.value === 'string') {
        return percentDecode(query.CAT.value);
    }
    const segment = firstSegment(request.uri || '');
    if (segment.length > PATH_TOKEN_OVER) {
        return segment;
    }
    const header = (request.headers || {})['cta-common-access-token'];
    if (header && typeof header.value === 'string') {
        return header.value.trim();
    }
    return null;
}

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

// base64url (padding optional) to an array of bytes, or null.
function base64urlBytes(text) {
    const body = text.replace(/=+$/, '');
    if (body.length % 4 === 1) {
        return null;
    }
    const bytes = [];
    let bits = 0;
    let acc = 0;
    for (let i = 0; i < body.length; i++) {
        const v = B64URL.indexOf(body.charAt(i));
        if (v < 0) {
            return null;
        }
        acc = (acc << 6) | v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            bytes.push((acc >> bits) & 0xff);
        }
    }
    // The bits left over must be zero (a canonical encoding), as autorevoke's decoder asks.
    if ((acc & ((1 << bits) - 1)) !== 0) {
        return null;
    }
    return bytes;
}

// The "break" byte ending an indefinite-length item.
const BREAK = 0xff;

// A small CBOR reader of the items a CWT uses: integers, byte and text strings, arrays,
// maps and tags, of definite or indefinite length (floats and simple values are errors).
function readItem(bytes, state, depth) {
    if (depth > 16 || state.at >= bytes.length) {
        throw new Error('bad CBOR');
    }
    const first = bytes[state.at++];
    const major = first >> 5;
    const info = first & 0x1f;
    if (info === 31 && major >= 2 && major <= 5) {
        return readIndefinite(bytes, state, depth, major);
    }
    let n;
    if (info < 24) {
        n = info;
    } else if (info >= 24 && info <= 27) {
        const size = 1 << (info - 24);
        if (state.at + size > bytes.length) {
            throw new Error('bad CBOR');
        }
        n = 0;
        for (let i = 0; i < size; i++) {
            n = n * 256 + bytes[state.at++];
        }
    } else {
        throw new Error('unsupported CBOR');
    }
    switch (major) {
        case 0:
            return { kind: 'int', value: n };
        case 1:
            return { kind: 'int', value: -1 - n };
        case 2:
        case 3: {
            if (state.at + n > bytes.length) {
                throw new Error('bad CBOR');
            }
            const data = bytes.slice(state.at, state.at + n);
            state.at += n;
            return { kind: major === 2 ? 'bytes' : 'text', value: data };
        }
        case 4: {
            const items = [];
            for (let i = 0; i < n; i++) {
                items.push(readItem(bytes, state, depth + 1));
            }
            return { kind: 'array', value: items };
        }
        case 5: {
            const pairs = [];
            for (let i = 0; i < n; i++) {
                const k = readItem(bytes, state, depth + 1);
                const v = readItem(bytes, state, depth + 1);
                pairs.push([k, v]);
            }
            return { kind: 'map', value: pairs };
        }
        case 6:
            return { kind: 'tag', tag: n, value: readItem(bytes, state, depth + 1) };
        default:
            throw new Error('unsupported CBOR');
    }
}

// An indefinite-length string (definite chunks of its own kind), array or map.
function readIndefinite(bytes, state, depth, major) {
    const items = [];
    for (;;) {
        if (state.at >= bytes.length) {
            throw new Error('bad CBOR');
        }
        if (bytes[state.at] === BREAK) {
            state.at++;
            break;
        }
        items.push(readItem(bytes, state, depth + 1));
    }
    if (major === 2 || major === 3) {
        const kind = major === 2 ? 'bytes' : 'text';
        let data = [];
        for (let i = 0; i < items.length; i++) {
            if (items[i].kind !== kind) {
                throw new Error('bad CBOR chunk');
            }
            data = data.concat(items[i].value);
        }
        return { kind: kind, value: data };
    }
    if (major === 4) {
        return { kind: 'array', value: items };
    }
    if (items.length % 2 !== 0) {
        throw new Error('bad CBOR map');
    }
    const pairs = [];
    for (let i = 0; i < items.length; i += 2) {
        pairs.push([items[i], items[i + 1]]);
    }
    return { kind: 'map', value: pairs };
}

// One CBOR item that is all of `bytes`.
function cbor(bytes) {
    const state = { at: 0 };
    const item = readItem(bytes, state, 0);
    if (state.at !== bytes.length) {
        throw new Error('trailing bytes');
    }
    return item;
}

// `cta`: the token's `cti` (claim 7): text as it is, bytes as lowercase hex; null when the
// token does not decode, has no cti, or gives an id outside [A-Za-z0-9_-]{1,128}.
function ctaSessionId(token) {
    if (token === null || token.length > MAX_TOKEN_CHARS) {
        return null;
    }
    const bytes = base64urlBytes(token);
    if (bytes === null) {
        return null;
    }
    try {
        let item = cbor(bytes);
        if (item.kind === 'tag' && item.tag === 61) {
            item = item.value;
        }
        if (item.kind !== 'tag' || item.tag !== 17) {
            return null;
        }
        const mac0 = item.value;
        if (mac0.kind !== 'array' || mac0.value.length !== 4 || mac0.value[2].kind !== 'bytes') {
            return null;
        }
        const claims = cbor(mac0.value[2].value);
        if (claims.kind !== 'map') {
            return null;
        }
        for (let i = 0; i < claims.value.length; i++) {
            const key = claims.value[i][0];
            const value = claims.value[i][1];
            if (key.kind !== 'int' || key.value !== 7) {
                continue;
            }
            let id = null;
            if (value.kind === 'text') {
                // Valid ids are ASCII: any other byte fails the check below.
                id = String.fromCharCode.apply(null, value.value);
            } else if (value.kind === 'bytes') {
                id = value.value
                    .map(function (b) {
                        return (b < 16 ? '0' : '') + b.toString(16);
                    })
                    .join('');
            }
            return id !== null && VALID_ID.test(id) ? id : null;
        }
        return null;
    } catch (e) {
        return null;
    }
}

// The request's session id under SESSION_FROM, or null.
function sessionId(request) {
    if (SESSION_FROM === 'cta') {
        return ctaSessionId(ctaToken(request));
    }
    return prefixSessionId(request.uri || '');
}

async function handler(event) {
    const request = event.request;
    const id = sessionId(request);
    if (id === null) {
        return request;
    }
    try {
        if (await kvs.exists(KEY_PREFIX + id)) {
            return { statusCode: 403, statusDescription: 'Forbidden' };
        }
    } catch (e) {
        console.log('revoked-sessions: lookup failed, request let through: ' + e);
    }
    return request;
}
