package lm.db;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.List;
import lm.config.AtomicFile;

/**
 * Who may reach the embedded PostgreSQL: whoever can read its password. Zonky's initdb trusts
 * every local connection, so any user of the host was the database superuser (and from there,
 * with COPY … TO PROGRAM, the server's own user: its signing key, any token). Instead, initdb
 * asks for scram-sha-256 on every connection with a random password kept in {@code pgpass}
 * beside the data (mode 0600, in libpq's password-file format, so
 * {@code PGPASSFILE=… psql} works for the owner as is), and the unix socket lives in a 0700
 * directory instead of /tmp. The 127.0.0.1 listener stays: Zonky checks readiness over TCP.
 */
public final class EmbeddedAccess {
    static final String USER = "postgres";
    static final String DATABASE = "postgres";
    // sun_path holds 108 bytes; PostgreSQL refuses to start when the socket's path is longer
    private static final int MAX_SOCKET_PATH = 107;

    private final Path passFile;
    private final String password;
    private final Path socketDir;

    private EmbeddedAccess(Path passFile, String password, Path socketDir) {
        this.passFile = passFile;
        this.password = password;
        this.socketDir = socketDir;
    }

    /** The password file of the embedded database whose data is in {@code dataDir}. */
    static Path passFile(Path dataDir) {
        return dataDir.toAbsolutePath().resolveSibling("pgpass");
    }

    /**
     * The access of {@code dataDir}'s database, creating its password when there is none yet (a
     * new database, or one made by a version that trusted local users). Called by the one process
     * that holds state_dir's lock.
     */
    static EmbeddedAccess create(Path dataDir) throws IOException {
        Path file = passFile(dataDir);
        if (!Files.exists(file)) {
            byte[] secret = new byte[32];
            new SecureRandom().nextBytes(secret);
            // base64url: no ':' or '\', which the password-file format would need escaped
            String pw = Base64.getUrlEncoder().withoutPadding().encodeToString(secret);
            AtomicFile.write(file, "# written by lm-server: the embedded PostgreSQL's superuser password"
                    + " (host:port:database:user:password)\n*:*:*:" + USER + ":" + pw + "\n", "rw-------", tmp -> {});
        }
        return read(dataDir);
    }

    /** The access of a database another lm-server runs ({@code lm-server token revoke}). */
    public static EmbeddedAccess read(Path dataDir) throws IOException {
        Path file = passFile(dataDir);
        String pw = null;
        for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
            String[] f = line.split(":", 5);
            if (!line.startsWith("#") && f.length == 5 && f[3].equals(USER)) {
                pw = f[4].strip();
            }
        }
        if (pw == null || pw.isEmpty()) {
            throw new IOException(file + " holds no password for " + USER);
        }
        Path sockets = dataDir.toAbsolutePath().resolveSibling("pgsocket");
        // pg_ctl hands the option to a shell, and sun_path is short: other paths get no socket
        boolean fits = (sockets + "/.s.PGSQL.65535").length() <= MAX_SOCKET_PATH
                && sockets.toString().matches("[A-Za-z0-9/._-]+");
        return new EmbeddedAccess(file, pw, fits ? sockets : null);
    }

    public String password() {
        return password;
    }

    public String user() {
        return USER;
    }

    /** Connections go over TCP to 127.0.0.1 (the socket directory is the owner's, and psql's). */
    public String jdbcUrl(int port) {
        return "jdbc:postgresql://127.0.0.1:" + port + "/" + DATABASE;
    }

    /** {@code unix_socket_directories}: the private directory, or none when its path is too long. */
    String socketDirectories() throws IOException {
        if (socketDir == null) {
            return "";
        }
        Files.createDirectories(socketDir);
        Files.setPosixFilePermissions(socketDir, PosixFilePermissions.fromString("rwx------"));
        return socketDir.toString();
    }

    /** A psql command line that works for the owner of state_dir. */
    public String psql(int port) {
        return "PGPASSFILE=" + passFile + " psql -h " + (socketDir != null ? socketDir : "127.0.0.1") + " -p " + port
                + " -U " + USER + " " + DATABASE;
    }

    /** pg_hba.conf: the password on every connection, for every user and database. */
    static final List<String> HBA = List.of(
            "# written by lm-server: a password (scram-sha-256) on every connection; it is in ../pgpass,",
            "# readable by the owner of state_dir only (see lm-server(8), SECURITY)",
            "local all all scram-sha-256",
            "host all all 127.0.0.1/32 scram-sha-256",
            "host all all ::1/128 scram-sha-256",
            "local replication all scram-sha-256",
            "host replication all 127.0.0.1/32 scram-sha-256",
            "host replication all ::1/128 scram-sha-256");

    /** True when {@code dataDir}'s pg_hba.conf lets anyone in without a password (Zonky's initdb -A trust). */
    static boolean trusts(Path dataDir) throws IOException {
        Path hba = dataDir.resolve("pg_hba.conf");
        return Files.exists(hba) && Files.readAllLines(hba).stream().map(String::strip)
                .filter(l -> !l.startsWith("#") && !l.isEmpty())
                .anyMatch(l -> !l.matches(".*\\sscram-sha-256"));
    }
}
