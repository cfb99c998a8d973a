package lm.agent.servers;

import static lm.agent.servers.Fixtures.assertCounts;
import static lm.agent.servers.Fixtures.assertFails;
import static lm.agent.servers.Fixtures.assertUses;
import static lm.agent.servers.Fixtures.feature;
import static lm.agent.servers.Fixtures.names;
import static lm.agent.servers.Fixtures.parse;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

class FlexLmParserTest {
    private static ServerReport flexlm(String path) {
        return parse("flexlm", path);
    }

    private static ServerReport flexlmText(String text) throws BadServerOutputException {
        return Parsers.forType("flexlm").parse(text);
    }

    @Test
    void classicUsageLinesWithCounts() {
        ServerReport report = flexlm("flexlm/flexlm_output.txt");
        assertEquals(List.of("TESTFEATURE"), names(report), "name keeps the server's case");
        FeatureUsage f = feature(report, "testfeature");
        assertCounts(f, 1000, 93);
        assertEquals(0, f.queued());
        assertUses(f, "sdmfva@myserver.example.com 29", "adfdna@myserver.example.com 27",
                "sdmfva@myserver.example.com 37");
    }

    @Test
    void featureTokenIsNotTakenForTheDisplay() {
        ServerReport report = flexlm("flexlm/flexlm_output_2.txt");
        assertEquals(List.of("TEST_FEATURE"), names(report));
        FeatureUsage f = feature(report, "test_feature");
        assertCounts(f, 42800, 1600);
        assertUses(f, "usbn12@p-c94.com 100", "usbn12@p-c94.com 1400", "usbn12@p-c94.com 100");
    }

    @Test
    void usageLinesWithoutCountMeanOneAcrossVersionBlocks() {
        FeatureUsage f = feature(flexlm("flexlm/flexlm_output_3.txt"), "ccmppower");
        assertCounts(f, 40, 3);
        assertUses(f, "1nou7p@dcv033.com 1", "1nou7p@n-c41.com 1", "1nou7p@nid001234 1");
    }

    @Test
    void packageComponentDisplays() {
        ServerReport report = flexlm("flexlm/flexlm_output_4.txt");
        assertEquals(List.of("MSCONE"), names(report), "components are not features of their own");
        FeatureUsage f = feature(report, "mscone");
        assertCounts(f, 750, 18);
        assertUses(f, "abcdkk@ER0037 5", "abcdkk@ER0037 1", "abcdkk@ER0037 5", "abcdkk@ER0037 1",
                "abcdkk@ER0037 5", "abcdkk@ER0037 1");
        assertEquals("ABCDKK", f.checkouts().get(0).user(), "user keeps its case");
    }

    @Test
    void singularLicenseHeader() {
        FeatureUsage f = feature(flexlm("flexlm/flexlm_output_5.txt"), "adamstk_gg_solver");
        assertEquals("ADAMSTK_GG_Solver", f.name());
        assertCounts(f, 6, 1);
        assertUses(f, "fjan1a@dcv055.com 1");
    }

    @Test
    void nothingInUseIsAValidReport() {
        FeatureUsage f = feature(flexlm("flexlm/flexlm_output_no_licenses.txt"), "testfeature");
        assertCounts(f, 1000, 0);
        assertUses(f);
    }

    @Test
    void connectionRefusedIsAFailure() {
        assertFails("flexlm", Fixtures.text("flexlm/flexlm_output_bad.txt"), "connection refused");
    }

    @Test
    void fullLegacyCaptureWithServerStatus() {
        FeatureUsage f = feature(flexlm("flexlm/lmutil.txt"), "abaqus");
        assertCounts(f, 737, 737);
        assertEquals(38, f.checkouts().size());
        assertEquals(737, f.checkouts().stream().mapToLong(Checkout::quantity).sum());
        assertEquals(Set.of("cdxfdn", "jxezha", "jbemfv"),
                f.checkouts().stream().map(Checkout::user).collect(Collectors.toSet()));
        assertTrue(f.checkouts().stream().allMatch(c -> c.host().equals("myserver.example.com")));
        // the key is the "(server/port handle)" and the start time: a checkout's identity (issue 19)
        assertEquals(new Checkout("cdxfdn", "myserver.example.com", 27, "myserver.example.com/24200 12507 Thu 10/29 8:09"),
                f.checkouts().get(0));
        assertEquals("myserver.example.com/24200 12507 Thu 10/29 8:09", f.checkouts().get(37).key());
        assertEquals(38, f.checkouts().get(37).quantity());
    }

    @Test
    void reservationsCountAsUsedLingerIsACheckoutQueuedIsNeither() {
        ServerReport report = flexlm("flexlm/hw_reservation_linger_queued.txt");
        assertEquals(List.of("SolverPro", "SolverPre"), names(report));
        FeatureUsage pro = feature(report, "SolverPro");
        assertCounts(pro, 10, 6);
        assertEquals(5, pro.queued());
        assertUses(pro, "alice@node001.cluster.example.org 2", "bob@node002.cluster.example.org 1",
                "carol@wks07 1");
        FeatureUsage pre = feature(report, "SolverPre");
        assertCounts(pre, 4, 1);
        assertEquals(0, pre.queued());
        assertUses(pre);
    }

    @Test
    void reservationsLeftOutOfTheHeaderStillCountAsUsed() throws BadServerOutputException {
        String text = """
                Users of Solver:  (Total of 10 licenses issued;  Total of 1 license in use)

                    ann n1.example.com /dev/tty (v1.0) (lic1/27000 11), start Wed 6/12 9:00
                    3 RESERVATIONs for GROUP cfd (lic1/27000 12)
                """;
        assertCounts(feature(flexlmText(text), "Solver"), 10, 4);
    }

    @Test
    void fewerLinesThanTheHeaderIsAFailure() {
        // lmstat -a lists every checkout and reservation under the header that counts them: fewer
        // licenses listed than in use means the listing was cut short (issue 9), not a trimmed
        // output to trust. ("..." lines in upstream fixtures are their authors' redactions.)
        String text = """
                Users of Solver:  (Total of 10 licenses issued;  Total of 7 licenses in use)
                ...
                    ann n1.example.com /dev/tty (v1.0) (lic1/27000 11), start Wed 6/12 9:00, 2 licenses
                """;
        assertFails("flexlm", text, "Solver: 7 in use but the listed checkouts add up to 2");
    }

    @Test
    void aCheckoutLineCutBeforeItsCountIsAFailure() {
        // the example: cut before ", 29 licenses", the line reads as one license
        String full = Fixtures.text("flexlm/flexlm_output.txt");
        int at = full.indexOf(", 29 licenses");
        assertFails("flexlm", full.substring(0, at), "TESTFEATURE: 93 in use but the listed checkouts add up to 1");
        // cut inside the time or the count: the line does not parse whole
        assertFails("flexlm", full.substring(0, at - 2), "line does not parse whole");
        assertFails("flexlm", full.substring(0, at + 3), "line does not parse whole");
        String header = full.substring(0, full.indexOf("Users of TESTFEATURE:") + 40);
        assertFails("flexlm", header, "line does not parse whole");
    }

    @Test
    void moreLinesThanTheHeaderKeepTheLargerFigure() throws BadServerOutputException {
        // DUP_GROUP checkouts of one license are listed once per process
        String text = """
                Users of Solver:  (Total of 10 licenses issued;  Total of 1 license in use)
                    ann n1.example.com /dev/tty (v1.0) (lic1/27000 11), start Wed 6/12 9:00
                    ann n1.example.com /dev/tty (v1.0) (lic1/27000 12), start Wed 6/12 9:01
                """;
        assertCounts(feature(flexlmText(text), "Solver"), 10, 2);
    }

    @Test
    void userNamesWithSpacesAreAnchoredOnHostAndDisplay() {
        FeatureUsage f = feature(flexlm("flexlm/hw_user_names_with_spaces.txt"), "CADPro");
        assertCounts(f, 25, 5);
        assertUses(f, "John Smith@wks01 1", "Anna Maria de la Cruz@LAPTOP-7QX2 2",
                "jdoe@node17.hpc.example.edu 1", "svc_cad@wks02 1");
    }

    @Test
    void severalServersInOneDumpAreSummedByFeature() {
        ServerReport report = flexlm("flexlm/hw_multi_server.txt");
        assertEquals(List.of("MeshGen", "Solver", "PostPro"), names(report),
                "the uncounted Viewer has no total to manage");
        FeatureUsage mesh = feature(report, "MeshGen");
        assertCounts(mesh, 10, 4);
        assertUses(mesh, "ann@n01.example.com 3", "ben@n02.example.com 1");
        assertCounts(feature(report, "Solver"), 4, 0);
        assertUses(feature(report, "Solver"));
        FeatureUsage post = feature(report, "PostPro");
        assertCounts(post, 5, 2);
        assertUses(post, "cat@n03.example.com 2");
    }

    @Test
    void latin1UserNamesDecodeAndParse() throws BadServerOutputException {
        byte[] raw = Fixtures.bytes("flexlm/hw_latin1_user.txt");
        FeatureUsage f = feature(flexlmText(Parsers.decode(raw)), "Fluid");
        assertCounts(f, 3, 1);
        assertUses(f, "jürgen@müller-pc 1");
        // A caller that decodes with replacement characters still gets the counts.
        FeatureUsage replaced = feature(flexlmText(new String(raw, StandardCharsets.UTF_8)), "Fluid");
        assertCounts(replaced, 3, 1);
        assertEquals("j\uFFFDrgen", replaced.checkouts().get(0).user());
    }

    @Test
    void windowsLineEndsParseTheSame() throws BadServerOutputException {
        String unix = Fixtures.text("flexlm/flexlm_output_4.txt");
        assertEquals(flexlm("flexlm/flexlm_output_4.txt"), flexlmText(unix.replace("\n", "\r\n")));
    }

    @Test
    void largeTotalsSurvive() throws BadServerOutputException {
        String text = "Users of Big:  (Total of 9000000000 licenses issued;  "
                + "Total of 2147483647 licenses in use)\n"
                + "    ann n1 /dev/tty (v1.0) (lic1/27000 11), start Wed 6/12 9:00, 2147483647 licenses\n";
        assertCounts(feature(flexlmText(text), "Big"), 9_000_000_000L, 2_147_483_647L);
    }

    @Test
    void errorsAndGarbageAreFailures() {
        assertFails("flexlm", "", "empty output");
        assertFails("flexlm", "  \n\n", "empty output");
        assertFails("flexlm", "sh: 1: lmutil: not found\n", "status tool not runnable");
        assertFails("flexlm", "lmgrd is not running: License server machine is down or not responding.\n"
                + "Cannot connect to license server system. (-96,7:2 \"No such file or directory\")\n",
                "cannot connect to license server");
        assertFails("flexlm", "Users of X:  (Error: 2 licenses, unsupported by licensed server)\n",
                "status tool reported an error");
        assertFails("flexlm", "\u0000\u0013PK\u0003\u0004 \u00ff\u00fe garbage (v1) (a/1 2)\n",
                "no feature lines found");
        // A usage line with no header above it has no total to count against.
        assertFails("flexlm",
                "    ann n1 /dev/tty (v1.0) (lic1/27000 11), start Wed 6/12 9:00, 2 licenses\n",
                "no feature lines found");
    }

    @Test
    void crashAfterPartialOutputIsAFailure() {
        String partial = Fixtures.text("flexlm/flexlm_output.txt") + "\nSegmentation fault (core dumped)\n";
        assertFails("flexlm", partial, "tool crashed: Segmentation fault");
    }
}
