// Test peer for tests/interop/test_jwe_node.py: node `jose` 4 and 6 as a JWE/JWS counterpart.
//
// Reads one JSON document on stdin, {"jobs": [job, ...]}, runs every job, and writes
// {"results": [result, ...]} (same order) as the last line of stdout: Node itself may print
// a line before it (its --security-revert warning goes to stdout). A job never aborts the
// batch: a failure is reported as {"id", "ok": false, "error": "<code or name>: <message>"}.
//
// Jobs ("lib" is "jose4" or "jose6"; binary values are base64, standard alphabet):
//
//   {"id", "lib", "op": "encrypt", "plaintext",
//    "jwe": {"jwk", "alg", "enc", "kid": str|null, "zip": bool, "cty": str|null},
//    "jws": null | {"jwk", "alg", "kid": str|null}}
//     -> {"id", "ok": true, "token"}
//     With "jws", the plaintext is first signed into a compact JWS and that JWS is encrypted.
//
//   {"id", "lib", "op": "decrypt", "token",
//    "keys": [private JWK, ...], "alg", "enc",
//    "verify": null | {"keys": [public JWK, ...], "algs": [str, ...]}}
//     -> {"id", "ok": true, "jwe_header", "decrypted_with", "plaintext",
//         "jws_header"?, "verified_by"?}
//     Keys are chosen the way a real peer would: by the header's "kid", or, with no "kid",
//     by trying each key in order. Only "alg"/"enc" given in the job are allowed. With
//     "verify", the decrypted plaintext must be a compact JWS; "plaintext" is its payload.
//
// RSA1_5 decryption (jose4 only; jose 6 has no RSA1_5) needs Node's RSA_PKCS1_PADDING private
// decryption, which Node 20 disables unless started with --security-revert=CVE-2023-46809.
// The Python side passes that flag only to the process that runs those jobs.

import * as jose4 from "jose4";
import * as jose6 from "jose6";

const LIBS = { jose4, jose6 };

function lib(name) {
  const found = LIBS[name];
  if (!found) throw new Error(`unknown lib ${JSON.stringify(name)}`);
  return found;
}

const b64 = (bytes) => Buffer.from(bytes).toString("base64");
const unb64 = (text) => new Uint8Array(Buffer.from(text, "base64"));

function candidates(keys, kid) {
  if (kid === undefined) return keys; // no kid: trial, in the order given
  const named = keys.filter((k) => k.kid === kid);
  if (named.length === 0) throw new Error(`no key for kid ${JSON.stringify(kid)}`);
  return named;
}

async function encrypt(job) {
  const j = lib(job.lib);
  let payload = unb64(job.plaintext);
  if (job.jws) {
    const header = { alg: job.jws.alg };
    if (job.jws.kid !== null) header.kid = job.jws.kid;
    const key = await j.importJWK(job.jws.jwk, job.jws.alg);
    const compact = await new j.CompactSign(payload).setProtectedHeader(header).sign(key);
    payload = new TextEncoder().encode(compact);
  }
  const spec = job.jwe;
  const header = { alg: spec.alg, enc: spec.enc };
  if (spec.kid !== null) header.kid = spec.kid;
  if (spec.cty !== null) header.cty = spec.cty;
  if (spec.zip) header.zip = "DEF";
  const key = await j.importJWK(spec.jwk, spec.alg);
  const token = await new j.CompactEncrypt(payload).setProtectedHeader(header).encrypt(key);
  return { token };
}

async function decrypt(job) {
  const j = lib(job.lib);
  const header = j.decodeProtectedHeader(job.token);
  const options = { keyManagementAlgorithms: [job.alg], contentEncryptionAlgorithms: [job.enc] };
  let opened = null;
  let lastError = null;
  for (const jwk of candidates(job.keys, header.kid)) {
    try {
      const key = await j.importJWK(jwk, job.alg);
      opened = { result: await j.compactDecrypt(job.token, key, options), kid: jwk.kid };
      break;
    } catch (error) {
      lastError = error;
    }
  }
  if (opened === null) throw lastError;
  const out = {
    jwe_header: opened.result.protectedHeader,
    decrypted_with: opened.kid,
    plaintext: b64(opened.result.plaintext),
  };
  if (job.verify) {
    const compact = new TextDecoder("utf-8", { fatal: true }).decode(opened.result.plaintext);
    const jwsHeader = j.decodeProtectedHeader(compact);
    let verified = null;
    lastError = null;
    if (!job.verify.algs.includes(jwsHeader.alg)) {
      throw new Error(`JWS alg ${JSON.stringify(jwsHeader.alg)} not allowed`);
    }
    for (const jwk of candidates(job.verify.keys, jwsHeader.kid)) {
      try {
        const key = await j.importJWK(jwk, jwsHeader.alg);
        const result = await j.compactVerify(compact, key, { algorithms: job.verify.algs });
        verified = { result, kid: jwk.kid };
        break;
      } catch (error) {
        lastError = error;
      }
    }
    if (verified === null) throw lastError;
    out.jws_header = verified.result.protectedHeader;
    out.verified_by = verified.kid;
    out.plaintext = b64(verified.result.payload);
  }
  return out;
}

const OPS = { encrypt, decrypt };

async function run(job) {
  try {
    const op = OPS[job.op];
    if (!op) throw new Error(`unknown op ${JSON.stringify(job.op)}`);
    return { id: job.id, ok: true, ...(await op(job)) };
  } catch (error) {
    const name = error?.code ?? error?.name ?? "Error";
    return { id: job.id, ok: false, error: `${name}: ${error?.message ?? String(error)}` };
  }
}

async function main() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const { jobs } = JSON.parse(Buffer.concat(chunks).toString("utf-8"));
  const results = [];
  for (const job of jobs) results.push(await run(job));
  process.stdout.write(`\n${JSON.stringify({ results })}\n`);
}

main().catch((error) => {
  process.stderr.write(`peer.mjs: ${error?.stack ?? error}\n`);
  process.exitCode = 2;
});
