package lm.server;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;

/**
 * One lm-server per state directory: two would share the embedded PostgreSQL's data directory,
 * and the second would learn it only from a PostgreSQL error deep in its startup. The lock is
 * the kernel's (fcntl, via FileChannel.tryLock), so it goes with the process, kill -9 included;
 * the file keeps the holder's pid for the message.
 */
final class StateLock implements AutoCloseable {
    static final String FILE = "lm-server.lock";

    private final FileChannel channel;
    private final FileLock lock;

    private StateLock(FileChannel channel, FileLock lock) {
        this.channel = channel;
        this.lock = lock;
    }

    /** @throws StartupConflict when another process holds it */
    static StateLock acquire(Path stateDir) throws IOException {
        Files.createDirectories(stateDir);
        // the signing key, the database's password, data and log: the owner's only, whatever the
        // umask (a state_dir from an older `make run` was 0755); see lm-server(8), SECURITY
        Files.setPosixFilePermissions(stateDir, PosixFilePermissions.fromString("rwx------"));
        Path file = stateDir.resolve(FILE);
        FileChannel ch = FileChannel.open(file, Set.of(StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE),
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        FileLock lock;
        try {
            lock = ch.tryLock();
        } catch (OverlappingFileLockException e) {
            lock = null; // this JVM holds it already (a second server in one test JVM)
        }
        if (lock == null) {
            ch.close();
            String holder = Files.readString(file, StandardCharsets.UTF_8).strip();
            throw new StartupConflict("state directory " + stateDir + " (state_dir) is in use by another lm-server"
                    + (holder.isEmpty() ? "" : " (pid " + holder + ")") + ": it holds " + file);
        }
        ch.truncate(0);
        ch.write(ByteBuffer.wrap((ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.UTF_8)), 0);
        return new StateLock(ch, lock);
    }

    @Override
    public void close() {
        try {
            lock.release();
            channel.close();
        } catch (IOException e) {
            // the lock goes with the process anyway
        }
    }
}
