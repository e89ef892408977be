/*
 * PgpainlessKeyMaker: makes an RSA key with PGPainless (1.3, Debian's libpgpainless-core-java)
 * for tests/interop/test_pgp_made_keys.py. Our own code, written for these tests.
 *
 *   PgpainlessKeyMaker UID BITS SECRET_OUT.asc PUBLIC_OUT.asc [PASSPHRASE_FILE]
 *
 * The key is PGPainless's own RSA template (KeyRingTemplates.simpleRsaKeyRing): one RSA key
 * that certifies, signs and encrypts, no subkey, protected with the passphrase read from
 * PASSPHRASE_FILE when one is given. `pgpainless-cli generate-key` makes only Curve25519 keys,
 * hence this program for RSA.
 */

import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import org.bouncycastle.openpgp.PGPKeyRing;
import org.bouncycastle.openpgp.PGPSecretKeyRing;
import org.pgpainless.PGPainless;
import org.pgpainless.key.generation.type.rsa.RsaLength;
import org.pgpainless.util.Passphrase;

public final class PgpainlessKeyMaker {
    private PgpainlessKeyMaker() {
    }

    public static void main(String[] args) throws Exception {
        RsaLength length = RsaLength.valueOf("_" + args[1]);
        Passphrase pass = args.length > 4
            ? Passphrase.fromPassword(Files.readString(Path.of(args[4]), StandardCharsets.UTF_8))
            : Passphrase.emptyPassphrase();
        PGPSecretKeyRing secret = PGPainless.generateKeyRing().simpleRsaKeyRing(args[0], length, pass);
        write(args[2], secret);
        write(args[3], PGPainless.extractCertificate(secret));
    }

    private static void write(String path, PGPKeyRing ring) throws IOException {
        try (OutputStream out = new FileOutputStream(path)) {
            PGPainless.asciiArmor(ring, out);
        }
    }
}
