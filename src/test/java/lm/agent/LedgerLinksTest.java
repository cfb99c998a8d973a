package lm.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.GroupPrincipal;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.nio.file.attribute.UserPrincipalLookupService;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Issue 20, case 1: offline_dir is writable by SlurmUser (the prolog appends to the ledger), so
 * whatever SlurmUser puts there must not make lm-agent read or write another file. The agent
 * runs as a process under the user systemd/lm-agent.service names (and, in the second half of
 * each test, as root: an admin's `lm-agent reconcile` by hand), against a ledger directory full
 * of links to root-only files.
 */
class LedgerLinksTest {
    private static final Path UNIT = Path.of("systemd/lm-agent.service");
    private static final String SLURM_USER = "slurm";
    private static final String SECRET = "ROOT-ONLY-SECRET";

    private AgentHarness h;
    private Path offline;
    private Path rootOnly;

    @BeforeEach
    void setUp() throws IOException {
        Assumptions.assumeTrue("root".equals(System.getProperty("user.name")), "switching users needs root (CI runs as root)");
        h = new AgentHarness("links");
        // the harness's directory is the test's; the agent under another user must reach its tools
        Files.setPosixFilePermissions(h.dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        h.configuration("abaqus", null, List.<String[]>of(new String[] {"abaqus", "abaqus"}), "lic1:27000");
        h.slurmLicenses("abaqus.abaqus@flexlm", 10, 0);
        h.flexlm("lic1:27000", new AgentHarness.Use("abaqus", 10, 0));
        // as lm.conf(5) says to install it: root:slurm 0640
        Files.setPosixFilePermissions(h.tokenFile, PosixFilePermissions.fromString("rw-r-----"));
        chown(h.tokenFile, "root", SLURM_USER);
        // what the agent's StateDirectory= gives it: its own, under the unit's user
        Path lib = Files.createDirectories(h.dir.resolve("lib"));
        Path budget = Files.createDirectories(h.dir.resolve("budget"));
        // offline_dir as the agent creates it: 0770, group slurm
        offline = Files.createDirectories(h.dir.resolve("offline"));
        Files.setPosixFilePermissions(offline, PosixFilePermissions.fromString("rwxrwx---"));
        chown(offline, "root", SLURM_USER);
        Files.setPosixFilePermissions(h.slurm, PosixFilePermissions.fromString("rwxrwxrwx"));
        h.conf.put("prolog_token_group", SLURM_USER);
        // root's own files, which SlurmUser can neither read nor write
        rootOnly = Files.createTempDirectory("lm-root-only");
        Files.setPosixFilePermissions(rootOnly, PosixFilePermissions.fromString("rwx------"));
        for (Path p : List.of(lib, budget)) {
            chown(p, unitUser(), unitUser());
        }
    }

    @AfterEach
    void tearDown() throws IOException {
        if (h != null) {
            h.close();
        }
        if (rootOnly != null) {
            try (Stream<Path> s = Files.walk(rootOnly)) {
                s.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    @Test
    void aLedgerLinkedToARootFileIsNotRead() throws Exception {
        Path secret = rootOnly.resolve("shadow");
        Files.writeString(secret, "{\"op\":\"book\",\"id\":\"" + SECRET + "-1\"}\n" + SECRET + "-2 not json\n");
        Files.setPosixFilePermissions(secret, PosixFilePermissions.fromString("rw-------"));
        for (String user : users()) {
            asSlurmUser("ln", "-sfn", secret.toString(), offline.resolve("ledger").toString());
            String err = runAgent(user);
            assertFalse(err.contains(SECRET), "as " + user + ": the agent logged a root-only file's lines:\n" + err);
            for (Path f : listOffline()) {
                if (Files.isRegularFile(f, LinkOption.NOFOLLOW_LINKS)) {
                    assertFalse(Files.readString(f).contains(SECRET), "as " + user + ": " + f + " holds a root-only file's lines");
                }
            }
            assertEquals("{\"op\":\"book\",\"id\":\"" + SECRET + "-1\"}\n" + SECRET + "-2 not json\n", Files.readString(secret),
                    "as " + user + ": the root-only file was changed");
            if (user.equals("root")) {
                // SlurmUser's own agent cannot read root's file anyway; root's says why it did not
                assertTrue(err.contains(offline.resolve("ledger") + " is a symbolic link"), "as root: the refusal is logged:\n" + err);
            }
        }
    }

    @Test
    void aRejectedEntryIsNotWrittenThroughALink() throws Exception {
        Path target = rootOnly.resolve("authorized_keys");
        Files.writeString(target, "ORIGINAL\n");
        Files.setPosixFilePermissions(target, PosixFilePermissions.fromString("rw-------"));
        for (String user : users()) {
            Files.deleteIfExists(offline.resolve("ledger"));
            asSlurmUser("sh", "-c", "printf 'ssh-ed25519 AAAA attacker\\n' >> \"$1\"", "sh", offline.resolve("ledger").toString());
            asSlurmUser("ln", "-sfn", target.toString(), offline.resolve("ledger.rejected").toString());
            String err = runAgent(user);
            assertEquals("ORIGINAL\n", Files.readString(target), "as " + user + ": a line of SlurmUser's choosing reached a root file");
            // the entry is set aside, in a file of the agent's own that only it (and root) reads
            Path rejected = offline.resolve("ledger.rejected");
            assertTrue(Files.isRegularFile(rejected, LinkOption.NOFOLLOW_LINKS), "as " + user + ": ledger.rejected:\n" + err);
            assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(rejected, LinkOption.NOFOLLOW_LINKS)));
            assertEquals(user, Files.getOwner(rejected, LinkOption.NOFOLLOW_LINKS).getName());
            assertTrue(Files.readString(rejected).contains("ssh-ed25519 AAAA attacker"), "as " + user + ": " + Files.readString(rejected));
            assertFalse(Files.exists(offline.resolve("ledger"), LinkOption.NOFOLLOW_LINKS), "the rejected line left the ledger");
            Files.delete(rejected);
            try (Stream<Path> s = Files.list(offline)) {
                for (Path p : s.toList()) {
                    if (p.getFileName().toString().startsWith("ledger.rejected")) {
                        Files.delete(p);
                    }
                }
            }
        }
    }

    @Test
    void aTokenFileOfRootAloneSaysHowToLetTheAgentReadIt() throws Exception {
        // an install from before the unit ran the agent as SlurmUser: root's 0600 token
        String user = unitUser();
        Assumptions.assumeFalse(user.equals("root"), "the unit runs the agent as root");
        Files.setPosixFilePermissions(h.tokenFile, PosixFilePermissions.fromString("rw-------"));
        chown(h.tokenFile, "root", "root");
        String err = runAgent(user);
        assertTrue(err.contains("chown root:" + user + " " + h.tokenFile + "; chmod 640 " + h.tokenFile), err);
        assertTrue(err.contains("nothing applied"), err);
    }

    /** The unit's user first (what production runs), then root (an admin running a pass by hand). */
    private static List<String> users() throws IOException {
        List<String> users = new ArrayList<>(List.of(unitUser()));
        if (!users.contains("root")) {
            users.add("root");
        }
        return users;
    }

    /** User= of systemd/lm-agent.service. */
    static String unitUser() throws IOException {
        Matcher m = Pattern.compile("(?m)^User=(\\S+)$").matcher(Files.readString(UNIT));
        return m.find() ? m.group(1) : "root";
    }

    private List<Path> listOffline() throws IOException {
        try (Stream<Path> s = Files.list(offline)) {
            return s.toList();
        }
    }

    private void asSlurmUser(String... argv) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("runuser", "-u", SLURM_USER, "--"));
        cmd.addAll(List.of(argv));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), String.join(" ", argv) + ": " + out);
    }

    /** One pass of the real agent (its Java main, as bin/lm-agent runs it) under {@code user}; its log. */
    private String runAgent(String user) throws Exception {
        StringBuilder text = new StringBuilder();
        h.conf.forEach((k, v) -> text.append(k).append(" = ").append(v).append('\n'));
        Path conf = h.dir.resolve("agent.conf");
        Files.writeString(conf, text.toString());
        Files.setPosixFilePermissions(conf, PosixFilePermissions.fromString("rw-r--r--"));
        List<String> cmd = new ArrayList<>(List.of("runuser", "-u", user, "--",
                Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp", classPath(),
                "lm.agent.Main", "reconcile", "--config", conf.toString()));
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(new File("/"));
        pb.environment().keySet().removeIf(k -> k.startsWith("LM_"));
        Path log = Files.createTempFile("lm-agent-pass", ".log");
        Process p = pb.redirectErrorStream(true).redirectOutput(log.toFile()).start();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "the pass finished");
        String err = Files.readString(log);
        Files.delete(log);
        System.err.print(err);
        return err;
    }

    private static String cp;

    /**
     * This JVM's class path, readable by another user: jars from root's Maven repository (0700)
     * hard-linked (or copied) into a world-readable directory; build output directories as they are.
     */
    private static synchronized String classPath() throws IOException {
        if (cp != null) {
            return cp;
        }
        Path jars = Files.createTempDirectory("lm-agent-cp");
        Files.setPosixFilePermissions(jars, PosixFilePermissions.fromString("rwxr-xr-x"));
        List<String> entries = new ArrayList<>();
        int i = 0;
        for (String e : System.getProperty("java.class.path").split(File.pathSeparator)) {
            Path p = Path.of(e).toAbsolutePath();
            if (Files.isDirectory(p)) {
                entries.add(p.toString());
            } else if (Files.isRegularFile(p)) {
                Path copy = jars.resolve((i++) + "-" + p.getFileName());
                try {
                    Files.createLink(copy, p);
                } catch (IOException | UnsupportedOperationException x) {
                    Files.copy(p, copy);
                }
                entries.add(copy.toString());
            }
        }
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try (Stream<Path> s = Files.list(jars)) {
                s.forEach(f -> f.toFile().delete());
            } catch (IOException e) {
                // a temporary directory: the next boot clears it
            }
            jars.toFile().delete();
        }));
        cp = String.join(File.pathSeparator, entries);
        return cp;
    }

    private static void chown(Path p, String user, String group) throws IOException {
        UserPrincipalLookupService l = p.getFileSystem().getUserPrincipalLookupService();
        UserPrincipal u = l.lookupPrincipalByName(user);
        GroupPrincipal g = l.lookupPrincipalByGroupName(group);
        PosixFileAttributeView v = Files.getFileAttributeView(p, PosixFileAttributeView.class, LinkOption.NOFOLLOW_LINKS);
        v.setOwner(u);
        v.setGroup(g);
    }
}
