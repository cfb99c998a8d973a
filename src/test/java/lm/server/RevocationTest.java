package lm.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import lm.auth.UnverifiedClaims;
import lm.testing.TestApi;
import lm.testing.TestDatabase;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** lm-server token revoke: a token, or a client's tokens so far, refused before they expire. */
class RevocationTest {
    @RegisterExtension
    static final TestApi api = new TestApi();
    static String url;
    @TempDir static Path dir;

    @BeforeAll
    static void start() {
        url = api.ds.getJdbcUrl();
    }

    /** `lm-server --config … token revoke ARGS` against the test database; returns the exit code. */
    static int revoke(String... args) throws Exception {
        Path conf = dir.resolve("lm.conf");
        Files.writeString(conf, "state_dir = " + dir + "\ndatabase_url = " + url + "\ndatabase_user = " + TestDatabase.user()
                + "\ndatabase_password = " + TestDatabase.password() + "\n");
        CommandLine cl = Main.commandLine();
        cl.setOut(new PrintWriter(new StringWriter()));
        cl.setErr(new PrintWriter(new StringWriter()));
        List<String> all = new java.util.ArrayList<>(List.of("--config", conf.toString(), "token", "revoke"));
        all.addAll(List.of(args));
        return cl.execute(all.toArray(new String[0]));
    }

    /** Polls until the token gets {@code status}: revocations are reread every 5 s. */
    static int statusWithin(String token, int status) throws InterruptedException {
        long until = System.currentTimeMillis() + 15_000;
        int got;
        while ((got = api.http.get("/jobs", token).status()) != status && System.currentTimeMillis() < until) {
            Thread.sleep(200);
        }
        return got;
    }

    @Test
    void revokedTokensAreRefusedOthersNot() throws Exception {
        String one = api.auth.mint("cluster-r", List.of("license-manager:job:read"), Duration.ofHours(1));
        String other = api.auth.mint("cluster-r", List.of("license-manager:job:read"), Duration.ofHours(1));
        String elsewhere = api.auth.mint("cluster-s", List.of("license-manager:job:read"), Duration.ofHours(1));
        assertEquals(200, api.http.get("/jobs", one).status()); // now in the token cache too

        assertEquals(0, revoke(UnverifiedClaims.of(one).get("jti").getAsString()));
        assertEquals(401, statusWithin(one, 401), "a revoked token, even one cached, is refused");
        assertTrue(api.http.get("/jobs", one).body().contains("revoked"));
        assertEquals(200, api.http.get("/jobs", other).status(), "only that token");

        assertEquals(0, revoke("--client-id", "cluster-r"));
        assertEquals(401, statusWithin(other, 401), "every token of the client issued so far");
        assertEquals(200, api.http.get("/jobs", elsewhere).status(), "other clients keep working");
        Thread.sleep(1_100); // iat has whole seconds: a token of the next second is newer
        String fresh = api.auth.mint("cluster-r", List.of("license-manager:job:read"), Duration.ofHours(1));
        assertEquals(200, api.http.get("/jobs", fresh).status(), "tokens minted after the revocation work");
    }

    @Test
    void revokeNeedsExactlyOneTarget() throws Exception {
        assertEquals(2, revoke());
        assertEquals(2, revoke("some-jti", "--client-id", "c"));
        assertEquals(2, revoke("--client-id", " "));
    }
}
