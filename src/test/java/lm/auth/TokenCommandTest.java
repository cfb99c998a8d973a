package lm.auth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import org.jose4j.jws.JsonWebSignature;
import org.jose4j.jwt.JwtClaims;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class TokenCommandTest {

    @TempDir Path dir;
    private final StringWriter out = new StringWriter();
    private final StringWriter err = new StringWriter();
    private final AtomicInteger settingsAsked = new AtomicInteger();

    private AuthSettings settings() {
        return new AuthSettings(dir.resolve("keys.json"), null, null, null);
    }

    private int run(String... args) {
        CommandLine cmd = new CommandLine(new TokenCommand(() -> {
            settingsAsked.incrementAndGet();
            return settings();
        }));
        cmd.setOut(new PrintWriter(out, true));
        cmd.setErr(new PrintWriter(err, true));
        return cmd.execute(args);
    }

    private static JwtClaims claimsOf(String token) throws Exception {
        return JwtClaims.parse(
                ((JsonWebSignature) JsonWebSignature.fromCompactSerialization(token)).getUnverifiedPayload());
    }

    @Test
    void rolesGrantTheirPermissionsOnly() throws Exception {
        assertEquals(0, run("--client-id", "cluster-a", "--role", "prolog"), err.toString());
        Authenticator auth = new Authenticator(settings());
        Principal p = auth.authenticate("Bearer " + out.toString().strip());
        assertEquals(Set.of("license-manager:job:create", "license-manager:job:read", "license-manager:job:delete"), p.permissions());
        assertFalse(p.can("feature", "update"));
        assertFalse(p.can("config", "delete"));

        out.getBuffer().setLength(0);
        assertEquals(0, run("--client-id", "cluster-a", "--role", "agent", "--role", "reader"), err.toString());
        p = auth.authenticate("Bearer " + out.toString().strip());
        assertTrue(p.can("feature", "update") && p.can("prolog-token", "create") && p.can("booking", "read"));
        assertFalse(p.can("job", "create"), "the agent role does not book jobs");
        assertFalse(p.can("config", "create"));
        assertFalse(p.permissions().contains("license-manager:admin"));

        // unknown role, or nothing granted at all: usage error, no token
        out.getBuffer().setLength(0);
        assertEquals(2, run("--client-id", "c", "--role", "root"));
        assertTrue(err.toString().contains("unknown role"), err.toString());
        assertEquals(2, run("--client-id", "c"));
        assertEquals("", out.toString());
    }

    @Test
    void printsATokenTheServerAccepts() throws Exception {
        int rc = run("--client-id", "cluster-a", "--permission", "license-manager:job:create",
                "--permission", "license-manager:status:update", "--ttl", "15m");
        assertEquals(0, rc, err.toString());
        String printed = out.toString();
        assertTrue(printed.endsWith("\n"), "token must end with a newline");
        String token = printed.strip();
        assertFalse(token.contains("\n"), "exactly one line on stdout");

        Principal p = new Authenticator(settings()).require("Bearer " + token, "status", "update");
        assertEquals("cluster-a", p.clientId());
        assertEquals(Set.of("license-manager:job:create", "license-manager:status:update"), p.permissions());
        JwtClaims c = claimsOf(token);
        assertEquals(15 * 60, c.getExpirationTime().getValue() - c.getIssuedAt().getValue());
        assertTrue(Files.exists(dir.resolve("keys.json")), "the keys file is created when missing");
    }

    @Test
    void defaultTtlIsOneHour() throws Exception {
        assertEquals(0, run("--client-id", "c", "--permission", "license-manager:admin"), err.toString());
        JwtClaims c = claimsOf(out.toString().strip());
        assertEquals(3600, c.getExpirationTime().getValue() - c.getIssuedAt().getValue());
    }

    @Test
    void badTtlFailsWithAClearMessage() {
        for (String ttl : new String[] {"0", "0s", "-5m", "abc", "10x", "", "1.5h", "1h30m", "99999999999999999d", "3651d"}) {
            out.getBuffer().setLength(0);
            err.getBuffer().setLength(0);
            int rc = run("--client-id", "c", "--permission", "license-manager:admin", "--ttl", ttl);
            assertNotEquals(0, rc, "--ttl " + ttl);
            assertTrue(err.toString().contains("--ttl"), "--ttl " + ttl + ": " + err);
            assertEquals("", out.toString(), "no token for --ttl " + ttl);
        }
        assertEquals(0, settingsAsked.get(), "rejected before touching the keys file");
    }

    @Test
    void permissionIsRequiredAndMustBeKnown() {
        assertNotEquals(0, run("--client-id", "c"));
        assertTrue(err.toString().contains("--permission"), err.toString());
        err.getBuffer().setLength(0);
        assertNotEquals(0, run("--client-id", "c", "--permission", "license-manager:jobs:read"));
        assertTrue(err.toString().contains("unknown permission 'license-manager:jobs:read'"), err.toString());
        assertNotEquals(0, run("--permission", "license-manager:admin"));
        assertEquals("", out.toString());
        assertFalse(Files.exists(dir.resolve("keys.json")));
    }

    @Test
    void helpDoesNotLoadSettings() {
        assertEquals(0, run("--help"));
        assertTrue(out.toString().contains("--client-id"));
        assertEquals(0, settingsAsked.get());
    }

    @Test
    void outputWritesATokenOnlyItsOwnerReadsAndReplacesALinkWithoutFollowingIt() throws Exception {
        // a link at FILE to a file of another: `> FILE` would have written there (issue 20, case 3)
        Path victim = Files.writeString(dir.resolve("victim"), "untouched\n");
        Path file = dir.resolve("agent.token");
        Files.createSymbolicLink(file, victim);
        assertEquals(0, run("--client-id", "cluster-a", "--role", "agent", "--output", file.toString()), err.toString());
        assertEquals("", out.toString(), "the token goes to the file only");
        assertEquals("untouched\n", Files.readString(victim));
        assertFalse(Files.isSymbolicLink(file));
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(file)));
        Principal p = new Authenticator(settings()).authenticate("Bearer " + Files.readString(file).strip());
        assertTrue(p.can("feature", "update"), "the agent's token");
        try (var s = Files.list(dir)) {
            assertEquals(Set.of("victim", "agent.token", "keys.json"),
                    s.map(f -> f.getFileName().toString()).collect(java.util.stream.Collectors.toSet()), "no temporary file left");
        }
    }

    @Test
    void outputWithGroupIs0640InThatGroup() throws Exception {
        String group = Files.readAttributes(dir, PosixFileAttributes.class).group().getName();
        Path file = dir.resolve("agent.token");
        assertEquals(0, run("--client-id", "cluster-a", "--role", "agent", "--output", file.toString(), "--group", group), err.toString());
        assertEquals("rw-r-----", PosixFilePermissions.toString(Files.getPosixFilePermissions(file)));
        assertEquals(group, Files.readAttributes(file, PosixFileAttributes.class).group().getName());

        assertEquals(2, run("--client-id", "c", "--role", "agent", "--output", file.toString(), "--group", "no-such-group-lm"));
        assertTrue(err.toString().contains("--group no-such-group-lm: no such group"), err.toString());
        assertEquals(2, run("--client-id", "c", "--role", "agent", "--group", group));
        assertTrue(err.toString().contains("--group goes with --output FILE"), err.toString());
    }
}
