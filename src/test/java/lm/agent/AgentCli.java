package lm.agent;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Map;

/** lm-agent's command line in-process, for tests outside this package (the end-to-end tests). */
public final class AgentCli {
    private AgentCli() {}

    public record Result(int exit, String out, String err) {}

    /** Runs {@code lm-agent ARGS} with an empty environment; returns its status and output. */
    public static Result run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status;
        try (PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8);
                PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8)) {
            status = Main.commandLine(Map.of(), o, e).execute(args);
        }
        return new Result(status, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }
}
