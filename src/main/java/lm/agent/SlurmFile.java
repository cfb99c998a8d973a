package lm.agent;

import java.io.IOException;
import java.nio.channels.Channels;
import java.nio.channels.SeekableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.GroupPrincipal;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.nio.file.attribute.UserPrincipalNotFoundException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import lm.config.AtomicFile;

/**
 * The files the agent hands lm-prolog/lm-epilog, which run once per job as SlurmUser and are
 * too small to ask lm-server for these themselves: the prolog token (POST /prolog_token), the
 * offline budget (GET /budget) and the rewritten offline ledger. All are in the group the
 * prolog runs as (prolog_token_group).
 *
 * <p>offline_dir is writable by SlurmUser, so a name in it may be a link SlurmUser made to any
 * file, while the agent may run as root (a pass by hand, or a site that kept User=root). Files
 * there are therefore opened without following a link (O_NOFOLLOW) and used only when they are
 * a regular file with one name (a hard link to root's file is a second name): checked before the
 * open and again after it, on the same inode. The owner of a file read is not checked: the
 * ledger is SlurmUser's by design (the prolog creates it), and a file SlurmUser cannot read can
 * only be placed there by root.
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

    /**
     * The lines of {@code file} in offline_dir, or null when there is none. Refuses (IOException)
     * a link, anything but a regular file, and a file with another name elsewhere.
     */
    static List<String> readLines(Path file) throws IOException {
        PosixFileAttributes before;
        try {
            before = attributes(file);
        } catch (NoSuchFileException e) {
            return null;
        }
        requireSingleFile(file, before);
        try (SeekableByteChannel ch = Files.newByteChannel(file, Set.of(StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS))) {
            requireSame(file, before);
            // as Files.readAllLines splits them
            return new String(Channels.newInputStream(ch).readAllBytes(), StandardCharsets.UTF_8).lines().toList();
        }
    }

    /**
     * Appends {@code lines} to {@code file} in offline_dir, a file of the agent's own user, mode
     * 0600. Never by writing into the existing file: its lines and the new ones go to a new file
     * renamed over it (so no write lands in a file SlurmUser swapped in, even between a check and
     * an open). A name there that is not such a file (a link, a file of SlurmUser's, a second
     * name of another file) is renamed aside first, and logged: rename(2) moves the name, never
     * what it points to, and the admin keeps what was there.
     */
    static void appendPrivate(Path file, List<String> lines, Log log, String key) throws IOException {
        if (lines.isEmpty()) {
            return;
        }
        UserPrincipal self = file.getFileSystem().getUserPrincipalLookupService()
                .lookupPrincipalByName(System.getProperty("user.name"));
        List<String> kept = new ArrayList<>();
        try {
            PosixFileAttributes a = attributes(file);
            if (a.isRegularFile() && nlink(file) == 1 && a.owner().equals(self)) {
                kept.addAll(readLines(file));
            } else {
                Path aside = file.resolveSibling(file.getFileName() + ".unsafe-" + Instant.now().getEpochSecond());
                Files.move(file, aside);
                log.line(key + " " + file + " was " + describe(a) + " (not a file of " + self.getName()
                        + " with one name); renamed to " + aside + ", not written through");
            }
        } catch (NoSuchFileException e) {
            // a new file
        }
        kept.addAll(lines);
        AtomicFile.write(file, String.join("\n", kept) + "\n", "rw-------", tmp -> { });
    }

    private static PosixFileAttributes attributes(Path file) throws IOException {
        return Files.readAttributes(file, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
    }

    private static int nlink(Path file) throws IOException {
        return (Integer) Files.getAttribute(file, "unix:nlink", LinkOption.NOFOLLOW_LINKS);
    }

    private static void requireSingleFile(Path file, PosixFileAttributes a) throws IOException {
        if (!a.isRegularFile()) {
            throw new IOException(file + " is " + describe(a) + ", not a regular file: not used (offline_dir is"
                    + " writable by SlurmUser; remove it)");
        }
        if (nlink(file) != 1) {
            throw new IOException(file + " has " + nlink(file) + " names (hard links): not used (offline_dir is"
                    + " writable by SlurmUser; remove it)");
        }
    }

    /** The name still is the inode checked before the open (else it was swapped in between). */
    private static void requireSame(Path file, PosixFileAttributes before) throws IOException {
        PosixFileAttributes now = attributes(file);
        if (!now.isRegularFile() || !before.fileKey().equals(now.fileKey()) || nlink(file) != 1) {
            throw new IOException(file + " was replaced while it was opened: not used");
        }
    }

    private static String describe(PosixFileAttributes a) {
        return a.isSymbolicLink() ? "a symbolic link" : a.isDirectory() ? "a directory" : a.isRegularFile() ? "a file"
                : "a special file";
    }

    private static void setGroup(Path path, Path file, String group, Log log, String key) {
        try {
            GroupPrincipal g = FileSystems.getDefault().getUserPrincipalLookupService().lookupPrincipalByGroupName(group);
            Files.getFileAttributeView(path, PosixFileAttributeView.class, LinkOption.NOFOLLOW_LINKS).setGroup(g);
        } catch (UserPrincipalNotFoundException e) {
            log.line(key + " " + file + ": group '" + group + "' does not exist; leaving the group"
                    + " as is (set prolog_token_group to the group slurmctld's prolog runs as)");
        } catch (IOException | SecurityException e) {
            log.line(key + " " + file + ": cannot set group '" + group + "': " + e.getMessage());
        }
    }
}
