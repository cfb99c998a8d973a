package lm.cli;

import com.google.gson.JsonElement;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Runs the real bin/lm-cli (through bin/lm-java) as a user would, in an environment of its own:
 * HOME is a temporary directory, no LM_* variable leaks in from the build, and LM_CLASSPATH points
 * lm-java at the classes Maven compiled.
 */
final class Cli {
    static final Path PROJECT = Path.of(System.getProperty("lm.project.dir", System.getProperty("user.dir"))).toAbsolutePath();
    static final Path SCRIPT = PROJECT.resolve("bin/lm-cli");
    // surefire runs the tests from a manifest-only jar; this property has the real class path
    private static final String CLASSPATH = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));

    record Result(int exit, String out, String err) {
        JsonElement json() {
            return JsonParser.parseString(out);
        }

        @Override
        public String toString() {
            return "exit " + exit + "\n--- stdout\n" + out + "--- stderr\n" + err;
        }
    }

    final Path home;
    private final Map<String, String> env = new LinkedHashMap<>();

    Cli(Path home) {
        this.home = home;
        env.put("PATH", System.getenv("PATH"));
        if (System.getenv("JAVA_HOME") != null) {
            env.put("JAVA_HOME", System.getenv("JAVA_HOME"));
        }
        env.put("HOME", home.toString());
        env.put("LM_CLASSPATH", CLASSPATH);
    }

    /** Sets (or with null removes) a variable of the runs that follow. */
    Cli env(String name, String value) {
        if (value == null) {
            env.remove(name);
        } else {
            env.put(name, value);
        }
        return this;
    }

    /**
     * Starts lm-cli without waiting, its stdout and stderr going to {@code out} (for commands that
     * wait on something the test does meanwhile, e.g. login waiting for approval).
     */
    Process start(Path out, String... args) throws IOException {
        return builder(args).redirectErrorStream(true).redirectOutput(out.toFile()).start();
    }

    /** bin/lm-cli ARGS in this environment only, from HOME, with no standard input. */
    private ProcessBuilder builder(String... args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(SCRIPT.toString());
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().clear();
        pb.environment().putAll(env);
        pb.directory(home.toFile());
        return pb.redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()));
    }

    Result run(String... args) throws IOException, InterruptedException {
        ProcessBuilder pb = builder(args);
        Path out = Files.createTempFile(home, "out", ".txt");
        Path err = Files.createTempFile(home, "err", ".txt");
        pb.redirectOutput(out.toFile());
        pb.redirectError(err.toFile());
        Process p = pb.start();
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("lm-cli " + String.join(" ", args) + " did not finish within 120 s");
        }
        Result r = new Result(p.exitValue(), Files.readString(out), Files.readString(err));
        Files.delete(out);
        Files.delete(err);
        return r;
    }
}
