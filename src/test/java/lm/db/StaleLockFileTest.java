package lm.db;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A postmaster.pid left by a killed PostgreSQL must not keep the embedded database down. */
class StaleLockFileTest {
    @TempDir Path dir;

    @Test
    void aLockFileNamingALiveProcessThatIsNoPostgresOfThisDirectoryIsRemoved() throws Exception {
        // the PID is reused by something else: here, this very JVM
        Path pid = dir.resolve("postmaster.pid");
        Files.writeString(pid, ProcessHandle.current().pid() + "\n" + dir + "\n1700000000\n5432\n");
        Database.removeStaleLockFile(dir);
        assertFalse(Files.exists(pid));
    }

    @Test
    void aLockFileOfARunningPostgresOfThisDirectoryStays() throws Exception {
        // a process whose command line names postgres and this directory stands for the postmaster
        Path postgres = dir.resolve("postgres");
        Files.writeString(postgres, "sleep 30\n");
        Process p = new ProcessBuilder("sh", postgres.toString(), "-D", dir.toString()).start();
        try {
            for (int i = 0; i < 100 && !p.info().commandLine().orElse("").contains("postgres"); i++) {
                Thread.sleep(20);
            }
            Path pid = dir.resolve("postmaster.pid");
            Files.writeString(pid, p.pid() + "\n" + dir + "\n");
            Database.removeStaleLockFile(dir);
            assertTrue(Files.exists(pid));
        } finally {
            p.destroyForcibly();
        }
    }
}
