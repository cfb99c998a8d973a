package lm.docs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.PrintStream;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * Keeps the hand-written man pages in step with the code: options of every picocli command both
 * ways, the keys (and defaults) of every config file both ways, lm-prolog's exit codes, and a
 * warning-free rendering of every page.
 */
final class ManPagesTest {
    private static final Path MAN = Project.DIR.resolve("man");

    /** Command pages: man page, the main class, and the bin/ script that runs it. */
    private static final Map<String, String> COMMANDS = new LinkedHashMap<>();

    static {
        COMMANDS.put("lm-server.8", "lm.server.Main");
        COMMANDS.put("lm-agent.8", "lm.agent.Main");
        COMMANDS.put("lm-cli.1", "lm.cli.Main");
    }

    /** Config files in etc/lm, and where the code lists the keys it accepts. */
    private static final Map<String, String> KEY_SOURCES = Map.of(
            "lm.conf", "lm.config.ServerSettings",
            "agent.conf", "lm.agent.AgentSettings",
            "cli.conf", "lm.cli.CliSettings",
            "prolog.conf", "bin/lm-prolog");

    // ------------------------------------------------------------------ options --

    @Test
    void everyCommandHasAPageAndEveryScriptToo() throws IOException {
        try (Stream<Path> bin = Files.list(Project.DIR.resolve("bin"))) {
            for (Path script : bin.toList()) {
                String name = script.getFileName().toString();
                if (name.equals("lm-java") || name.equals("lm-epilog")) {
                    continue; // internal launcher; lm-epilog is documented in lm-prolog(8)
                }
                assertTrue(Files.exists(MAN.resolve(name + ".8")) || Files.exists(MAN.resolve(name + ".1")),
                        "bin/" + name + " has no man page in man/");
            }
        }
        COMMANDS.forEach((page, main) -> {
            String script = page.substring(0, page.lastIndexOf('.'));
            boolean present = Files.exists(Project.DIR.resolve("bin").resolve(script));
            if (present) {
                assertTrue(Files.exists(MAN.resolve(page)), "man/" + page + " missing for bin/" + script);
                loadClass(main);
            }
        });
    }

    @Test
    void optionsOfEveryCommandAreDocumentedAndNothingElse() throws Exception {
        int checked = 0;
        for (Map.Entry<String, String> e : COMMANDS.entrySet()) {
            Path page = MAN.resolve(e.getKey());
            if (!Files.exists(page)) {
                continue; // component not merged yet: everyCommandHasAPage... guards the pairing
            }
            CommandLine root = commandLine(loadClass(e.getValue()));
            Map<String, Set<String>> inCode = new TreeMap<>();
            collectOptions(root, "", inCode);
            Map<String, Set<String>> inPage = optionsInPage(page);
            for (Map.Entry<String, Set<String>> c : inCode.entrySet()) {
                String where = c.getKey().isEmpty() ? "OPTIONS" : "OPTIONS, subsection \"Options of " + c.getKey() + "\"";
                Set<String> documented = inPage.getOrDefault(c.getKey(), Set.of());
                for (String option : c.getValue()) {
                    assertTrue(documented.contains(option), e.getKey() + ": " + option + " of '"
                            + (c.getKey().isEmpty() ? root.getCommandName() : c.getKey()) + "' is not under " + where);
                }
            }
            for (Map.Entry<String, Set<String>> m : inPage.entrySet()) {
                Set<String> real = inCode.get(m.getKey());
                assertTrue(real != null, e.getKey() + ": \"Options of " + m.getKey() + "\" but there is no such command");
                for (String option : m.getValue()) {
                    assertTrue(real.contains(option), e.getKey() + ": documents " + option + " for '"
                            + (m.getKey().isEmpty() ? root.getCommandName() : m.getKey()) + "', which the code does not have");
                }
            }
            checked++;
        }
        assertTrue(checked >= 1, "no command page checked");
    }

    /** Visible option names per command path ("" for the root, "token", "a b" for nested). */
    private static void collectOptions(CommandLine cl, String path, Map<String, Set<String>> out) {
        CommandSpec spec = cl.getCommandSpec();
        Set<String> names = new TreeSet<>();
        for (OptionSpec o : spec.options()) {
            if (!o.hidden()) {
                names.addAll(List.of(o.names()));
            }
        }
        out.put(path, names);
        for (Map.Entry<String, CommandLine> sub : cl.getSubcommands().entrySet()) {
            if (sub.getValue().getCommandSpec().usageMessage().hidden() || !sub.getKey().equals(sub.getValue().getCommandName())) {
                continue; // aliases are listed under the primary name
            }
            collectOptions(sub.getValue(), path.isEmpty() ? sub.getKey() : path + " " + sub.getKey(), out);
        }
    }

    private static final Pattern OPTION = Pattern.compile("(?<![\\w-])(--?[A-Za-z][A-Za-z0-9-]*)");
    private static final Pattern OPTIONS_OF = Pattern.compile("^\\.SS \"?Options of ([^\"]+?)\"?$");

    /** Options in the tags (.TP/.TQ lines) of OPTIONS, per "Options of X" subsection. */
    static Map<String, Set<String>> optionsInPage(Path page) throws IOException {
        List<String> lines = section(read(page), "OPTIONS");
        assertFalse(lines.isEmpty(), page + " has no OPTIONS section");
        Map<String, Set<String>> out = new TreeMap<>();
        String command = "";
        boolean tag = false;
        for (String line : lines) {
            Matcher ss = OPTIONS_OF.matcher(line);
            if (ss.matches()) {
                command = ss.group(1).strip();
                out.computeIfAbsent(command, k -> new TreeSet<>());
                continue;
            }
            if (line.startsWith(".SS")) {
                fail(page + ": OPTIONS subsections must be named \"Options of <command>\": " + line);
            }
            if (line.equals(".TP") || line.equals(".TQ")) {
                tag = true;
                continue;
            }
            if (tag) {
                Matcher m = OPTION.matcher(plain(line));
                while (m.find()) {
                    out.computeIfAbsent(command, k -> new TreeSet<>()).add(m.group(1));
                }
                tag = false;
            }
        }
        return out;
    }

    // --------------------------------------------------------------------- keys --

    @Test
    void everyConfigKeyIsDocumentedWithItsDefaultAndNothingElse() throws Exception {
        String page = read(MAN.resolve("lm.conf.5"));
        Set<String> files = new TreeSet<>();
        try (Stream<Path> s = Files.list(Project.DIR.resolve("etc/lm"))) {
            s.filter(p -> p.toString().endsWith(".conf")).forEach(p -> files.add(p.getFileName().toString()));
        }
        Set<String> sectionsInPage = new TreeSet<>();
        for (String h : headings(page)) {
            if (h.endsWith(".CONF")) {
                sectionsInPage.add(h.toLowerCase());
            }
        }
        assertEquals(files, sectionsInPage, "lm.conf(5) needs one .SH section per etc/lm/*.conf file, named after it");
        for (String file : files) {
            String source = KEY_SOURCES.get(file);
            assertTrue(source != null, "etc/lm/" + file + ": tell ManPagesTest.KEY_SOURCES where the code lists its keys");
            Map<String, String> inEtc = keysInEtc(Project.DIR.resolve("etc/lm").resolve(file));
            Map<String, String> inPage = keysInPage(section(page, file.toUpperCase()));
            Set<String> inCode = source.startsWith("bin/") ? keysInScript(Project.DIR.resolve(source)) : keysInClass(source);
            assertEquals(new TreeSet<>(inCode), new TreeSet<>(inEtc.keySet()),
                    "etc/lm/" + file + " must show every key " + source + " accepts (commented out at its default), and no other");
            assertEquals(new TreeSet<>(inCode), new TreeSet<>(inPage.keySet()),
                    "lm.conf(5), section " + file.toUpperCase() + ", must document every key " + source + " accepts, and no other");
            for (Map.Entry<String, String> k : inEtc.entrySet()) {
                assertEquals(k.getValue(), inPage.get(k.getKey()),
                        "default of " + k.getKey() + ": etc/lm/" + file + " and lm.conf(5) differ");
            }
        }
    }

    private static final Pattern ETC_KEY = Pattern.compile("^#?([a-z][a-z0-9_]*)\\s*=\\s*(.*?)\\s*$");

    /** {@code #key = default} lines (and set keys) of a shipped config file. */
    static Map<String, String> keysInEtc(Path file) throws IOException {
        Map<String, String> keys = new TreeMap<>();
        for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
            Matcher m = ETC_KEY.matcher(line);
            if (m.matches()) {
                String v = m.group(2);
                if (v.length() >= 2 && v.startsWith("\"") && v.endsWith("\"")) {
                    v = v.substring(1, v.length() - 1);
                }
                assertTrue(keys.put(m.group(1), v) == null, file + ": key " + m.group(1) + " shown twice");
            }
        }
        return keys;
    }

    private static final Pattern PAGE_KEY = Pattern.compile("^\\.B \"?([a-z][a-z0-9_]*) =(?: (.*?))?\"?$");

    /** {@code .B key = default} tags of one file's section. */
    static Map<String, String> keysInPage(List<String> lines) {
        Map<String, String> keys = new TreeMap<>();
        boolean tag = false;
        for (String line : lines) {
            if (line.equals(".TP") || line.equals(".TQ")) {
                tag = true;
                continue;
            }
            if (tag) {
                Matcher m = PAGE_KEY.matcher(line);
                if (m.matches()) {
                    keys.put(m.group(1), m.group(2) == null ? "" : plain(m.group(2)).strip());
                }
                tag = false;
            }
        }
        return keys;
    }

    /** The keys of bin/lm-prolog's config parser: its {@code case $key in} branches. */
    static Set<String> keysInScript(Path script) throws IOException {
        Set<String> keys = new TreeSet<>();
        Matcher m = Pattern.compile("(?m)^\\s+([a-z][a-z0-9_]*)\\) \\1=\\$value ;;$").matcher(read(script));
        while (m.find()) {
            keys.add(m.group(1));
        }
        assertFalse(keys.isEmpty(), script + ": no 'key) key=$value ;;' lines found");
        return keys;
    }

    /** The static {@code Set<String> KEYS} of a settings class (package-private is fine). */
    @SuppressWarnings("unchecked")
    static Set<String> keysInClass(String className) throws ReflectiveOperationException {
        Field f = loadClass(className).getDeclaredField("KEYS");
        f.setAccessible(true);
        return (Set<String>) f.get(null);
    }

    // ---------------------------------------------------------- prolog exit codes --

    @Test
    void prologExitCodesMatchTheScript() throws IOException {
        Map<Integer, Set<String>> script = new TreeMap<>();
        boolean in = false;
        Integer code = null;
        for (String line : read(Project.DIR.resolve("bin/lm-prolog")).split("\n")) {
            if (line.startsWith("# EXIT STATUS of lm-prolog")) {
                in = true;
                continue;
            }
            if (!in) {
                continue;
            }
            if (!line.startsWith("#") || line.startsWith("# lm-epilog")) {
                break;
            }
            Matcher m = Pattern.compile("^#\\s+(\\d+)?\\s+outcome=([a-z-]+)").matcher(line);
            if (m.find()) {
                if (m.group(1) != null) {
                    code = Integer.valueOf(m.group(1));
                }
                script.computeIfAbsent(code, k -> new TreeSet<>()).add(m.group(2));
            }
        }
        assertTrue(script.size() >= 3, "no exit codes found in bin/lm-prolog's header: " + script);

        Map<Integer, Set<String>> page = new TreeMap<>();
        List<String> lines = section(read(MAN.resolve("lm-prolog.8")), "EXIT STATUS");
        code = null;
        boolean tag = false;
        for (String line : lines) {
            if (line.equals(".TP")) {
                tag = true;
                code = null;
                continue;
            }
            if (line.startsWith(".PP") || line.startsWith(".SS")) {
                code = null;
                continue;
            }
            if (tag) {
                Matcher m = Pattern.compile("^\\.B (\\d+)$").matcher(line);
                assertTrue(m.matches(), "lm-prolog(8) EXIT STATUS: expected '.B <code>' after .TP, got " + line);
                code = Integer.valueOf(m.group(1));
                page.put(code, new TreeSet<>());
                tag = false;
                continue;
            }
            if (code != null) {
                Matcher m = Pattern.compile("outcome=([a-z]+(?:-[a-z]+)*)").matcher(plain(line));
                while (m.find()) {
                    page.get(code).add(m.group(1));
                }
            }
        }
        assertEquals(script, page, "exit codes and their outcome= values: bin/lm-prolog header vs lm-prolog(8)");
    }

    // ------------------------------------------------------------------ README --

    @Test
    void readmeReportingSectionNamesTheRealViews() throws IOException {
        Set<String> views = new TreeSet<>();
        try (Stream<Path> sql = Files.list(Project.DIR.resolve("src/main/sql"))) {
            for (Path f : sql.toList()) {
                Matcher m = Pattern.compile("(?i)CREATE (?:OR REPLACE )?VIEW (lm\\.[a-z_]+)").matcher(read(f));
                while (m.find()) {
                    views.add(m.group(1));
                }
            }
        }
        Set<String> reporting = new TreeSet<>();
        // the usage history's views (R__usage.sql) are reporting views too
        for (String file : new String[] {"R__reporting_views.sql", "R__usage.sql"}) {
            Matcher r = Pattern.compile("CREATE VIEW (lm\\.[a-z_]+)").matcher(read(Project.DIR.resolve("src/main/sql/" + file)));
            while (r.find()) {
                reporting.add(r.group(1));
            }
        }
        String readme = read(Project.DIR.resolve("README.md"));
        int start = readme.indexOf("\n## Reporting with psql");
        assertTrue(start >= 0, "README.md has no section \"Reporting with psql\"");
        int end = readme.indexOf("\n## ", start + 1);
        String section = readme.substring(start, end < 0 ? readme.length() : end);
        for (String v : reporting) {
            assertTrue(section.contains("`" + v + "`"), "README \"Reporting with psql\" does not present " + v);
        }
        Matcher used = Pattern.compile("FROM (lm\\.[a-z_]+)").matcher(section);
        while (used.find()) {
            assertTrue(views.contains(used.group(1)), "README queries " + used.group(1) + ", which is not a view in src/main/sql");
        }
    }

    // ---------------------------------------------------------------- rendering --

    @Test
    void everyPageRendersWithoutWarnings() throws Exception {
        assertTrue(Project.onPath("groff") && Project.onPath("man"),
                "groff and man are needed (make test installs them: make doc-deps)");
        List<Path> pages = pages();
        assertTrue(pages.size() >= 3, "man pages: " + pages);
        for (Path page : pages) {
            Project.Run groff = Project.run(Map.of("LC_ALL", "C.UTF-8"), List.of("groff", "-man", "-Tutf8", "-ww", "-z", page.toString()));
            assertEquals("", groff.all(), "groff -man -ww warnings for " + page.getFileName());
            assertEquals(0, groff.exit(), "groff failed for " + page.getFileName());
            Project.Run man = Project.run(Map.of("LC_ALL", "C.UTF-8", "MANWIDTH", "80", "MAN_DISABLE_SECCOMP", "1"),
                    List.of("man", "--warnings", "-l", page.toString()));
            assertEquals("", man.err(), "man -l warnings for " + page.getFileName());
            assertEquals(0, man.exit(), "man -l failed for " + page.getFileName());
            assertTrue(man.out().contains("NAME") && man.out().contains("SEE ALSO"), page + " rendered: " + man.out());
            for (String required : List.of("NAME", "SYNOPSIS", "DESCRIPTION", "FILES", "SEE ALSO")) {
                assertTrue(headings(read(page)).contains(required), page.getFileName() + " lacks section " + required);
            }
            if (!page.getFileName().toString().endsWith(".5")) {
                for (String required : List.of("OPTIONS", "EXIT STATUS")) {
                    assertTrue(headings(read(page)).contains(required), page.getFileName() + " lacks section " + required);
                }
            }
        }
    }

    // ------------------------------------------------------------------ helpers --

    static List<Path> pages() throws IOException {
        try (Stream<Path> s = Files.list(MAN)) {
            return s.filter(p -> p.getFileName().toString().matches(".*\\.[1-8]")).sorted().toList();
        }
    }

    static String read(Path p) throws IOException {
        return Files.readString(p, StandardCharsets.UTF_8);
    }

    /** .SH headings, unquoted. */
    static List<String> headings(String page) {
        List<String> out = new ArrayList<>();
        for (String line : page.split("\n")) {
            if (line.startsWith(".SH ")) {
                out.add(line.substring(4).replace("\"", "").strip());
            }
        }
        return out;
    }

    /** The lines of section {@code name} (.SH to the next .SH). */
    static List<String> section(String page, String name) {
        List<String> out = new ArrayList<>();
        boolean in = false;
        for (String line : page.split("\n")) {
            if (line.startsWith(".SH ")) {
                in = line.substring(4).replace("\"", "").strip().equals(name);
                continue;
            }
            if (in) {
                out.add(line);
            }
        }
        return out;
    }

    /** Text without troff escapes, enough for option names and keys. */
    static String plain(String troff) {
        return troff.replaceAll("\\\\f[BIRP]", "").replace("\\-", "-").replace("\\e", "\\")
                .replace("\\&", "").replace("\"", "");
    }

    static Class<?> loadClass(String name) {
        try {
            return Class.forName(name);
        } catch (ClassNotFoundException e) {
            throw new AssertionError(name + " not found", e);
        }
    }

    /**
     * The real command tree: the main class's static factory returning a CommandLine (arguments
     * filled by type: environment, stdout/stderr), else {@code new CommandLine(new Main())}.
     */
    static CommandLine commandLine(Class<?> main) throws ReflectiveOperationException {
        for (Method m : main.getDeclaredMethods()) {
            if (Modifier.isStatic(m.getModifiers()) && m.getReturnType() == CommandLine.class) {
                Object[] args = new Object[m.getParameterCount()];
                Class<?>[] types = m.getParameterTypes();
                for (int i = 0; i < args.length; i++) {
                    if (types[i] == Map.class) {
                        args[i] = Map.of();
                    } else if (types[i] == PrintStream.class) {
                        args[i] = System.out;
                    } else {
                        args[i] = null;
                    }
                }
                m.setAccessible(true);
                return (CommandLine) m.invoke(null, args);
            }
        }
        var ctor = main.getDeclaredConstructor();
        ctor.setAccessible(true);
        return new CommandLine(ctor.newInstance());
    }
}
