/*
 * BcKeyMaker: makes an OpenPGP key the way a BouncyCastle (1.72, Debian's libbcpg-java) program
 * does, for tests/interop/test_pgp_made_keys.py. Our own code, written for these tests.
 *
 *   BcKeyMaker --uid UID --bits N --protect none|sha1|sum [--passphrase-file FILE]
 *              --secret OUT.asc --public OUT.asc
 *
 * The key: an RSA primary [C,S] and an RSA subkey [E], self-signed with SHA-256, preferences
 * AES-256/AES-128, SHA-512/SHA-256, ZLIB/ZIP/none. --protect: "none" leaves the secret
 * material in the clear (S2K usage 0); "sha1" protects it with AES-256 under an iterated and
 * salted SHA-256 S2K and a SHA-1 checksum (S2K usage 254, what BouncyCastle programs write
 * with a checksum calculator); "sum" does the same with the two-octet checksum (S2K usage 255,
 * what they write without one). The passphrase comes from a file, never the command line.
 */

import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.Date;
import java.util.HashMap;
import java.util.Map;

import org.bouncycastle.bcpg.ArmoredOutputStream;
import org.bouncycastle.bcpg.CompressionAlgorithmTags;
import org.bouncycastle.bcpg.HashAlgorithmTags;
import org.bouncycastle.bcpg.PublicKeyAlgorithmTags;
import org.bouncycastle.bcpg.SymmetricKeyAlgorithmTags;
import org.bouncycastle.bcpg.sig.Features;
import org.bouncycastle.bcpg.sig.KeyFlags;
import org.bouncycastle.crypto.generators.RSAKeyPairGenerator;
import org.bouncycastle.crypto.params.RSAKeyGenerationParameters;
import org.bouncycastle.openpgp.PGPException;
import org.bouncycastle.openpgp.PGPKeyPair;
import org.bouncycastle.openpgp.PGPKeyRingGenerator;
import org.bouncycastle.openpgp.PGPSignature;
import org.bouncycastle.openpgp.PGPSignatureSubpacketGenerator;
import org.bouncycastle.openpgp.operator.PBESecretKeyEncryptor;
import org.bouncycastle.openpgp.operator.PGPDigestCalculator;
import org.bouncycastle.openpgp.operator.bc.BcPBESecretKeyEncryptorBuilder;
import org.bouncycastle.openpgp.operator.bc.BcPGPContentSignerBuilder;
import org.bouncycastle.openpgp.operator.bc.BcPGPDigestCalculatorProvider;
import org.bouncycastle.openpgp.operator.bc.BcPGPKeyPair;

public final class BcKeyMaker {
    private BcKeyMaker() {
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> opt = new HashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) {
            opt.put(args[i], args[i + 1]);
        }
        int bits = Integer.parseInt(opt.get("--bits"));
        String protect = opt.get("--protect");
        char[] pass = opt.containsKey("--passphrase-file")
            ? Files.readString(Path.of(opt.get("--passphrase-file")), StandardCharsets.UTF_8)
                .toCharArray()
            : null;
        if (!protect.equals("none") && pass == null) {
            throw new IllegalArgumentException("--protect " + protect + " needs a passphrase");
        }
        Date now = new Date();
        PGPKeyPair primary = rsa(bits, now);
        PGPKeyPair sub = rsa(bits, now);

        PGPSignatureSubpacketGenerator hashed = new PGPSignatureSubpacketGenerator();
        hashed.setKeyFlags(true, KeyFlags.CERTIFY_OTHER | KeyFlags.SIGN_DATA);
        hashed.setPreferredSymmetricAlgorithms(false, new int[] {
            SymmetricKeyAlgorithmTags.AES_256, SymmetricKeyAlgorithmTags.AES_128});
        hashed.setPreferredHashAlgorithms(false, new int[] {
            HashAlgorithmTags.SHA512, HashAlgorithmTags.SHA256});
        hashed.setPreferredCompressionAlgorithms(false, new int[] {
            CompressionAlgorithmTags.ZLIB, CompressionAlgorithmTags.ZIP,
            CompressionAlgorithmTags.UNCOMPRESSED});
        hashed.setFeature(false, Features.FEATURE_MODIFICATION_DETECTION);
        PGPSignatureSubpacketGenerator subHashed = new PGPSignatureSubpacketGenerator();
        subHashed.setKeyFlags(true, KeyFlags.ENCRYPT_COMMS | KeyFlags.ENCRYPT_STORAGE);

        BcPGPDigestCalculatorProvider digests = new BcPGPDigestCalculatorProvider();
        // The checksum calculator decides the S2K usage octet: SHA-1 -> 254, none -> 255.
        PGPDigestCalculator checksum = protect.equals("sum")
            ? null : digests.get(HashAlgorithmTags.SHA1);
        PBESecretKeyEncryptor encryptor = protect.equals("none") ? null
            : new BcPBESecretKeyEncryptorBuilder(
                SymmetricKeyAlgorithmTags.AES_256, digests.get(HashAlgorithmTags.SHA256), 0x60)
                .build(pass);
        PGPKeyRingGenerator gen = new PGPKeyRingGenerator(
            PGPSignature.POSITIVE_CERTIFICATION, primary, opt.get("--uid"), checksum,
            hashed.generate(), null,
            new BcPGPContentSignerBuilder(
                PublicKeyAlgorithmTags.RSA_GENERAL, HashAlgorithmTags.SHA256),
            encryptor);
        gen.addSubKey(sub, subHashed.generate(), null);

        write(opt.get("--secret"), out -> gen.generateSecretKeyRing().encode(out));
        write(opt.get("--public"), out -> gen.generatePublicKeyRing().encode(out));
    }

    private static PGPKeyPair rsa(int bits, Date now) throws PGPException {
        RSAKeyPairGenerator kpg = new RSAKeyPairGenerator();
        kpg.init(new RSAKeyGenerationParameters(
            BigInteger.valueOf(0x10001), new SecureRandom(), bits, 80));
        return new BcPGPKeyPair(PublicKeyAlgorithmTags.RSA_GENERAL, kpg.generateKeyPair(), now);
    }

    private interface Body {
        void writeTo(OutputStream out) throws IOException;
    }

    private static void write(String path, Body body) throws IOException {
        try (OutputStream file = new FileOutputStream(path);
             ArmoredOutputStream armored = new ArmoredOutputStream(file)) {
            body.writeTo(armored);
        }
    }
}
