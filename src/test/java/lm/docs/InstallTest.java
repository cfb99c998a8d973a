package lm.docs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code make install} / {@code make uninstall} into temporary directories: the manifest lists
 * exactly what was installed, the installed commands run, changed configs survive both a
 * reinstall and an uninstall, and the substituted systemd units, sysusers.d and tmpfiles.d
 * files pass systemd's own checks.
 */
final class InstallTest {

    @BeforeAll
    static void jarBuilt() {
        assertTrue(Files.isRegularFile(Project.DIR.resolve("target/lm.jar")),
                "target/lm.jar is missing: run `make build` first (`make test` does)");
    }

    @Test
    void installListsEverythingRunsAndUninstallRemovesItAll(@TempDir Path destdir) throws Exception {
        make("install", "DESTDIR=" + destdir);
        Path manifest = destdir.resolve("usr/local/share/lm/install-manifest");
        assertTrue(Files.isRegularFile(manifest), "no manifest at " + manifest);
        List<String> listed = Files.readAllLines(manifest, StandardCharsets.UTF_8);
        assertEquals(listed.size(), new TreeSet<>(listed).size(), "manifest lists a file twice: " + listed);
        assertEquals(new TreeSet<>(listed), installedFiles(destdir), "manifest vs files under DESTDIR");

        // what must be there
        Set<String> expected = new TreeSet<>(List.of(
                "/usr/local/share/lm/lm.jar", "/usr/local/share/lm/slurm.conf.snippet",
                "/usr/local/share/lm/install-manifest", "/usr/local/bin/lm-java",
                "/usr/local/lib/systemd/system/lm-server.service",
                "/usr/local/lib/sysusers.d/lm.conf", "/usr/local/lib/tmpfiles.d/lm.conf",
                "/usr/local/share/man/man8/lm-epilog.8"));
        for (String script : names(Project.DIR.resolve("bin"))) {
            expected.add("/usr/local/bin/" + script);
        }
        for (String conf : names(Project.DIR.resolve("etc/lm"))) {
            expected.add("/etc/lm/" + conf);
            expected.add("/usr/local/share/lm/etc/" + conf);
        }
        for (String page : names(Project.DIR.resolve("man"))) {
            expected.add("/usr/local/share/man/man" + page.substring(page.lastIndexOf('.') + 1) + "/" + page);
        }
        for (String unit : names(Project.DIR.resolve("systemd"))) {
            if (unit.endsWith(".service") || unit.endsWith(".timer")) {
                expected.add("/usr/local/lib/systemd/system/" + unit);
            }
        }
        assertEquals(expected, new TreeSet<>(listed), "installed files");

        Path bin = destdir.resolve("usr/local/bin");
        assertTrue(Files.isSymbolicLink(bin.resolve("lm-epilog")), "lm-epilog must stay a link to lm-prolog");
        assertEquals("lm-prolog", Files.readSymbolicLink(bin.resolve("lm-epilog")).toString());
        String unit = Files.readString(destdir.resolve("usr/local/lib/systemd/system/lm-server.service"));
        assertTrue(unit.contains("\nExecStart=/usr/local/bin/lm-server --config /etc/lm/lm.conf\n"), unit);
        assertFalse(unit.contains("@"), "unsubstituted @...@ left in lm-server.service");
        assertTrue(Files.readString(destdir.resolve("usr/local/share/lm/slurm.conf.snippet"))
                .contains("\nPrologSlurmctld=/usr/local/bin/lm-prolog\n"));

        // every Java entry point (lm-server, lm-agent, lm-cli) runs from the installed tree
        for (String script : names(Project.DIR.resolve("bin"))) {
            if (List.of("lm-java", "lm-prolog", "lm-epilog").contains(script)) {
                continue;
            }
            Project.Run help = Project.run(Map.of("LM_JAR", ""), List.of(bin.resolve(script).toString(), "--help"));
            assertEquals(0, help.exit(), script + " --help: " + help.all());
            assertTrue(help.out().startsWith("Usage: " + script), script + " --help: " + help.all());
        }
        // the installed man pages, .so link included, are found by man
        Project.Run man = Project.run(Map.of("MANWIDTH", "80", "MAN_DISABLE_SECCOMP", "1"),
                List.of("man", "-M", destdir.resolve("usr/local/share/man").toString(), "8", "lm-epilog"));
        assertEquals(0, man.exit(), man.all());
        assertTrue(man.out().contains("lm-prolog, lm-epilog"), man.out());

        // an admin's change survives a reinstall and the uninstall; the rest goes
        Path prologConf = destdir.resolve("etc/lm/prolog.conf");
        Files.writeString(prologConf, "on_error = fail-open\n");
        Project.Run again = make("install", "DESTDIR=" + destdir);
        assertTrue(again.out().contains("keeping " + prologConf), again.out());
        assertEquals("on_error = fail-open\n", Files.readString(prologConf));
        // changed after this install (so listed in its manifest): kept by uninstall, with a word
        Path lmConf = destdir.resolve("etc/lm/lm.conf");
        Files.writeString(lmConf, "http_port = 8080\n", java.nio.file.StandardOpenOption.APPEND);
        Project.Run un = make("uninstall", "DESTDIR=" + destdir);
        assertTrue(un.out().contains("keeping " + lmConf), un.out());
        assertEquals(Set.of("/etc/lm/prolog.conf", "/etc/lm/lm.conf"), installedFiles(destdir), "left after make uninstall");
        assertEquals("on_error = fail-open\n", Files.readString(prologConf));
        assertFalse(Files.exists(destdir.resolve("usr/local/share/lm")), "share/lm left behind");

        Project.Run nothing = Project.run(Map.of(), List.of("make", "-s", "uninstall", "DESTDIR=" + destdir));
        assertTrue(nothing.exit() != 0 && nothing.err().contains("nothing installed"), nothing.all());
    }

    @Test
    void installedUnitsPassSystemdAnalyzeVerify(@TempDir Path tmp) throws Exception {
        systemdAnalyzeWorks(tmp.resolve("probe"));
        // A real prefix, not DESTDIR: verify checks that ExecStart= binaries exist and that the
        // Documentation= man pages are found (through MANPATH).
        Path prefix = tmp.resolve("usr");
        make("install", "PREFIX=" + prefix, "SYSCONFDIR=" + tmp.resolve("etc"));
        Path units = prefix.resolve("lib/systemd/system");
        List<String> names = names(units);
        assertTrue(names.contains("lm-server.service"), names.toString());
        for (String name : names) {
            Path unit = units.resolve(name);
            String text = Files.readString(unit);
            assertFalse(text.contains("@PREFIX@") || text.contains("@SYSCONFDIR@"), name + " not substituted");
            Project.Run v = Project.run(Map.of("MANPATH", prefix.resolve("share/man").toString(), "SYSTEMD_LOG_COLOR", "0"),
                    List.of("systemd-analyze", "verify", unit.toString()));
            assertEquals("", v.all(), "systemd-analyze verify " + name);
            assertEquals(0, v.exit(), "systemd-analyze verify " + name);
        }
    }

    @Test
    void sysusersCreatesLmAndTmpfilesItsDirectories(@TempDir Path root) throws Exception {
        assumeTrue(Project.onPath("systemd-sysusers") && Project.onPath("systemd-tmpfiles"),
                "systemd-sysusers/systemd-tmpfiles not installed (make doc-deps installs systemd)");
        Files.createDirectories(root.resolve("etc"));
        Path sysusers = Project.DIR.resolve("systemd/lm.sysusers");
        Project.Run u = Project.run("systemd-sysusers", "--root=" + root, sysusers.toString());
        assertEquals(0, u.exit(), u.all());
        String passwd = Files.readString(root.resolve("etc/passwd"));
        assertTrue(passwd.lines().anyMatch(l -> l.matches("lm:x:\\d+:\\d+:License Manager:/var/lib/lm:.*")), passwd);
        Files.createDirectories(root.resolve("etc/lm"));
        Files.writeString(root.resolve("etc/lm/lm.conf"), "");
        Project.Run t = Project.run("systemd-tmpfiles", "--root=" + root, "--create",
                Project.DIR.resolve("systemd/lm.tmpfiles").toString());
        assertEquals("", t.all(), "systemd-tmpfiles warnings");
        assertEquals(0, t.exit());
        Path state = root.resolve("var/lib/lm");
        // state_dir: the signing key, the database, its password and log (issue 20, case 3)
        assertEquals("rwx------", java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(state)));
        int uid = (Integer) Files.getAttribute(state, "unix:uid", LinkOption.NOFOLLOW_LINKS);
        assertTrue(passwd.lines().anyMatch(l -> l.startsWith("lm:x:" + uid + ":")), "owner of /var/lib/lm is uid " + uid + ", not lm: " + passwd);
        assertEquals("rw-r-----", java.nio.file.attribute.PosixFilePermissions.toString(
                Files.getPosixFilePermissions(root.resolve("etc/lm/lm.conf"))));
    }

    /** Skips (with the reason) only if systemd-analyze cannot verify a trivial unit here. */
    private static void systemdAnalyzeWorks(Path dir) throws Exception {
        assumeTrue(Project.onPath("systemd-analyze"), "systemd-analyze not installed (make doc-deps installs systemd)");
        Files.createDirectories(dir);
        Path unit = dir.resolve("lm-probe.service");
        Files.writeString(unit, "[Unit]\nDescription=probe\n[Service]\nType=oneshot\nExecStart=/bin/true\n");
        Project.Run probe = Project.run(Map.of("SYSTEMD_LOG_COLOR", "0"), List.of("systemd-analyze", "verify", unit.toString()));
        assumeTrue(probe.exit() == 0 && probe.all().isEmpty(),
                "systemd-analyze verify does not work in this container: " + probe.all());
    }

    private static Project.Run make(String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("make", "-s"));
        Collections.addAll(cmd, args);
        Project.Run r = Project.run(new HashMap<>(), cmd);
        assertEquals(0, r.exit(), String.join(" ", cmd) + ": " + r.all());
        return r;
    }

    /** Regular files and links under root, as absolute paths of the target system. */
    private static Set<String> installedFiles(Path root) throws IOException {
        Set<String> out = new TreeSet<>();
        try (Stream<Path> s = Files.walk(root)) {
            s.filter(p -> Files.isSymbolicLink(p) || Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS))
                    .forEach(p -> out.add("/" + root.relativize(p)));
        }
        return out;
    }

    private static List<String> names(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString())
                    .filter(n -> !n.startsWith(".") && !n.endsWith(".sysusers") && !n.endsWith(".tmpfiles"))
                    .filter(n -> !dir.endsWith("man") || n.matches(".*\\.[1-8]"))
                    .filter(n -> !dir.endsWith("etc/lm") || n.endsWith(".conf"))
                    .sorted().toList();
        }
    }
}
