package lm.config;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;

/**
 * The one rule lm-agent and lm-cli apply to a token file they are given: a bearer token that
 * every local user can read is everyone's, so it is refused rather than used, with the mode to
 * set. Group read stays allowed: the site's way to share a token with one service user
 * (root:slurm 0640).
 */
public final class SecretFile {
    private SecretFile() {}

    /**
     * Null when {@code file} (which exists) is not readable by others; otherwise why it is
     * refused, saying which mode to set. {@code what} names it as the user gave it, e.g.
     * "token_file /etc/lm/agent.token".
     */
    public static String exposure(Path file, String what) throws IOException {
        Set<PosixFilePermission> mode;
        try {
            mode = Files.getPosixFilePermissions(file);
        } catch (UnsupportedOperationException e) {
            return null; // not a POSIX file system: nothing to check
        }
        if (!mode.contains(PosixFilePermission.OTHERS_READ)) {
            return null;
        }
        return what + " is readable by every user (mode " + PosixFilePermissions.toString(mode) + "), and it holds a"
                + " bearer token: not used. Run 'chmod 600 " + file + "' (or 'chmod 640 " + file + "' with the group of"
                + " the one service that needs it), and renew the token if others may have read it";
    }
}
