// Test peer for tests/interop/test_pgp_openpgpjs.py: OpenPGP.js 5 and 6 as an OpenPGP
// counterpart. Reads one JSON document on stdin, {"jobs": [job, ...]}, and writes
// {"results": [result, ...]} (same order) as the last line of stdout. A job never aborts the
// batch: a failure is {"id", "ok": false, "error": "<name>: <message>"}.
//
// Jobs ("lib" is "openpgp5" or "openpgp6"; binary values are base64, standard alphabet):
//
//   {"id", "lib", "op": "generate", "bits", "passphrase": str|null, "aead_protect": bool}
//     -> {"id", "ok": true, "secret": armored, "public": armored}
//     An RSA key as OpenPGP.js makes it (a signing primary with an encryption subkey);
//     "aead_protect" is OpenPGP.js's config.aeadProtect (RFC 9580 features and, for a
//     passphrase, AEAD-protected secret keys).
//
//   {"id", "lib", "op": "encrypt", "plaintext", "recipients": [armored public, ...],
//    "signer": {"secret": armored, "passphrase": str|null} | null, "aead_protect": bool}
//     -> {"id", "ok": true, "message", "packets": [[tag, version], ...]}
//     Binary output. OpenPGP.js picks SEIPD v1 or v2 (with v3 or v6 PKESKs) from the
//     recipients' features, as it does for any user.
//
//   {"id", "lib", "op": "decrypt", "message", "secret": armored, "passphrase": str|null,
//    "verify": [armored public, ...]}
//     -> {"id", "ok": true, "plaintext", "verified": [key id hex, ...]}
//     "verified" lists the signatures that verified with one of the "verify" keys.

import * as openpgp5 from "openpgp5";
import * as openpgp6 from "openpgp6";

const LIBS = { openpgp5, openpgp6 };

function b64(bytes) {
  return Buffer.from(bytes).toString("base64");
}

function unb64(text) {
  return new Uint8Array(Buffer.from(text, "base64"));
}

async function secretKey(pgp, armored, passphrase) {
  const key = await pgp.readPrivateKey({ armoredKey: armored });
  return passphrase ? pgp.decryptKey({ privateKey: key, passphrase }) : key;
}

function packets(bytes) {
  // Tag and version of each top-level packet (new-format headers, as OpenPGP.js writes).
  const out = [];
  let pos = 0;
  while (pos < bytes.length) {
    const tag = bytes[pos] & 0x3f;
    let len = bytes[pos + 1];
    let head = 2;
    if (len >= 192 && len < 224) {
      len = ((len - 192) << 8) + bytes[pos + 2] + 192;
      head = 3;
    } else if (len === 255) {
      len = (bytes[pos + 2] << 24) | (bytes[pos + 3] << 16) | (bytes[pos + 4] << 8) | bytes[pos + 5];
      head = 6;
    } else if (len >= 224) {
      out.push([tag, bytes[pos + 2]]); // partial lengths: only the last packet streams
      break;
    }
    out.push([tag, bytes[pos + head]]);
    pos += head + len;
  }
  return out;
}

async function run(job) {
  const pgp = LIBS[job.lib];
  if (job.op === "generate") {
    const { privateKey, publicKey } = await pgp.generateKey({
      type: "rsa",
      rsaBits: job.bits,
      userIDs: [{ name: "OpenPGP.js peer", email: "peer@example.com" }],
      passphrase: job.passphrase || undefined,
      format: "armored",
      config: { aeadProtect: job.aead_protect },
    });
    return { secret: privateKey, public: publicKey };
  }
  if (job.op === "encrypt") {
    const encryptionKeys = await Promise.all(
      job.recipients.map((armoredKey) => pgp.readKey({ armoredKey })),
    );
    const signingKeys = job.signer
      ? [await secretKey(pgp, job.signer.secret, job.signer.passphrase)]
      : undefined;
    const message = await pgp.createMessage({ binary: unb64(job.plaintext) });
    const out = await pgp.encrypt({
      message,
      encryptionKeys,
      signingKeys,
      format: "binary",
      config: { aeadProtect: job.aead_protect },
    });
    return { message: b64(out), packets: packets(out) };
  }
  if (job.op === "decrypt") {
    const message = await pgp.readMessage({ binaryMessage: unb64(job.message) });
    const verificationKeys = await Promise.all(
      job.verify.map((armoredKey) => pgp.readKey({ armoredKey })),
    );
    const { data, signatures } = await pgp.decrypt({
      message,
      decryptionKeys: await secretKey(pgp, job.secret, job.passphrase),
      verificationKeys,
      format: "binary",
    });
    const verified = [];
    for (const sig of signatures) {
      try {
        await sig.verified;
        verified.push(sig.keyID.toHex().toUpperCase());
      } catch {
        // not verified: not listed
      }
    }
    return { plaintext: b64(data), verified };
  }
  throw new Error(`unknown op ${job.op}`);
}

const input = JSON.parse(await new Promise((resolve) => {
  let text = "";
  process.stdin.on("data", (chunk) => (text += chunk));
  process.stdin.on("end", () => resolve(text));
}));
const results = [];
for (const job of input.jobs) {
  try {
    results.push({ id: job.id, ok: true, ...(await run(job)) });
  } catch (err) {
    results.push({ id: job.id, ok: false, error: `${err.name}: ${err.message}` });
  }
}
process.stdout.write(JSON.stringify({ results }) + "\n");
