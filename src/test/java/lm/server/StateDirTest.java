package lm.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.zonky.test.db.postgres.embedded.DefaultPostgresBinaryResolver;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 20, cases 2 and 3: lm-server started as `make run` starts it (LM_STATE_DIR, the bin/
 * script, a umask of 022) keeps state_dir to itself, and its embedded PostgreSQL runs binaries
 * from state_dir, never from a shared temporary directory a local user could have filled first.
 */
class StateDirTest {
    private static final Path PROJECT = Path.of(System.getProperty("lm.project.dir", System.getProperty("user.dir"))).toAbsolutePath();
    private static final String CLASSPATH = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
    private static final Set<PosixFilePermission> GROUP_OTHER = PosixFilePermissions.fromString("---rwxrwx");

    @TempDir
    Path dir;

    private Process server;

    @AfterEach
    void stop() throws InterruptedException {
        if (server != null && server.isAlive()) {
            server.destroy();
            if (!server.waitFor(60, TimeUnit.SECONDS)) {
                server.destroyForcibly();
            }
        }
    }

    @Test
    void makeRunKeepsStateDirToItsOwner() throws Exception {
        Path state = dir.resolve("state");
        Path tmp = privateTmp();
        start(state, tmp);
        assertEquals("rwx------", mode(state), "state_dir");
        assertEquals("rw-------", mode(state.resolve("postgresql.log")), "postgresql.log holds data values");
        List<String> shared = new ArrayList<>();
        try (Stream<Path> all = Files.walk(state)) {
            for (Path p : all.toList()) {
                Set<PosixFilePermission> m = Files.getPosixFilePermissions(p, LinkOption.NOFOLLOW_LINKS);
                if (!Files.isSymbolicLink(p) && m.stream().anyMatch(GROUP_OTHER::contains)) {
                    shared.add(state.relativize(p) + " " + PosixFilePermissions.toString(m));
                }
            }
        }
        assertEquals(List.of(), shared, "everything in state_dir is its owner's only (0700/0600)");
    }

    @Test
    void embeddedBinariesComeFromStateDirNotFromASharedTemporaryDirectory() throws Exception {
        // java.io.tmpdir as /tmp is (1777), with embedded-pg as Zonky leaves it (0777, no sticky
        // bit), and in it what a local user prepared: the tree Zonky looks for (PG-<md5 of the
        // bundled archive>, .exists newer than the rest), binaries that leave a mark
        Path tmp = dir.resolve("shared-tmp");
        Files.createDirectories(tmp);
        new ProcessBuilder("chmod", "1777", tmp.toString()).start().waitFor();
        Path shared = Files.createDirectories(tmp.resolve("embedded-pg"));
        Files.setPosixFilePermissions(shared, PosixFilePermissions.fromString("rwxrwxrwx"));
        Path planted = shared.resolve("PG-" + bundledDigest());
        Path mark = dir.resolve("planted-binary-ran");
        Files.createDirectories(planted.resolve("bin"));
        for (String b : List.of("initdb", "pg_ctl", "postgres")) {
            Path f = planted.resolve("bin").resolve(b);
            Files.writeString(f, "#!/bin/sh\necho \"$0 $*\" >> " + mark + "\nexit 1\n");
            Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rwxrwxrwx"));
        }
        Thread.sleep(20);
        Files.writeString(planted.resolve(".exists"), "");
        List<String> before = tree(shared);

        Path state = dir.resolve("state");
        start(state, tmp);
        assertFalse(Files.exists(mark), "lm-server ran a binary from the shared temporary directory");
        // (Zonky's Linux detection writes a script of its own to java.io.tmpdir: a random name,
        // 0600, which the sticky bit keeps others from replacing)
        assertEquals(before, tree(shared), "nothing was added to or taken from the shared embedded-pg");
        Path bin = state.resolve("pgbin");
        assertEquals("rwx------", mode(bin), "the binaries' directory is the owner's only");
        try (Stream<Path> s = Files.walk(bin)) {
            assertTrue(s.anyMatch(p -> p.endsWith(Path.of("bin", "postgres")) && Files.isExecutable(p)),
                    "PostgreSQL's binaries are under state_dir/pgbin");
        }
    }

    /** LM_STATE_DIR=DIR bin/lm-server --print-token, as `make run` does, under a umask of 022. */
    private void start(Path state, Path tmp) throws Exception {
        Path err = dir.resolve("server.err");
        ProcessBuilder pb = new ProcessBuilder("sh", "-c", "umask 022; exec \"$0\" --print-token",
                PROJECT.resolve("bin/lm-server").toString());
        pb.environment().clear();
        pb.environment().put("PATH", System.getenv("PATH"));
        pb.environment().put("LM_STATE_DIR", state.toString());
        pb.environment().put("LM_HTTP_PORT", "0");
        pb.environment().put("LM_CLASSPATH", CLASSPATH);
        pb.environment().put("LM_JAVA_OPTS", "-Xmx256m -XX:+UseSerialGC -Djava.io.tmpdir=" + tmp);
        pb.directory(dir.toFile()).redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(err.toFile());
        server = pb.start();
        for (long waited = 0; ; waited += 100) {
            String log = Files.exists(err) ? Files.readString(err, StandardCharsets.UTF_8) : "";
            if (log.contains("lm-server listening on")) {
                return;
            }
            if (!server.isAlive() || waited > 120_000) {
                throw new AssertionError("lm-server did not start:\n" + log);
            }
            Thread.sleep(100);
        }
    }

    private Path privateTmp() throws IOException {
        return Files.createDirectories(dir.resolve("tmp"));
    }

    private static String mode(Path p) throws IOException {
        return PosixFilePermissions.toString(Files.getPosixFilePermissions(p, LinkOption.NOFOLLOW_LINKS));
    }

    private static List<String> tree(Path root) throws IOException {
        try (Stream<Path> s = Files.walk(root)) {
            return s.map(p -> root.relativize(p).toString()).sorted().toList();
        }
    }

    /** The name Zonky gives the unpacked tree: the MD5 of the bundled archive. */
    private static String bundledDigest() throws Exception {
        MessageDigest md5 = MessageDigest.getInstance("MD5");
        try (InputStream in = new DigestInputStream(DefaultPostgresBinaryResolver.INSTANCE.getPgBinary("Linux", "x86_64"), md5)) {
            in.transferTo(java.io.OutputStream.nullOutputStream());
        }
        return HexFormat.of().formatHex(md5.digest());
    }
}
