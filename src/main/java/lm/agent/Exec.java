package lm.agent;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Runs one external command (a license status tool, scontrol, squeue) with a hard time limit.
 *
 * <p>Output goes to temporary files rather than pipes: a tool that forks a helper which keeps the
 * pipe open (lmutil does on some platforms) would otherwise block the read after the tool itself
 * has exited or been killed.
 */
final class Exec {
    // Enough for an lmstat -a of a large site (a few MB); more is a runaway tool, not data.
    private static final int MAX_OUTPUT = 32 * 1024 * 1024;

    private Exec() {}

    /** What a finished command left behind. {@code exitCode} is -1 when it timed out. */
    record Result(int exitCode, byte[] stdout, String stderr, boolean timedOut) {
        String out() {
            return new String(stdout, StandardCharsets.UTF_8);
        }

        /** The first line of stderr (or stdout), for one log line. */
        String firstLine() {
            String text = stderr.isBlank() ? out() : stderr;
            String line = text.strip().lines().findFirst().orElse("");
            line = line.replaceAll("\\p{Cntrl}", " ");
            return line.length() <= 200 ? line : line.substring(0, 200) + "...";
        }
    }

    /**
     * Runs {@code argv} with {@code stdin} (may be null) and extra environment {@code env}.
     *
     * @throws IOException when the command can't be started (not found, not executable)
     */
    static Result run(List<String> argv, String stdin, Map<String, String> env, Duration timeout) throws IOException {
        Path out = Files.createTempFile("lm-agent-out", ".txt");
        Path err = Files.createTempFile("lm-agent-err", ".txt");
        try {
            ProcessBuilder pb = new ProcessBuilder(argv)
                    .redirectOutput(out.toFile())
                    .redirectError(err.toFile())
                    .redirectInput(stdin == null ? ProcessBuilder.Redirect.from(devNull()) : ProcessBuilder.Redirect.PIPE);
            pb.environment().putAll(env);
            Process p = pb.start();
            if (stdin != null) {
                try (OutputStream in = p.getOutputStream()) {
                    in.write(stdin.getBytes(StandardCharsets.UTF_8));
                } catch (IOException e) {
                    // the tool exited without reading its script; its output says why
                }
            }
            boolean finished;
            try {
                finished = p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                killTree(p);
                Thread.currentThread().interrupt();
                throw new IOException("interrupted");
            }
            if (!finished) {
                killTree(p);
                return new Result(-1, read(out), new String(read(err), StandardCharsets.UTF_8), true);
            }
            // A helper forked by the tool may outlive it; it has nothing more to tell us.
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            return new Result(p.exitValue(), read(out), new String(read(err), StandardCharsets.UTF_8), false);
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }

    // Descendants first, while they are still ours to find: once the parent dies they are
    // re-parented to init and descendants() no longer sees them (a shell wrapper's sleep would
    // then keep running).
    private static void killTree(Process p) {
        p.descendants().forEach(ProcessHandle::destroyForcibly);
        p.destroyForcibly();
        try {
            p.waitFor(2, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static java.io.File devNull() {
        return new java.io.File("/dev/null");
    }

    private static byte[] read(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            return in.readNBytes(MAX_OUTPUT);
        }
    }
}
