package lm.agent;

import java.io.IOException;
import java.io.PrintStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeSet;
import java.util.stream.Collectors;

/**
 * Reads Slurm's licenses and jobs and applies the plan as one LICENSE_ONLY reservation.
 *
 * <p>Slurm 22.05 facts this class is built around (see the project's Slurm notes):
 * {@code licenses=} replaces the whole list; a count above Total or an unknown license is
 * rejected; and after any rejected update the reservation is still listed but silently no
 * longer enforced until the next successful update. So counts are clamped, only licenses Slurm
 * has are named, and a failed update is followed at once by delete + create with the good list.
 */
final class Slurm {
    // slurmctld answers in milliseconds; its own client retries take up to ~MessageTimeout (10 s)
    // twice when it is busy. Longer than that it is down, and the next pass tries again.
    private static final Duration TIMEOUT = Duration.ofSeconds(30);

    record License(String name, long total, long used) {}

    /** One license of the plan: hold {@code count} of it away from this cluster's jobs. */
    record Hold(String license, long count) {}

    private final AgentSettings settings;
    private final Log log;
    private final PrintStream dryRunOut;
    private final Map<String, String> env;
    // wall time spent waiting for scontrol/squeue this pass, for the pass's timing line
    private long nanos;

    Slurm(AgentSettings settings, Log log, PrintStream dryRunOut) {
        this.settings = settings;
        this.log = log;
        this.dryRunOut = dryRunOut;
        this.env = settings.slurmConf() == null ? Map.of() : Map.of("SLURM_CONF", settings.slurmConf());
    }

    /** {@code scontrol -o show lic}, in Slurm's order. */
    List<License> licenses() throws SlurmException {
        List<License> out = new ArrayList<>();
        for (String line : read("scontrol -o show lic", settings.scontrol(), "-o", "show", "lic")) {
            Map<String, String> f = fields(line);
            String name = f.get("LicenseName");
            if (name == null) {
                continue;
            }
            try {
                out.add(new License(name, Long.parseLong(f.get("Total")), Long.parseLong(f.get("Used"))));
            } catch (NumberFormatException | NullPointerException e) {
                throw new SlurmException("scontrol -o show lic: unexpected line: " + LmApi.shorten(line));
            }
        }
        return out;
    }

    /**
     * {@code squeue -h -a -o %A}: the id of every job of every partition. Only which jobs still
     * exist matters to lm-server (it ends the others), so the state is not asked for: at 150,000
     * jobs every byte per job is 150 kB more to read, send and parse.
     */
    List<Long> jobIds() throws SlurmException {
        List<Long> out = new ArrayList<>();
        for (String line : read("squeue", settings.squeue(), "-h", "-a", "-o", "%A")) {
            String l = line.strip();
            if (l.isEmpty()) {
                continue;
            }
            try {
                // Slurm job ids are 32-bit; anything else is not squeue's %A
                if (l.length() > 10 || !l.chars().allMatch(c -> c >= '0' && c <= '9')) {
                    throw new NumberFormatException();
                }
                out.add(Long.parseLong(l));
            } catch (NumberFormatException e) {
                throw new SlurmException("squeue: unexpected line: " + LmApi.shorten(line));
            }
        }
        return out;
    }

    /** A license a pending job asks for: demand of its account (lm-server(8), SHARES). */
    record Pending(long jobId, String account, String license, long quantity) {}

    /**
     * {@code squeue -h -a -t PD -o %A|%a|%W}: the pending jobs with their account and the licenses
     * they request (%W: "a.b@flexlm:2,c.d@rlm", a missing count meaning 1, "(null)" for none).
     * Only the jobs that ask for a license are kept; the controller filters the state, so a
     * 150,000-job cluster's pending list costs what its pending jobs do.
     */
    List<Pending> pending() throws SlurmException {
        List<Pending> out = new ArrayList<>();
        for (String line : read("squeue -t PD", settings.squeue(), "-h", "-a", "-t", "PD", "-o", "%A|%a|%W")) {
            String l = line.strip();
            if (l.isEmpty()) {
                continue;
            }
            String[] f = l.split("\\|", 3);
            if (f.length != 3 || f[0].length() > 10 || f[0].isEmpty() || !f[0].chars().allMatch(c -> c >= '0' && c <= '9')) {
                throw new SlurmException("squeue -t PD: unexpected line: " + LmApi.shorten(line));
            }
            String account = f[1].isEmpty() || f[1].equals("(null)") ? null : f[1];
            if (f[2].isEmpty() || f[2].equals("(null)")) {
                continue;
            }
            for (String item : f[2].split(",")) {
                int colon = item.lastIndexOf(':');
                String name = colon < 0 ? item : item.substring(0, colon);
                long q = 1;
                if (colon >= 0) {
                    try {
                        q = Long.parseLong(item.substring(colon + 1));
                    } catch (NumberFormatException e) {
                        throw new SlurmException("squeue -t PD: unexpected license '" + LmApi.shorten(item) + "'");
                    }
                }
                if (!name.isEmpty() && q > 0) {
                    out.add(new Pending(Long.parseLong(f[0]), account, name, q));
                }
            }
        }
        return out;
    }

    /**
     * {@code scontrol -o show nodes}: the names the cluster's hosts go by, short and lowercase,
     * sorted: each node's NodeName and its NodeHostName (what a license server sees when they
     * differ). lm-server matches checkouts against these hosts only, so a user's checkout on
     * another cluster's node01 does not release a booking here.
     */
    List<String> nodes() throws SlurmException {
        List<String> lines = read("scontrol -o show nodes", settings.scontrol(), "-o", "show", "nodes");
        TreeSet<String> names = new TreeSet<>();
        for (String line : lines) {
            // One node per line, NodeName= first (22.05's slurm_sprint_node_table); the free
            // text of Reason= and Comment= comes after NodeHostName=, so the first of a key is
            // Slurm's own. A line not starting so is the rest of a multi-line Comment=.
            if (!line.startsWith("NodeName=")) {
                continue;
            }
            Map<String, String> f = fields(line);
            names.add(shortName(f.get("NodeName")));
            String host = f.get("NodeHostName");
            if (host != null && !host.isEmpty() && !host.equals("(null)")) {
                names.add(shortName(host));
            }
        }
        names.remove("");
        if (names.isEmpty()) {
            throw new SlurmException("scontrol -o show nodes: no NodeName= line in " + LmApi.shorten(String.join("\n", lines)));
        }
        return List.copyOf(names);
    }

    private static String shortName(String host) {
        int dot = host.indexOf('.');
        return (dot < 0 ? host : host.substring(0, dot)).toLowerCase(Locale.ROOT);
    }

    /**
     * Makes the reservation hold exactly {@code plan} (licenses Slurm doesn't have are left out,
     * counts clamped to 0..Total), or deletes it when nothing is to be held.
     */
    void apply(List<Hold> plan, List<License> slurmLicenses) throws SlurmException {
        Map<String, Long> totals = new LinkedHashMap<>();
        slurmLicenses.forEach(l -> totals.put(l.name(), l.total()));
        List<Hold> holds = new ArrayList<>();
        for (Hold h : plan) {
            Long total = totals.get(h.license());
            if (total == null) {
                log.line("license " + h.license() + ": not in Slurm (scontrol show lic), left out of the reservation");
                continue;
            }
            long count = Math.max(0, Math.min(h.count(), total));
            if (count != h.count()) {
                log.line("license " + h.license() + ": planned " + h.count() + " clamped to " + count + " (Total=" + total + ")");
            }
            holds.add(new Hold(h.license(), count));
        }
        String name = settings.reservationName();
        boolean nothingToHold = holds.stream().allMatch(h -> h.count() == 0);
        boolean exists = reservationExists();
        if (nothingToHold) {
            if (exists) {
                change(List.of(settings.scontrol(), "delete", "reservation", name), "delete");
                log.line("reservation " + name + ": deleted, nothing to hold" + dry());
            }
            return;
        }
        // Zeros stay in the list: licenses= replaces the whole list, and naming every planned
        // license keeps what Slurm shows complete.
        String licenses = holds.stream().map(h -> h.license() + ":" + h.count()).collect(Collectors.joining(","));
        if (!exists) {
            create(licenses);
            return;
        }
        // endtime, not duration: an updated Duration counts from the reservation's first start
        // time (22.05 kept EndTime when duration=30 was re-applied a minute later), so only
        // endtime=now+N moves the end and lets the hold lapse N minutes after the last pass.
        List<String> update = List.of(settings.scontrol(), "update", "ReservationName=" + name,
                "licenses=" + licenses, "endtime=now+" + settings.reservationDuration() + "minutes");
        Exec.Result r = runChange(update);
        if (r == null || r.exitCode() == 0) {
            log.line("reservation " + name + ": updated licenses=" + licenses + dry());
            return;
        }
        // 22.05 stops enforcing the reservation after a rejected update; a fresh one is enforced.
        log.line("reservation " + name + ": update failed (exit " + r.exitCode() + ": " + r.firstLine()
                + "); Slurm 22.05 stops enforcing it after a failed update, so deleting and re-creating it");
        Exec.Result d = runChange(List.of(settings.scontrol(), "delete", "reservation", name));
        if (d.exitCode() != 0) {
            log.line("reservation " + name + ": delete failed (exit " + d.exitCode() + ": " + d.firstLine() + ")");
        }
        create(licenses);
    }

    private void create(String licenses) throws SlurmException {
        String name = settings.reservationName();
        change(List.of(settings.scontrol(), "create", "reservation", "ReservationName=" + name,
                "licenses=" + licenses, "starttime=now", "duration=" + settings.reservationDuration(),
                "flags=LICENSE_ONLY", "user=" + settings.reservationUser()), "create");
        log.line("reservation " + name + ": created licenses=" + licenses + dry());
    }

    private String dry() {
        return settings.dryRun() ? " (dry run: printed, not run)" : "";
    }

    /** {@code scontrol show reservation NAME}: exit 1 with "not found" means there is none. */
    boolean reservationExists() throws SlurmException {
        String name = settings.reservationName();
        Exec.Result r = run(List.of(settings.scontrol(), "show", "reservation", name));
        if (r.exitCode() == 0 && r.out().contains("ReservationName=" + name)) {
            return true;
        }
        String text = r.out() + r.stderr();
        if (text.contains("not found")) {
            return false;
        }
        throw new SlurmException("scontrol show reservation " + name + ": exit " + r.exitCode() + ": " + r.firstLine());
    }

    private void change(List<String> argv, String what) throws SlurmException {
        Exec.Result r = runChange(argv);
        if (r != null && r.exitCode() != 0) {
            throw new SlurmException("reservation " + settings.reservationName() + ": " + what + " failed (exit "
                    + r.exitCode() + ": " + r.firstLine() + ")");
        }
    }

    /** Runs a command that changes Slurm, or prints it under dry_run (then returns null). */
    private Exec.Result runChange(List<String> argv) throws SlurmException {
        if (settings.dryRun()) {
            dryRunOut.println(String.join(" ", argv));
            dryRunOut.flush();
            return null;
        }
        return run(argv);
    }

    /** Wall time this pass spent in scontrol and squeue, in nanoseconds. */
    long nanos() {
        return nanos;
    }

    /** The output lines of a command that only reads; a non-zero exit is an error named {@code what}. */
    private List<String> read(String what, String... argv) throws SlurmException {
        Exec.Result r = run(List.of(argv));
        if (r.exitCode() != 0) {
            throw new SlurmException(what + ": exit " + r.exitCode() + ": " + r.firstLine());
        }
        return r.out().lines().toList();
    }

    private Exec.Result run(List<String> argv) throws SlurmException {
        Exec.Result r;
        long start = System.nanoTime();
        try {
            r = Exec.run(argv, null, env, TIMEOUT);
        } catch (IOException e) {
            throw new SlurmException("cannot run " + argv.get(0) + ": " + e.getMessage());
        } finally {
            nanos += System.nanoTime() - start;
        }
        if (r.timedOut()) {
            throw new SlurmException(String.join(" ", argv.subList(0, Math.min(3, argv.size())))
                    + ": no answer within " + TIMEOUT.toSeconds() + "s");
        }
        return r;
    }

    /** KEY=VALUE words of a one-line scontrol record; the first of a key wins (see nodes()). */
    private static Map<String, String> fields(String line) {
        Map<String, String> f = new LinkedHashMap<>();
        for (String word : line.strip().split("\\s+")) {
            int eq = word.indexOf('=');
            if (eq > 0) {
                f.putIfAbsent(word.substring(0, eq), word.substring(eq + 1));
            }
        }
        return f;
    }
}
