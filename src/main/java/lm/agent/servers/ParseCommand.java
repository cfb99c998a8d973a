package lm.agent.servers;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonPrimitive;
import com.google.gson.JsonSerializer;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * Parses a saved status-tool output offline: the same parser the agent runs, so an operator can
 * check what the agent would report for a capture. Exit 0 with one JSON object on stdout, or 2
 * with one line on stderr.
 */
@Command(name = "parse",
        description = "Parse license-server status output (FILE, or stdin) and print the features as JSON.",
        exitCodeListHeading = "%nExit status:%n",
        exitCodeList = {"0:the output was parsed", "2:bad usage, unreadable file, or unusable server output"})
public final class ParseCommand implements Callable<Integer> {
    static final int OK = 0;
    static final int FAILED = 2;

    @Option(names = "--type", required = true, paramLabel = "TYPE",
            description = "Server type: flexlm, rlm, lsdyna, lmx, olicense or dsls.")
    String type;

    @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help and exit.")
    boolean help;

    @Parameters(arity = "0..1", paramLabel = "FILE", description = "Captured output; stdin when absent.")
    Path file;

    @Spec
    CommandSpec spec;

    // Swapped by tests; the real command reads the process's stdin.
    InputStream stdin = System.in;

    // expires as "2026-12-31", the form the agent reports (java.time is closed to Gson's reflection)
    private static final Gson GSON = new GsonBuilder().disableHtmlEscaping()
            .registerTypeAdapter(LocalDate.class, (JsonSerializer<LocalDate>) (d, t, c) -> new JsonPrimitive(d.toString()))
            .create();

    @Override
    public Integer call() {
        PrintWriter err = spec.commandLine().getErr();
        LicenseServerParser parser;
        try {
            parser = Parsers.forType(type);
        } catch (IllegalArgumentException e) {
            err.println("lm-agent parse: " + e.getMessage());
            err.flush();
            return FAILED;
        }
        String output;
        try {
            output = Parsers.decode(file == null ? stdin.readAllBytes() : Files.readAllBytes(file));
        } catch (NoSuchFileException e) {
            err.println("lm-agent parse: " + file + ": no such file");
            err.flush();
            return FAILED;
        } catch (IOException e) {
            err.println("lm-agent parse: " + (file == null ? "stdin" : file) + ": " + e.getMessage());
            err.flush();
            return FAILED;
        }
        try {
            ServerReport report = parser.parse(output);
            PrintWriter out = spec.commandLine().getOut();
            out.println(GSON.toJson(report));
            out.flush();
            return OK;
        } catch (BadServerOutputException e) {
            err.println("lm-agent parse: " + type + ": " + e.getMessage());
            err.flush();
            return FAILED;
        }
    }

    public static void main(String[] args) {
        System.exit(new CommandLine(new ParseCommand()).execute(args));
    }
}
