package lm.db;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The embedded PostgreSQL admits no one without its password (issue 10, part 3): another local
 * user — here {@code nobody} — reaches neither its port nor its unix socket.
 */
class LockedDatabaseTest {
    @TempDir Path stateDir;

    /**
     * Speaks just enough of PostgreSQL's protocol to see what the server asks of a client that
     * has no secret: "auth 0" is AuthenticationOk (let in), "auth 10" a SASL (scram) challenge,
     * "refused …" a socket it could not even open. Perl is in every Debian (perl-base).
     */
    private static final String PROBE = String.join("\n",
            "use IO::Socket::INET; use IO::Socket::UNIX;",
            "my ($kind, $addr, $port) = @ARGV;",
            "my $s = $kind eq 'tcp' ? IO::Socket::INET->new(PeerAddr => $addr, PeerPort => $port, Timeout => 5)",
            "                       : IO::Socket::UNIX->new(Peer => $addr);",
            "if (!$s) { print \"refused $!\\n\"; exit 0 }",
            "my $body = pack('N', 196608) . \"user\\0postgres\\0database\\0postgres\\0\\0\";",
            "print $s pack('N', length($body) + 4) . $body;",
            "my $hdr; if (read($s, $hdr, 5) < 5) { print \"closed\\n\"; exit 0 }",
            "my ($type, $len) = unpack('a N', $hdr);",
            "read($s, my $rest, $len - 4);",
            "if ($type eq 'R') { print 'auth ', unpack('N', $rest), \"\\n\" } else { print \"error $rest\\n\" }");

    @BeforeEach
    void stateDirAsSitesHaveIt() throws IOException {
        // /var/lib/lm is 0755 on many sites: what keeps others out must be the database's own
        // files, not a private parent directory
        Files.setPosixFilePermissions(stateDir, PosixFilePermissions.fromString("rwxr-xr-x"));
    }

    @Test
    void nobodyIsLetInThroughThePortOrTheSocket() throws Exception {
        Path pg = stateDir.resolve("pg");
        try (Database db = Database.open(null, null, null, 2, pg, Timeouts.DEFAULTS)) {
            assertLockedForNobody(db);
            assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(stateDir.resolve("pgpass"))));
            assertFalse(Files.exists(stateDir.resolve(".initdb-password")), "initdb's password file is removed");
        }
        // and it starts again on its files, with the same password
        try (Database db = Database.open(null, null, null, 2, pg, Timeouts.DEFAULTS)) {
            assertLockedForNobody(db);
        }
    }

    @Test
    void aDatabaseMadeByAVersionThatTrustedEveryoneGetsThePasswordAndKeepsItsData() throws Exception {
        Path pg = stateDir.resolve("pg");
        // what earlier versions made: Zonky's initdb -A trust
        try (EmbeddedPostgres old = lm.db.EmbeddedBinaries.builder(stateDir.resolve("pgbin")).setDataDirectory(pg).setCleanDataDirectory(false)
                .setServerConfig("listen_addresses", "127.0.0.1").start();
                Connection c = old.getPostgresDatabase().getConnection(); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('site data')");
            // the probe sees the hole this test is about: nobody was let in
            assertEquals("auth 0", probeAsNobody("tcp", "127.0.0.1", String.valueOf(old.getPort())));
        }
        assertTrue(EmbeddedAccess.trusts(pg));
        try (Database db = Database.open(null, null, null, 2, pg, Timeouts.DEFAULTS)) {
            assertFalse(EmbeddedAccess.trusts(pg));
            assertLockedForNobody(db);
            try (Connection c = db.dataSource().getConnection(); Statement st = c.createStatement();
                    ResultSet rs = st.executeQuery("SELECT v FROM kept")) {
                assertTrue(rs.next());
                assertEquals("site data", rs.getString(1));
            }
        }
    }

    @Test
    void aLostPasswordFileIsNamedAtOnceInsteadOfRetryingForMinutes() throws Exception {
        Path pg = stateDir.resolve("pg");
        try (Database db = Database.open(null, null, null, 1, pg, Timeouts.DEFAULTS)) {
            // created
        }
        Files.delete(stateDir.resolve("pgpass"));
        IOException e = assertThrows(IOException.class, () -> Database.open(null, null, null, 1, pg, Timeouts.DEFAULTS));
        assertTrue(e.getMessage().contains("pgpass is missing"), e.getMessage());
    }

    /** The owner gets in with the password only; nobody gets in through any listener. */
    private void assertLockedForNobody(Database db) throws Exception {
        int port;
        List<String> socketDirs = new ArrayList<>();
        try (Connection c = db.dataSource().getConnection(); Statement st = c.createStatement()) {
            ResultSet rs = st.executeQuery("SELECT current_setting('port'), current_setting('unix_socket_directories')");
            rs.next();
            port = rs.getInt(1);
            for (String d : rs.getString(2).split(",")) {
                if (!d.isBlank()) {
                    socketDirs.add(d.strip());
                }
            }
        }
        EmbeddedAccess access = EmbeddedAccess.read(stateDir.resolve("pg"));
        assertThrows(SQLException.class, () -> DriverManager.getConnection(access.jdbcUrl(port), "postgres", "").close(),
                "a connection without the password is refused");
        assertEquals(List.of(stateDir.resolve("pgsocket").toString()), socketDirs, "the socket is in state_dir only");
        assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(Path.of(socketDirs.get(0)))));

        String tcp = probeAsNobody("tcp", "127.0.0.1", String.valueOf(port));
        assertTrue(tcp.startsWith("auth ") && !tcp.equals("auth 0"), "TCP asks nobody for a secret: " + tcp);
        assertEquals("auth 10", tcp, "the secret is a scram-sha-256 password");
        for (String d : socketDirs) {
            String unix = probeAsNobody("unix", d + "/.s.PGSQL." + port, "");
            assertTrue(unix.startsWith("refused"), "nobody cannot open the unix socket: " + unix);
        }
    }

    private static String probeAsNobody(String kind, String addr, String port) throws Exception {
        boolean root = "root".equals(System.getProperty("user.name"));
        Assumptions.assumeTrue(root, "switching to user nobody needs root (CI runs as root)");
        Process p = new ProcessBuilder("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                "perl", "-e", PROBE, kind, addr, port)
                .directory(Path.of("/").toFile()).redirectErrorStream(true).start();
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), "probe finished");
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        assertEquals(0, p.exitValue(), out);
        return out;
    }
}
