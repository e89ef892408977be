/*
 * BcPeer: a small BouncyCastle (1.72, Debian's libbcpg-java) OpenPGP peer for the interop tests
 * in tests/interop/test_pgp_peers.py. It plays Google's side: Google's partner samples are
 * BouncyCastle programs. Our own code, written for these tests.
 *
 *   encrypt --sign KEY.asc[:pass] ... --to PUB.asc ... [--zip ZIP|ZLIB|NONE]
 *           [--hash SHA384|SHA256|SHA512] [--layout google|nested] [--armor]
 *       stdin: plaintext. stdout: one OpenPGP message (binary unless --armor):
 *       a PKESK for every usable encryption subkey of every recipient (chosen by key flags),
 *       SEIPD v1 with MDC and AES-256, optional compression, one one-pass signature per signer
 *       in the order given, a binary literal data packet, then the signatures.
 *       --layout google (default) writes every one-pass packet with the "last" flag set to 1
 *       and the signatures in the same order as the one-pass packets, as Google's published
 *       sample does; --layout nested writes the RFC 4880 bracketing (flag 0 on all but the
 *       last one-pass packet, signatures in reverse order).
 *
 *   decrypt --key SEC.asc[:pass] ... --verify PUB.asc ...
 *       stdin: the message, binary or ASCII armored. On success stdout: the plaintext.
 *       stderr: "bcpeer: " report lines, among them one per signature packet:
 *         SIG GOOD <primary fpr> <signing key fpr> <hash>
 *         SIG BAD <primary fpr> <signing key fpr> <hash>
 *         SIG UNKNOWN <issuer key id> <hash>
 *       Succeeds (exit 0) when at least one signature by a known key is good and none by a
 *       known key is bad; signatures by unknown keys are ignored, as Google's receiving side
 *       must do (several signatures, "any one of which" is by the key Google holds).
 *       Signatures are paired with one-pass packets by issuer key id, so both layouts verify.
 *       Stricter than Google's sample, which checks only the first one-pass signature whose
 *       key it knows: here every signature by a known key must be good. Unsigned messages and
 *       messages without an MDC are refused, as in the sample.
 *
 * Key selection uses key flags, expiry and revocation from the self-signatures; binding
 * signatures are not re-verified (the keys are the tests' own, made by gpg).
 *
 * Exit codes: 0 success, 2 usage, 3 no good signature by a known key (or a bad one),
 * 4 cannot decrypt or malformed message, 5 key problem (no usable key, wrong passphrase).
 */

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Date;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;

import org.bouncycastle.bcpg.ArmoredOutputStream;
import org.bouncycastle.bcpg.CompressionAlgorithmTags;
import org.bouncycastle.bcpg.HashAlgorithmTags;
import org.bouncycastle.bcpg.SymmetricKeyAlgorithmTags;
import org.bouncycastle.bcpg.sig.KeyFlags;
import org.bouncycastle.openpgp.PGPCompressedData;
import org.bouncycastle.openpgp.PGPCompressedDataGenerator;
import org.bouncycastle.openpgp.PGPEncryptedData;
import org.bouncycastle.openpgp.PGPEncryptedDataGenerator;
import org.bouncycastle.openpgp.PGPEncryptedDataList;
import org.bouncycastle.openpgp.PGPException;
import org.bouncycastle.openpgp.PGPLiteralData;
import org.bouncycastle.openpgp.PGPLiteralDataGenerator;
import org.bouncycastle.openpgp.PGPMarker;
import org.bouncycastle.openpgp.PGPOnePassSignature;
import org.bouncycastle.openpgp.PGPOnePassSignatureList;
import org.bouncycastle.openpgp.PGPPrivateKey;
import org.bouncycastle.openpgp.PGPPublicKey;
import org.bouncycastle.openpgp.PGPPublicKeyEncryptedData;
import org.bouncycastle.openpgp.PGPPublicKeyRing;
import org.bouncycastle.openpgp.PGPPublicKeyRingCollection;
import org.bouncycastle.openpgp.PGPSecretKey;
import org.bouncycastle.openpgp.PGPSecretKeyRing;
import org.bouncycastle.openpgp.PGPSecretKeyRingCollection;
import org.bouncycastle.openpgp.PGPSignature;
import org.bouncycastle.openpgp.PGPSignatureGenerator;
import org.bouncycastle.openpgp.PGPSignatureList;
import org.bouncycastle.openpgp.PGPSignatureSubpacketGenerator;
import org.bouncycastle.openpgp.PGPSignatureSubpacketVector;
import org.bouncycastle.openpgp.PGPUtil;
import org.bouncycastle.openpgp.bc.BcPGPObjectFactory;
import org.bouncycastle.openpgp.operator.bc.BcKeyFingerprintCalculator;
import org.bouncycastle.openpgp.operator.bc.BcPBESecretKeyDecryptorBuilder;
import org.bouncycastle.openpgp.operator.bc.BcPGPContentSignerBuilder;
import org.bouncycastle.openpgp.operator.bc.BcPGPContentVerifierBuilderProvider;
import org.bouncycastle.openpgp.operator.bc.BcPGPDataEncryptorBuilder;
import org.bouncycastle.openpgp.operator.bc.BcPGPDigestCalculatorProvider;
import org.bouncycastle.openpgp.operator.bc.BcPublicKeyDataDecryptorFactory;
import org.bouncycastle.openpgp.operator.bc.BcPublicKeyKeyEncryptionMethodGenerator;
import org.bouncycastle.util.encoders.Hex;

public final class BcPeer {
    private static final PrintStream ERR = System.err;

    /** A failure with its exit code. */
    private static final class Failure extends Exception {
        private static final long serialVersionUID = 1L;
        final int code;

        Failure(int code, String message) {
            super(message);
            this.code = code;
        }
    }

    private BcPeer() {
    }

    public static void main(String[] args) {
        int code;
        try {
            if (args.length == 0) {
                throw new Failure(2, "usage: BcPeer encrypt|decrypt [options]");
            }
            List<String> rest = new ArrayList<>(List.of(args).subList(1, args.length));
            switch (args[0]) {
                case "encrypt":
                    encrypt(rest);
                    break;
                case "decrypt":
                    decrypt(rest);
                    break;
                default:
                    throw new Failure(2, "unknown command " + args[0]);
            }
            code = 0;
        } catch (Failure f) {
            ERR.println("bcpeer: error: " + f.getMessage());
            code = f.code;
        } catch (Exception e) {
            ERR.println("bcpeer: error: " + e);
            code = 4;
        }
        System.out.flush();
        ERR.flush();
        System.exit(code);
    }

    // -- arguments --------------------------------------------------------------------------

    private static final class Args {
        final List<String> signKeys = new ArrayList<>();
        final List<String> recipients = new ArrayList<>();
        final List<String> keys = new ArrayList<>();
        final List<String> verify = new ArrayList<>();
        String zip = "ZIP";
        String hash = "SHA384";
        String layout = "google";
        boolean armor = false;
    }

    private static Args parse(List<String> argv, boolean forEncrypt) throws Failure {
        Args a = new Args();
        for (int i = 0; i < argv.size(); i++) {
            String opt = argv.get(i);
            if (opt.equals("--armor") && forEncrypt) {
                a.armor = true;
                continue;
            }
            if (i + 1 >= argv.size()) {
                throw new Failure(2, "missing value after " + opt);
            }
            String val = argv.get(++i);
            switch (forEncrypt ? "e" + opt : "d" + opt) {
                case "e--sign": a.signKeys.add(val); break;
                case "e--to": a.recipients.add(val); break;
                case "e--zip": a.zip = val.toUpperCase(Locale.ROOT); break;
                case "e--hash": a.hash = val.toUpperCase(Locale.ROOT); break;
                case "e--layout": a.layout = val; break;
                case "d--key": a.keys.add(val); break;
                case "d--verify": a.verify.add(val); break;
                default: throw new Failure(2, "unknown option " + opt);
            }
        }
        return a;
    }

    /** "path[:passphrase]": split at the first colon that ends the name of an existing file. */
    private static String[] pathAndPass(String spec) {
        if (!new File(spec).isFile()) {
            for (int colon = spec.indexOf(':'); colon >= 0; colon = spec.indexOf(':', colon + 1)) {
                if (new File(spec.substring(0, colon)).isFile()) {
                    return new String[] {spec.substring(0, colon), spec.substring(colon + 1)};
                }
            }
        }
        return new String[] {spec, ""};
    }

    // -- keys -------------------------------------------------------------------------------

    private static PGPSecretKeyRingCollection readSecret(String path)
            throws IOException, PGPException {
        try (InputStream in = PGPUtil.getDecoderStream(new FileInputStream(path))) {
            return new PGPSecretKeyRingCollection(in, new BcKeyFingerprintCalculator());
        }
    }

    private static PGPPublicKeyRingCollection readPublic(String path)
            throws IOException, PGPException {
        try (InputStream in = PGPUtil.getDecoderStream(new FileInputStream(path))) {
            return new PGPPublicKeyRingCollection(in, new BcKeyFingerprintCalculator());
        }
    }

    /** Key flags of a key: from its binding signatures (subkey) or self-signatures (primary). */
    private static int keyFlags(PGPPublicKey key, PGPPublicKey primary) {
        int flags = 0;
        Iterator<PGPSignature> it = key.getSignatures();
        while (it.hasNext()) {
            PGPSignature sig = it.next();
            if (sig.getKeyID() != primary.getKeyID()) {
                continue;
            }
            int type = sig.getSignatureType();
            boolean self = key.isMasterKey()
                ? PGPSignature.isCertification(type) || type == PGPSignature.DIRECT_KEY
                : type == PGPSignature.SUBKEY_BINDING;
            PGPSignatureSubpacketVector hashed = sig.getHashedSubPackets();
            if (self && hashed != null) {
                flags |= hashed.getKeyFlags();
            }
        }
        return flags;
    }

    private static boolean usable(PGPPublicKey key, Date now) {
        if (key.hasRevocation()) {
            return false;
        }
        long valid = key.getValidSeconds();
        return valid <= 0 || key.getCreationTime().getTime() + valid * 1000L > now.getTime();
    }

    private static String fpr(PGPPublicKey key) {
        return Hex.toHexString(key.getFingerprint()).toUpperCase(Locale.ROOT);
    }

    private static String keyId(long id) {
        return String.format(Locale.ROOT, "%016X", id);
    }

    /** The usable encryption subkeys (ENCRYPT_COMMS or ENCRYPT_STORAGE) of every ring in a file. */
    private static List<PGPPublicKey> encryptionKeys(String path, Date now) throws Exception {
        List<PGPPublicKey> out = new ArrayList<>();
        for (PGPPublicKeyRing ring : readPublic(path)) {
            PGPPublicKey primary = ring.getPublicKey();
            if (!usable(primary, now)) {
                continue;
            }
            for (PGPPublicKey k : ring) {
                int flags = keyFlags(k, primary);
                if ((flags & (KeyFlags.ENCRYPT_COMMS | KeyFlags.ENCRYPT_STORAGE)) != 0
                        && usable(k, now)) {
                    out.add(k);
                }
            }
        }
        if (out.isEmpty()) {
            throw new Failure(5, "no usable encryption key in " + path);
        }
        return out;
    }

    private static final class Signer {
        final PGPPublicKey publicKey;
        final PGPPrivateKey privateKey;
        final String userId;

        Signer(PGPPublicKey publicKey, PGPPrivateKey privateKey, String userId) {
            this.publicKey = publicKey;
            this.privateKey = privateKey;
            this.userId = userId;
        }
    }

    private static PGPPrivateKey unlock(PGPSecretKey sk, String pass) throws Failure {
        try {
            return sk.extractPrivateKey(
                new BcPBESecretKeyDecryptorBuilder(new BcPGPDigestCalculatorProvider())
                    .build(pass.toCharArray()));
        } catch (PGPException e) {
            throw new Failure(5, "cannot unlock secret key " + keyId(sk.getKeyID())
                + " (wrong passphrase?): " + e.getMessage());
        }
    }

    /** The first usable CAN_SIGN key (primary or subkey) of every ring in the file. */
    private static List<Signer> signers(String spec, Date now) throws Exception {
        String[] pp = pathAndPass(spec);
        List<Signer> out = new ArrayList<>();
        for (PGPSecretKeyRing ring : readSecret(pp[0])) {
            PGPPublicKey primary = ring.getPublicKey();
            if (!usable(primary, now)) {
                continue;
            }
            Iterator<String> uids = primary.getUserIDs();
            String uid = uids.hasNext() ? uids.next() : null;
            for (PGPSecretKey sk : ring) {
                PGPPublicKey pk = sk.getPublicKey();
                if ((keyFlags(pk, primary) & KeyFlags.SIGN_DATA) != 0 && usable(pk, now)
                        && !sk.isPrivateKeyEmpty()) {
                    out.add(new Signer(pk, unlock(sk, pp[1]), uid));
                    break;
                }
            }
        }
        if (out.isEmpty()) {
            throw new Failure(5, "no usable signing key in " + pp[0]);
        }
        return out;
    }

    // -- encrypt ----------------------------------------------------------------------------

    private static int hashAlgorithm(String name) throws Failure {
        switch (name) {
            case "SHA256": return HashAlgorithmTags.SHA256;
            case "SHA384": return HashAlgorithmTags.SHA384;
            case "SHA512": return HashAlgorithmTags.SHA512;
            default: throw new Failure(2, "unsupported --hash " + name);
        }
    }

    private static int compression(String name) throws Failure {
        switch (name) {
            case "NONE": return CompressionAlgorithmTags.UNCOMPRESSED;
            case "ZIP": return CompressionAlgorithmTags.ZIP;
            case "ZLIB": return CompressionAlgorithmTags.ZLIB;
            default: throw new Failure(2, "unsupported --zip " + name);
        }
    }

    private static void encrypt(List<String> argv) throws Exception {
        Args a = parse(argv, true);
        if (a.recipients.isEmpty() || a.signKeys.isEmpty()) {
            throw new Failure(2, "encrypt needs --to and --sign");
        }
        if (!a.layout.equals("google") && !a.layout.equals("nested")) {
            throw new Failure(2, "unknown --layout " + a.layout);
        }
        int hash = hashAlgorithm(a.hash);
        int zip = compression(a.zip);
        Date now = new Date();
        List<PGPPublicKey> encKeys = new ArrayList<>();
        for (String path : a.recipients) {
            encKeys.addAll(encryptionKeys(path, now));
        }
        List<Signer> signers = new ArrayList<>();
        for (String spec : a.signKeys) {
            signers.addAll(signers(spec, now));
        }
        byte[] plain = System.in.readAllBytes();

        ByteArrayOutputStream buffer = new ByteArrayOutputStream();
        OutputStream sink = a.armor ? new ArmoredOutputStream(buffer) : buffer;

        PGPEncryptedDataGenerator edg = new PGPEncryptedDataGenerator(
            new BcPGPDataEncryptorBuilder(SymmetricKeyAlgorithmTags.AES_256)
                .setWithIntegrityPacket(true)
                .setSecureRandom(new SecureRandom()));
        for (PGPPublicKey k : encKeys) {
            edg.addMethod(new BcPublicKeyKeyEncryptionMethodGenerator(k));
        }
        OutputStream encrypted = edg.open(sink, new byte[1 << 16]);
        PGPCompressedDataGenerator cdg = null;
        OutputStream inner = encrypted;
        if (zip != CompressionAlgorithmTags.UNCOMPRESSED) {
            cdg = new PGPCompressedDataGenerator(zip);
            inner = cdg.open(encrypted);
        }

        List<PGPSignatureGenerator> gens = new ArrayList<>();
        for (Signer s : signers) {
            PGPSignatureGenerator gen = new PGPSignatureGenerator(
                new BcPGPContentSignerBuilder(s.publicKey.getAlgorithm(), hash));
            gen.init(PGPSignature.BINARY_DOCUMENT, s.privateKey);
            PGPSignatureSubpacketGenerator hashed = new PGPSignatureSubpacketGenerator();
            hashed.setSignatureCreationTime(false, now);
            hashed.setIssuerFingerprint(false, s.publicKey);
            if (s.userId != null) {
                hashed.addSignerUserID(false, s.userId);
            }
            gen.setHashedSubpackets(hashed.generate());
            gens.add(gen);
        }
        boolean google = a.layout.equals("google");
        for (int i = 0; i < gens.size(); i++) {
            // BC's isNested=true writes the flag 0: "another one-pass signature follows".
            boolean anotherFollows = !google && i < gens.size() - 1;
            gens.get(i).generateOnePassVersion(anotherFollows).encode(inner);
        }
        PGPLiteralDataGenerator ldg = new PGPLiteralDataGenerator();
        // Binary literal data named "_CONSOLE", like Google's sample ("for your eyes only").
        OutputStream literal =
            ldg.open(inner, PGPLiteralData.BINARY, "_CONSOLE", plain.length, now);
        literal.write(plain);
        literal.close();
        for (PGPSignatureGenerator gen : gens) {
            gen.update(plain);
        }
        for (int i = 0; i < gens.size(); i++) {
            int j = google ? i : gens.size() - 1 - i;
            gens.get(j).generate().encode(inner);
        }
        if (cdg != null) {
            cdg.close();
        }
        encrypted.close();
        if (a.armor) {
            sink.close();
        }
        System.out.write(buffer.toByteArray());
        System.out.flush();
        ERR.println("bcpeer: ENCRYPTED " + encKeys.size() + " PKESK, " + signers.size()
            + " signatures, " + a.hash + ", " + a.zip + ", layout " + a.layout);
    }

    // -- decrypt ----------------------------------------------------------------------------

    private static String hashName(int alg) {
        switch (alg) {
            case HashAlgorithmTags.MD5: return "MD5";
            case HashAlgorithmTags.SHA1: return "SHA1";
            case HashAlgorithmTags.SHA224: return "SHA224";
            case HashAlgorithmTags.SHA256: return "SHA256";
            case HashAlgorithmTags.SHA384: return "SHA384";
            case HashAlgorithmTags.SHA512: return "SHA512";
            default: return "HASH" + alg;
        }
    }

    private static String symName(int alg) {
        switch (alg) {
            case SymmetricKeyAlgorithmTags.AES_128: return "AES128";
            case SymmetricKeyAlgorithmTags.AES_192: return "AES192";
            case SymmetricKeyAlgorithmTags.AES_256: return "AES256";
            case SymmetricKeyAlgorithmTags.CAST5: return "CAST5";
            case SymmetricKeyAlgorithmTags.IDEA: return "IDEA";
            case SymmetricKeyAlgorithmTags.TRIPLE_DES: return "3DES";
            default: return "SYM" + alg;
        }
    }

    private static String zipName(int alg) {
        switch (alg) {
            case CompressionAlgorithmTags.UNCOMPRESSED: return "NONE";
            case CompressionAlgorithmTags.ZIP: return "ZIP";
            case CompressionAlgorithmTags.ZLIB: return "ZLIB";
            case CompressionAlgorithmTags.BZIP2: return "BZIP2";
            default: return "ZIP" + alg;
        }
    }

    /** What the decrypted packet stream held. */
    private static final class Content {
        final List<PGPOnePassSignature> onePass = new ArrayList<>();
        final List<PGPSignature> leading = new ArrayList<>();
        final List<PGPSignature> trailing = new ArrayList<>();
        byte[] literal;
        int compressionLayers;
    }

    private static void walk(BcPGPObjectFactory factory, Content c) throws Exception {
        Object o;
        while ((o = factory.nextObject()) != null) {
            if (o instanceof PGPMarker) {
                continue;
            } else if (o instanceof PGPCompressedData) {
                PGPCompressedData cd = (PGPCompressedData) o;
                if (++c.compressionLayers > 1 || c.literal != null) {
                    throw new Failure(4, "unexpected compressed data packet");
                }
                ERR.println("bcpeer: COMPRESSION " + zipName(cd.getAlgorithm()));
                walk(new BcPGPObjectFactory(cd.getDataStream()), c);
            } else if (o instanceof PGPOnePassSignatureList) {
                for (PGPOnePassSignature ops : (PGPOnePassSignatureList) o) {
                    ERR.println("bcpeer: OPS " + keyId(ops.getKeyID()) + " "
                        + hashName(ops.getHashAlgorithm())
                        + " last=" + (ops.isContaining() ? 1 : 0));
                    c.onePass.add(ops);
                }
            } else if (o instanceof PGPSignatureList) {
                for (PGPSignature sig : (PGPSignatureList) o) {
                    (c.literal == null ? c.leading : c.trailing).add(sig);
                }
            } else if (o instanceof PGPLiteralData) {
                if (c.literal != null) {
                    throw new Failure(4, "more than one literal data packet");
                }
                PGPLiteralData ld = (PGPLiteralData) o;
                try (InputStream in = ld.getInputStream()) {
                    c.literal = in.readAllBytes();
                }
                ERR.println("bcpeer: LITERAL " + (char) ld.getFormat() + " " + ld.getFileName()
                    + " " + c.literal.length);
            } else {
                throw new Failure(4, "unexpected packet " + o.getClass().getSimpleName());
            }
        }
    }

    private static void decrypt(List<String> argv) throws Exception {
        Args a = parse(argv, false);
        if (a.keys.isEmpty()) {
            throw new Failure(2, "decrypt needs --key");
        }
        List<PGPSecretKeyRingCollection> secrets = new ArrayList<>();
        List<String> passes = new ArrayList<>();
        for (String spec : a.keys) {
            String[] pp = pathAndPass(spec);
            secrets.add(readSecret(pp[0]));
            passes.add(pp[1]);
        }
        List<PGPPublicKeyRingCollection> publics = new ArrayList<>();
        for (String path : a.verify) {
            publics.add(readPublic(path));
        }
        byte[] input = System.in.readAllBytes();

        BcPGPObjectFactory top = new BcPGPObjectFactory(
            PGPUtil.getDecoderStream(new ByteArrayInputStream(input)));
        Object o = top.nextObject();
        while (o instanceof PGPMarker) {
            o = top.nextObject();
        }
        if (!(o instanceof PGPEncryptedDataList)) {
            throw new Failure(4, "not an encrypted message: "
                + (o == null ? "empty" : o.getClass().getSimpleName()));
        }
        PGPPublicKeyEncryptedData chosen = null;
        PGPPrivateKey privateKey = null;
        for (PGPEncryptedData ed : (PGPEncryptedDataList) o) {
            if (!(ed instanceof PGPPublicKeyEncryptedData)) {
                ERR.println("bcpeer: SKIP non-public-key session key packet");
                continue;
            }
            PGPPublicKeyEncryptedData pked = (PGPPublicKeyEncryptedData) ed;
            ERR.println("bcpeer: PKESK " + keyId(pked.getKeyID()));
            if (chosen != null) {
                continue;
            }
            for (int i = 0; i < secrets.size() && chosen == null; i++) {
                PGPSecretKey sk = secrets.get(i).getSecretKey(pked.getKeyID());
                if (sk != null && !sk.isPrivateKeyEmpty()) {
                    privateKey = unlock(sk, passes.get(i));
                    chosen = pked;
                    ERR.println("bcpeer: DECRYPT-WITH " + fpr(sk.getPublicKey()));
                }
            }
        }
        if (chosen == null) {
            throw new Failure(4, "no session key packet for any of our keys");
        }
        if (!chosen.isIntegrityProtected()) {
            throw new Failure(4, "not integrity protected (no MDC)");
        }
        BcPublicKeyDataDecryptorFactory df = new BcPublicKeyDataDecryptorFactory(privateKey);
        ERR.println("bcpeer: SYM " + symName(chosen.getSymmetricAlgorithm(df)));
        Content c = new Content();
        try (InputStream clear = chosen.getDataStream(df)) {
            walk(new BcPGPObjectFactory(clear), c);
            clear.readAllBytes();
        }
        if (!chosen.verify()) {
            throw new Failure(4, "integrity check (MDC) failed");
        }
        ERR.println("bcpeer: INTEGRITY OK");
        if (c.compressionLayers == 0) {
            ERR.println("bcpeer: COMPRESSION NONE");
        }
        if (c.literal == null) {
            throw new Failure(4, "no literal data");
        }

        BcPGPContentVerifierBuilderProvider vp = new BcPGPContentVerifierBuilderProvider();
        int good = 0;
        int bad = 0;
        int unknown = 0;
        List<PGPOnePassSignature> unused = new ArrayList<>(c.onePass);
        List<PGPSignature> all = new ArrayList<>(c.leading);
        all.addAll(c.trailing);
        if (!c.leading.isEmpty() && !c.onePass.isEmpty()) {
            throw new Failure(4, "both one-pass and leading signatures");
        }
        for (PGPSignature sig : all) {
            PGPPublicKey key = null;
            PGPPublicKey primary = null;
            for (PGPPublicKeyRingCollection coll : publics) {
                PGPPublicKeyRing ring = coll.getPublicKeyRing(sig.getKeyID());
                if (ring != null) {
                    key = ring.getPublicKey(sig.getKeyID());
                    primary = ring.getPublicKey();
                    break;
                }
            }
            if (key == null) {
                ERR.println("bcpeer: SIG UNKNOWN " + keyId(sig.getKeyID()) + " "
                    + hashName(sig.getHashAlgorithm()));
                unknown++;
                continue;
            }
            boolean ok;
            if (c.leading.isEmpty()) {
                // Pair by issuer key id, not by position: Google's sample writes the signatures
                // in the same order as the one-pass packets, RFC 4880 in reverse.
                PGPOnePassSignature ops = null;
                for (PGPOnePassSignature cand : unused) {
                    if (cand.getKeyID() == sig.getKeyID()) {
                        ops = cand;
                        break;
                    }
                }
                if (ops == null) {
                    ok = false;
                } else {
                    unused.remove(ops);
                    ops.init(vp, key);
                    ops.update(c.literal);
                    ok = ops.verify(sig);
                }
            } else {
                sig.init(vp, key);
                sig.update(c.literal);
                ok = sig.verify();
            }
            boolean canSign = (keyFlags(key, primary) & KeyFlags.SIGN_DATA) != 0;
            ok = ok && canSign && usable(key, sig.getCreationTime()) && usable(primary, new Date());
            ERR.println("bcpeer: SIG " + (ok ? "GOOD " : "BAD ") + fpr(primary) + " " + fpr(key)
                + " " + hashName(sig.getHashAlgorithm()));
            if (ok) {
                good++;
            } else {
                bad++;
            }
        }
        ERR.println("bcpeer: RESULT good=" + good + " bad=" + bad + " unknown=" + unknown);
        if (good == 0 || bad > 0) {
            throw new Failure(3, "no valid signature by a known key, or a bad one");
        }
        System.out.write(c.literal);
        System.out.flush();
    }
}
