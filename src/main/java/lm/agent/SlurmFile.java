package lm.agent;

import java.io.IOException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.GroupPrincipal;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipalNotFoundException;
import lm.config.AtomicFile;

/**
 * The files the agent hands lm-prolog/lm-epilog, which run once per job as SlurmUser and are
 * too small to ask lm-server for these themselves: the prolog token (POST /prolog_token), the
 * offline budget (GET /budget) and the rewritten offline ledger. All are in the group the
 * prolog runs as (prolog_token_group).
 */
final class SlurmFile {
    private SlurmFile() {}

    /**
     * Writes {@code content} to {@code file}: a temporary file in the same directory, mode
     * {@code mode} (e.g. "rw-r-----") and group {@code group} before any byte is in it, then
     * renamed over the old one, so a prolog reading concurrently sees the old content or the
     * new, never half of it. {@code key}: the setting that names the file, for the log.
     */
    static void write(Path file, String content, String mode, String group, Log log, String key) throws IOException {
        AtomicFile.write(file, content, mode, tmp -> setGroup(tmp, file, group, log, key));
    }

    /** The prolog token: mode 0640, readable by the prolog's group only. */
    static void writeToken(Path file, String token, String group, Log log) throws IOException {
        write(file, token + "\n", "rw-r-----", group, log, "prolog_token_file");
    }

    /**
     * Creates {@code dir} if missing, mode 0770 in {@code group}: the prolog (SlurmUser) must
     * create and append to files in it. An existing directory is left as the admin made it.
     */
    static void directory(Path dir, String group, Log log, String key) throws IOException {
        if (Files.isDirectory(dir)) {
            return;
        }
        Files.createDirectories(dir);
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxrwx---"));
        setGroup(dir, dir, group, log, key);
    }

    private static void setGroup(Path path, Path file, String group, Log log, String key) {
        try {
            GroupPrincipal g = FileSystems.getDefault().getUserPrincipalLookupService().lookupPrincipalByGroupName(group);
            Files.getFileAttributeView(path, PosixFileAttributeView.class).setGroup(g);
        } catch (UserPrincipalNotFoundException e) {
            log.line(key + " " + file + ": group '" + group + "' does not exist; leaving the group"
                    + " as is (set prolog_token_group to the group slurmctld's prolog runs as)");
        } catch (IOException | SecurityException e) {
            log.line(key + " " + file + ": cannot set group '" + group + "': " + e.getMessage());
        }
    }
}
