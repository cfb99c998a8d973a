package lm.config;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * Writes a small secret (a token) so that readers see the old content or the new, never half:
 * a temporary file in the same directory, with its final mode before any byte is in it, synced,
 * then renamed over the old one. rename(2) replaces a link at the file's name; it never writes
 * where the link points.
 */
public final class AtomicFile {
    private AtomicFile() {}

    /** Called on the temporary file before the content goes in (e.g. to set its group). */
    @FunctionalInterface
    public interface Prepare {
        void apply(Path tmp) throws IOException;
    }

    /** {@code mode} as for chmod in rwx form, e.g. "rw-r-----". */
    public static void write(Path file, String content, String mode, Prepare prepare) throws IOException {
        Path dir = file.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        Path tmp = Files.createTempFile(dir, "." + file.getFileName() + ".", ".tmp",
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString(mode)));
        try {
            prepare.apply(tmp);
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                ch.write(StandardCharsets.UTF_8.encode(content));
                ch.force(true);
            }
            // createTempFile honours the umask only by narrowing; set it exactly (on the file itself:
            // in a directory others can write, the name could have become a link meanwhile)
            Files.getFileAttributeView(tmp, PosixFileAttributeView.class, LinkOption.NOFOLLOW_LINKS)
                    .setPermissions(PosixFilePermissions.fromString(mode));
            try {
                Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
    }
}
