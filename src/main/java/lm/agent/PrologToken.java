package lm.agent;

import java.io.IOException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.GroupPrincipal;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.UserPrincipalNotFoundException;
import lm.config.AtomicFile;

/**
 * Hands lm-prolog/lm-epilog, which run once per job and are too small to fetch one themselves,
 * the prolog token the agent got from lm-server (POST /prolog_token) for its cluster.
 */
final class PrologToken {
    private PrologToken() {}

    /**
     * Writes {@code token} to {@code file}: a temporary file in the same directory, mode 0640 and
     * group {@code group} before any byte of the token is in it, then renamed over the old one,
     * so a prolog reading concurrently sees the old token or the new one, never half of one.
     */
    static void write(Path file, String token, String group, Log log) throws IOException {
        AtomicFile.write(file, token + "\n", "rw-r-----", tmp -> setGroup(tmp, file, group, log));
    }

    private static void setGroup(Path tmp, Path file, String group, Log log) {
        try {
            GroupPrincipal g = FileSystems.getDefault().getUserPrincipalLookupService().lookupPrincipalByGroupName(group);
            Files.getFileAttributeView(tmp, PosixFileAttributeView.class).setGroup(g);
        } catch (UserPrincipalNotFoundException e) {
            log.line("prolog_token_file " + file + ": group '" + group + "' does not exist; leaving the file's group"
                    + " as is (set prolog_token_group to the group slurmctld's prolog runs as)");
        } catch (IOException | SecurityException e) {
            log.line("prolog_token_file " + file + ": cannot set group '" + group + "': " + e.getMessage());
        }
    }
}
