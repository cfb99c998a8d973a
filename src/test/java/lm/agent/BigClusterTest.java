package lm.agent;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * Issue 9, part 9: a pass works on a big site — 150,000 jobs in squeue, 1,000 features on 50
 * license servers, 2,000 nodes — end to end (simulated license servers and Slurm, a real
 * lm-server and PostgreSQL), and still cleans the jobs that ended without their epilog. Not
 * timed: make bench gives the figures.
 */
class BigClusterTest {
    @Test
    void aPassWith150000JobsSucceedsAndCleansEndedJobs() throws Exception {
        try (BigCluster site = new BigCluster()) {
            BigCluster.Pass first = site.pass();
            assertEquals(0, first.exit(), first.log());
            site.bookJobs();
            assertArrayEquals(new long[] {BigCluster.BOOKED, BigCluster.ENDED}, site.jobsInDatabase());

            BigCluster.Pass pass = site.pass();

            assertEquals(0, pass.exit(), pass.log());
            assertEquals(BigCluster.SERVERS * BigCluster.FEATURES, pass.features());
            assertEquals(BigCluster.JOBS, pass.jobs());
            assertTrue(pass.log().contains(BigCluster.ENDED + " ended jobs removed"), pass.log());
            // the ended jobs are gone, every job squeue still lists is kept
            assertArrayEquals(new long[] {BigCluster.BOOKED, 0}, site.jobsInDatabase());
            // far below lm-server's 16 MiB limit, and below the 4 MiB of the other routes even unzipped
            assertTrue(pass.reportKb() < 4 * 1024, pass.log());
            assertTrue(pass.gzippedKb() < 1024, pass.log());
            // the reservation names every license Slurm has
            assertEquals(BigCluster.SERVERS * BigCluster.FEATURES, site.h.reservation().split(",").length);
        }
    }
}
