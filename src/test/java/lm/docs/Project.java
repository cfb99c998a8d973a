package lm.docs;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** The source tree under test and a way to run commands in it. */
final class Project {
    static final Path DIR = Path.of(System.getProperty("lm.project.dir", System.getProperty("user.dir")))
            .toAbsolutePath();

    private Project() {}

    record Run(int exit, String out, String err) {
        String all() {
            return out + err;
        }
    }

    /** Runs {@code cmd} in the project directory; {@code env} entries with a null value are removed. */
    static Run run(Map<String, String> env, List<String> cmd) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(new ArrayList<>(cmd)).directory(DIR.toFile());
        // A make that runs these tests must not hand its jobserver to ours.
        pb.environment().remove("MAKEFLAGS");
        pb.environment().remove("MFLAGS");
        pb.environment().remove("MAKELEVEL");
        env.forEach((k, v) -> {
            if (v == null) {
                pb.environment().remove(k);
            } else {
                pb.environment().put(k, v);
            }
        });
        Path out = java.nio.file.Files.createTempFile("lm-docs", ".out");
        Path err = java.nio.file.Files.createTempFile("lm-docs", ".err");
        try {
            pb.redirectOutput(out.toFile()).redirectError(err.toFile()).redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()));
            Process p = pb.start();
            if (!p.waitFor(300, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new AssertionError("timed out: " + cmd);
            }
            return new Run(p.exitValue(), java.nio.file.Files.readString(out, StandardCharsets.UTF_8),
                    java.nio.file.Files.readString(err, StandardCharsets.UTF_8));
        } finally {
            java.nio.file.Files.deleteIfExists(out);
            java.nio.file.Files.deleteIfExists(err);
        }
    }

    static Run run(String... cmd) throws IOException, InterruptedException {
        return run(Map.of(), List.of(cmd));
    }

    static boolean onPath(String tool) {
        for (String d : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(":")) {
            if (java.nio.file.Files.isExecutable(Path.of(d, tool))) {
                return true;
            }
        }
        return false;
    }
}
