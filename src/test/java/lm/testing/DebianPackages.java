package lm.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Installs a tool a test needs from Debian's archive when it is missing (make test on a fresh
 * machine must set up everything itself): apt-get install, and apt-get update first only when
 * the lists are too old to have the package.
 */
public final class DebianPackages {
    private DebianPackages() {}

    /** The path of {@code command}, installing {@code pkg} when no such command is on the PATH. */
    public static synchronized Path ensure(String command, String pkg) {
        Path found = which(command);
        if (found != null) {
            return found;
        }
        if (run("apt-get", "install", "-y", "--no-install-recommends", pkg) != 0) {
            run("apt-get", "update");
            run("apt-get", "install", "-y", "--no-install-recommends", pkg);
        }
        found = which(command);
        if (found == null) {
            throw new IllegalStateException("could not install " + pkg + " for " + command + " (apt-get needs root and the network)");
        }
        return found;
    }

    private static Path which(String command) {
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(":")) {
            Path p = Path.of(dir, command);
            if (Files.isExecutable(p)) {
                return p;
            }
        }
        Path usrBin = Path.of("/usr/bin", command);
        return Files.isExecutable(usrBin) ? usrBin : null;
    }

    private static int run(String... cmd) {
        try {
            ProcessBuilder pb = new ProcessBuilder(List.of(cmd)).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                    .redirectError(ProcessBuilder.Redirect.INHERIT);
            pb.environment().put("DEBIAN_FRONTEND", "noninteractive");
            Process p = pb.start();
            if (!p.waitFor(15, TimeUnit.MINUTES)) {
                p.destroyForcibly();
                return -1;
            }
            return p.exitValue();
        } catch (IOException e) {
            return -1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        }
    }
}
