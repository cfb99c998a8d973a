package lm.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The reservation rules on the fake scontrol, without lm-server: what Slurm 22.05 needs. */
class SlurmTest {
    @TempDir
    Path dir;

    private Slurm slurm;
    private final ByteArrayOutputStream err = new ByteArrayOutputStream();

    @BeforeEach
    void setUp() throws Exception {
        for (String s : List.of("fake-scontrol", "fake-squeue")) {
            Files.copy(AgentHarness.SIMULATOR.resolve(s), dir.resolve(s), StandardCopyOption.COPY_ATTRIBUTES);
        }
        Files.writeString(dir.resolve("lic.txt"),
                "LicenseName=a.a@flexlm Total=10 Used=2 Free=8 Reserved=0 Remote=no\n"
                        + "LicenseName=b.b@rlm Total=5 Used=0 Free=5 Reserved=0 Remote=no\n");
        Files.writeString(dir.resolve("squeue.txt"), "7\n8\n");
        Files.writeString(dir.resolve("nodes.txt"), AgentHarness.nodeLine("Node01", "node01.example.org")
                + AgentHarness.nodeLine("gpu7", "gpu-host7") + AgentHarness.nodeLine("node02", "node02"));
        Path conf = dir.resolve("agent.conf");
        Files.writeString(conf, "scontrol = " + dir.resolve("fake-scontrol") + "\nsqueue = " + dir.resolve("fake-squeue")
                + "\nreservation_name = hold\nreservation_user = nobody\nreservation_duration = 5\n");
        AgentSettings s = AgentSettings.load(conf, Map.of());
        slurm = new Slurm(s, new Log(new PrintStream(err, true, StandardCharsets.UTF_8)), System.out);
    }

    private List<String> changes() throws Exception {
        return Files.readAllLines(dir.resolve("calls.log")).stream()
                .filter(c -> c.startsWith("create") || c.startsWith("update") || c.startsWith("delete")).toList();
    }

    @Test
    void readsLicensesJobsAndNodes() throws Exception {
        assertEquals(List.of(new Slurm.License("a.a@flexlm", 10, 2), new Slurm.License("b.b@rlm", 5, 0)), slurm.licenses());
        assertEquals(List.of(7L, 8L), slurm.jobIds());
        // NodeName and NodeHostName, short and lowercase, sorted; the Reason's "NodeName=other" is not a node
        assertEquals(List.of("gpu-host7", "gpu7", "node01", "node02"), slurm.nodes());
    }

    @Test
    void squeueLinesThatAreNotJobIdsAreAnError() throws Exception {
        Files.writeString(dir.resolve("squeue.txt"), "7\n8|RUNNING\n");
        SlurmException e = assertThrows(SlurmException.class, slurm::jobIds);
        assertTrue(e.getMessage().contains("unexpected line: 8|RUNNING"), e.getMessage());
    }

    @Test
    void noNodesIsAnErrorNotAnEmptyCluster() throws Exception {
        // an empty list would make lm-server match no checkout at all
        Files.writeString(dir.resolve("nodes.txt"), "");
        SlurmException e = assertThrows(SlurmException.class, slurm::nodes);
        assertTrue(e.getMessage().contains("no NodeName= line"), e.getMessage());
    }

    @Test
    void countsAreClampedAndUnknownLicensesLeftOut() throws Exception {
        slurm.apply(List.of(new Slurm.Hold("a.a@flexlm", 12), new Slurm.Hold("b.b@rlm", -1), new Slurm.Hold("gone.x@flexlm", 3)),
                slurm.licenses());

        assertEquals(List.of("create reservation ReservationName=hold licenses=a.a@flexlm:10,b.b@rlm:0 starttime=now"
                + " duration=5 flags=LICENSE_ONLY user=nobody"), changes());
        String log = err.toString(StandardCharsets.UTF_8);
        assertTrue(log.contains("license gone.x@flexlm: not in Slurm"), log);
        assertTrue(log.contains("license a.a@flexlm: planned 12 clamped to 10 (Total=10)"), log);
    }

    @Test
    void anUpdateThatFailsTwiceIsExit4Material() throws Exception {
        slurm.apply(List.of(new Slurm.Hold("a.a@flexlm", 1)), slurm.licenses());
        Files.writeString(dir.resolve("fail_update"), "");
        // the re-create fails too: Slurm lost the license meanwhile
        List<Slurm.License> stale = slurm.licenses();
        Files.writeString(dir.resolve("lic.txt"), "LicenseName=b.b@rlm Total=5 Used=0 Free=5 Reserved=0 Remote=no\n");

        SlurmException e = assertThrows(SlurmException.class, () -> slurm.apply(List.of(new Slurm.Hold("a.a@flexlm", 2)), stale));

        assertTrue(e.getMessage().contains("create failed"), e.getMessage());
        assertEquals(List.of(
                "create reservation ReservationName=hold licenses=a.a@flexlm:1 starttime=now duration=5 flags=LICENSE_ONLY user=nobody",
                "update ReservationName=hold licenses=a.a@flexlm:2 endtime=now+5minutes",
                "delete reservation hold",
                "create reservation ReservationName=hold licenses=a.a@flexlm:2 starttime=now duration=5 flags=LICENSE_ONLY user=nobody"),
                changes());
    }

    @Test
    void anEmptyPlanDeletesOnlyAnExistingReservation() throws Exception {
        slurm.apply(List.of(), slurm.licenses());
        slurm.apply(List.of(new Slurm.Hold("a.a@flexlm", 3)), slurm.licenses());
        slurm.apply(List.of(new Slurm.Hold("a.a@flexlm", 0)), slurm.licenses());
        assertEquals(List.of(
                "create reservation ReservationName=hold licenses=a.a@flexlm:3 starttime=now duration=5 flags=LICENSE_ONLY user=nobody",
                "delete reservation hold"), changes());
    }

    @Test
    void badSqueueOutputIsAnError() throws Exception {
        Files.writeString(dir.resolve("squeue.txt"), "squeue: error: something\n");
        assertThrows(SlurmException.class, slurm::jobIds);
    }
}
