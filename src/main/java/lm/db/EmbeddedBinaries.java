package lm.db;

import io.zonky.test.db.postgres.embedded.DefaultPostgresBinaryResolver;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import io.zonky.test.db.postgres.embedded.PgBinaryResolver;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.util.EnumSet;
import java.util.Set;
import java.util.stream.Stream;

/**
 * Where the embedded PostgreSQL's programs come from. Zonky unpacks them into
 * {@code $java.io.tmpdir/embedded-pg} (on most hosts /tmp: anyone may create it first), trusts a
 * tree it finds there by a marker file alone, makes the directory world-writable, and removes and
 * stops "stale" data directories it finds beside it: a local user who prepared that tree had the
 * next lm-server run their bin/postgres, as root under `make run`. Here both the unpacked tree and
 * Zonky's scratch directory are in a directory of the owner's alone ({@code state_dir/pgbin},
 * 0700), checked before use; an existing tree there is trusted as the data directory beside it is.
 */
public final class EmbeddedBinaries {
    private static final Set<PosixFilePermission> OWNER_ONLY = PosixFilePermissions.fromString("rwx------");
    private static final Set<PosixFilePermission> GROUP_OTHER = EnumSet.complementOf(EnumSet.of(
            PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_WRITE, PosixFilePermission.OWNER_EXECUTE));
    // The Builder reads its scratch directory from this property when it is constructed.
    private static final String WORKING_DIR_PROPERTY = "ot.epg.working-dir";

    private EmbeddedBinaries() {}

    /**
     * Zonky's builder with its programs and scratch space under {@code dir} (created 0700, or
     * checked: a directory, not a link, of this process's user; its mode is set to 0700).
     */
    public static synchronized EmbeddedPostgres.Builder builder(Path dir) throws IOException {
        Path own = privateDirectory(dir);
        Path work = own.resolve("zonky");
        String before = System.getProperty(WORKING_DIR_PROPERTY);
        EmbeddedPostgres.Builder b;
        try {
            System.setProperty(WORKING_DIR_PROPERTY, work.toString());
            b = EmbeddedPostgres.builder();
        } finally {
            if (before == null) {
                System.clearProperty(WORKING_DIR_PROPERTY);
            } else {
                System.setProperty(WORKING_DIR_PROPERTY, before);
            }
        }
        // A resolver of its own per directory: Zonky caches the unpacked tree per resolver for the
        // JVM's life, and the shared default one would hand back a tree from another directory.
        return b.setOverrideWorkingDirectory(work.toFile()).setPgBinaryResolver(new Resolver(own));
    }

    /**
     * After start: Zonky made its scratch directory world-writable and every program executable
     * by all. Only the owner reaches them (the directory above is 0700), but what state_dir holds
     * is the owner's in its mode too.
     */
    public static void restrict(Path dir) throws IOException {
        try (Stream<Path> all = Files.walk(dir)) {
            for (Path p : all.toList()) {
                PosixFileAttributeView v = Files.getFileAttributeView(p, PosixFileAttributeView.class, LinkOption.NOFOLLOW_LINKS);
                PosixFileAttributes a = v.readAttributes();
                if (!a.isSymbolicLink() && a.permissions().stream().anyMatch(GROUP_OTHER::contains)) {
                    Set<PosixFilePermission> m = EnumSet.noneOf(PosixFilePermission.class);
                    m.addAll(a.permissions());
                    m.removeAll(GROUP_OTHER);
                    v.setPermissions(m);
                }
            }
        }
    }

    private static Path privateDirectory(Path dir) throws IOException {
        Path d = dir.toAbsolutePath();
        if (!Files.exists(d, LinkOption.NOFOLLOW_LINKS)) {
            Files.createDirectories(d.getParent());
            Files.createDirectory(d, PosixFilePermissions.asFileAttribute(OWNER_ONLY));
        }
        PosixFileAttributes a = Files.readAttributes(d, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        UserPrincipal self = d.getFileSystem().getUserPrincipalLookupService().lookupPrincipalByName(System.getProperty("user.name"));
        if (!a.isDirectory() || !a.owner().equals(self)) {
            throw new IOException(d + " must be a directory of " + self.getName() + " (it holds the embedded PostgreSQL's"
                    + " programs); it is " + (a.isSymbolicLink() ? "a symbolic link" : a.isDirectory() ? "owned by "
                    + a.owner().getName() : "not a directory"));
        }
        Files.getFileAttributeView(d, PosixFileAttributeView.class, LinkOption.NOFOLLOW_LINKS).setPermissions(OWNER_ONLY);
        return d;
    }

    /** Zonky's bundled archive, under a key of its own per directory (see {@link #builder}). */
    private record Resolver(Path dir) implements PgBinaryResolver {
        @Override
        public InputStream getPgBinary(String system, String machineHardware) throws IOException {
            return DefaultPostgresBinaryResolver.INSTANCE.getPgBinary(system, machineHardware);
        }
    }
}
